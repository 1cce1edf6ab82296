import { randomUUID } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { DriftwatchError, errnoCode } from '../errors.js'
import { writeFileAtomic } from '../util/atomic.js'

/** The host as the agent names it to the collector. */
export interface HostName {
  id: string
  hostname: string
}

const HOST_ID_FILE = 'host-id'
const TOKEN_FILE = 'token'

/**
 * Makes the state directory (0700) and checks that the agent can write there: the token, the
 * spool and the scan cache live in it, and an agent that cannot keep them must say so at
 * start, once, rather than lose reports later.
 */
export function prepareStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const probe = join(dir, `.write-check.${process.pid}`)
    closeSync(openSync(probe, 'w', 0o600))
    unlinkSync(probe)
  } catch (error) {
    const code = errnoCode(error)
    throw new DriftwatchError(
      'IO',
      `stateDir ${dir}: cannot write there (${code === 'ENOSPC' ? 'the disk is full' : (code ?? String(error))})`,
      {
        hint: 'stateDir in agent.yaml must be a directory the agent can write (systemd: StateDirectory=driftwatch)',
        cause: error,
      },
    )
  }
}

/**
 * The host's id: `hostId` from agent.yaml when set, else the machine id inside the root
 * (/etc/machine-id, as systemd keeps it for the host's life), else an id made once and kept
 * in the state directory, so that it is stable across restarts whatever the host lacks.
 */
export function hostName(options: { rootDir: string; stateDir: string; hostId?: string }): HostName {
  const read = (file: string) => {
    try {
      return readFileSync(file, 'utf8').trim()
    } catch {
      return ''
    }
  }
  const name =
    (options.rootDir === '/' ? hostname() : read(join(options.rootDir, 'etc/hostname'))) || hostname()
  if (options.hostId) return { id: options.hostId, hostname: name }
  const machineId =
    read(join(options.rootDir, 'etc/machine-id')) || read(join(options.rootDir, 'var/lib/dbus/machine-id'))
  // "uninitialized" is what an image holds before first boot (machine-id(5)).
  if (/^[0-9a-f]{32}$/.test(machineId)) return { id: machineId, hostname: name }
  const kept = read(join(options.stateDir, HOST_ID_FILE))
  if (/^[A-Za-z0-9._:@-]{1,256}$/.test(kept)) return { id: kept, hostname: name }
  const made = `agent:${randomUUID()}`
  writeFileAtomic(join(options.stateDir, HOST_ID_FILE), `${made}\n`, 0o600)
  return { id: made, hostname: name }
}

/** The host token the collector gave at enrolment, and for whom and where it holds. */
export interface StoredToken {
  hostId: string
  collector: string
  token: string
  enrolledAt: string
}

/** The token in the state directory (mode 0600), if it was given to this host by this collector. */
export function readToken(
  stateDir: string,
  expect: { hostId: string; collector: string },
): string | undefined {
  let stored: Partial<StoredToken>
  try {
    stored = JSON.parse(readFileSync(join(stateDir, TOKEN_FILE), 'utf8')) as Partial<StoredToken>
  } catch {
    return undefined
  }
  if (stored.hostId !== expect.hostId || stored.collector !== expect.collector) return undefined
  return typeof stored.token === 'string' && stored.token.length > 0 ? stored.token : undefined
}

export function writeToken(stateDir: string, stored: StoredToken): void {
  const file = join(stateDir, TOKEN_FILE)
  writeFileAtomic(file, `${JSON.stringify(stored)}\n`, 0o600)
}

/** Forgets a token the collector no longer knows. */
export function forgetToken(stateDir: string): void {
  try {
    unlinkSync(join(stateDir, TOKEN_FILE))
  } catch {}
}
