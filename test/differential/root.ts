import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

/*
 * Differential tests build a small root in a temporary folder, run the tool that defines the
 * truth against it (systemctl, sshd, systemd-analyze, glibc) and compare its answer, key by key,
 * with the probe's. The tools come from Debian's packages (.ci/run installs them).
 */

/** A root under construction: paths are absolute inside it. */
export interface TestRoot {
  path: string
  file(path: string, text: string): TestRoot
  link(path: string, target: string): TestRoot
  dir(path: string): TestRoot
  cleanup(): void
}

export function makeRoot(prefix = 'driftwatch-differential-'): TestRoot {
  const path = mkdtempSync(join(tmpdir(), prefix))
  const inside = (p: string) => join(path, p)
  const root: TestRoot = {
    path,
    file(p, text) {
      mkdirSync(dirname(inside(p)), { recursive: true })
      writeFileSync(inside(p), text)
      return root
    },
    link(p, target) {
      mkdirSync(dirname(inside(p)), { recursive: true })
      symlinkSync(target, inside(p))
      return root
    },
    dir(p) {
      mkdirSync(inside(p), { recursive: true })
      return root
    },
    cleanup() {
      rmSync(path, { recursive: true, force: true })
    },
  }
  return root
}

/** What a tool printed and how it exited. */
export interface ToolResult {
  status: number | null
  stdout: string
  stderr: string
}

/** Runs a tool to its end without a shell; never throws for a non-zero exit (the exit is an answer too). */
export function runTool(command: string, args: string[], options: { input?: string } = {}): ToolResult {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    env: { ...process.env, SYSTEMD_PAGER: '', SYSTEMD_COLORS: '0', LC_ALL: 'C' },
    ...(options.input !== undefined ? { input: options.input } : {}),
  })
  if (result.error) throw result.error
  return { status: result.status, stdout: result.stdout, stderr: result.stderr }
}
