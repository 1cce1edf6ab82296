import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { REPO, tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

// The package as a user gets it: `npm pack`, installed into an empty folder offline (from npm's
// cache, as after `npm ci`) with no compiler, no make and no python on PATH, then used. The
// tarball is packed from a staging copy of what package.json's `files` lists, with the addon
// prebuilt there (as `npm pack`'s prepack does), so that no build of this test touches the
// repository's build/ and dist/ while other tests use them.

let dir: { path: string; cleanup: () => void }
let tarball: string
let noCompilerPath: string
const FALLBACK = /no native addon for linux-x64/

function run(command: string, args: string[], cwd: string, env: Record<string, string> = {}) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { HOME: process.env.HOME ?? '/root', NO_COLOR: '1', PATH: noCompilerPath, ...env },
    timeout: 240_000,
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

beforeAll(() => {
  dir = tempDir('driftwatch-pack-')
  const stage = join(dir.path, 'stage')
  mkdirSync(stage)
  for (const part of ['package.json', 'README.md', 'LICENSE', 'bin', 'dist', 'config', 'binding.gyp'])
    cpSync(join(REPO, part), join(stage, part), { recursive: true })
  mkdirSync(join(stage, 'src', 'native'), { recursive: true })
  for (const file of ['fsprobe.c', 'constants.h'])
    cpSync(join(REPO, 'src', 'native', file), join(stage, 'src', 'native', file))
  const nodedir = execFileSync('npm', ['config', 'get', 'nodedir'], { encoding: 'utf8' }).trim()
  execFileSync(join(REPO, 'node_modules', '.bin', 'prebuildify'), ['--napi', '--strip', '--tag-libc'], {
    cwd: stage,
    stdio: 'ignore',
    env: { ...process.env, ...(nodedir && nodedir !== 'undefined' ? { npm_config_nodedir: nodedir } : {}) },
  })
  const packed = execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir.path], {
    cwd: stage,
    encoding: 'utf8',
  })
  tarball = join(dir.path, (JSON.parse(packed) as { filename: string }[])[0]?.filename as string)
  // A PATH with node, npm and the shell npm runs scripts with: no cc, gcc, g++, make or
  // python3 to build anything with.
  const bin = join(dir.path, 'bin')
  mkdirSync(bin)
  symlinkSync(process.execPath, join(bin, 'node'))
  symlinkSync('/bin/sh', join(bin, 'sh'))
  symlinkSync(
    realpathSync(execFileSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).trim()),
    join(bin, 'npm'),
  )
  noCompilerPath = bin
}, 600_000)
afterAll(() => dir?.cleanup())

describe('the packed package', () => {
  test('ships the addon prebuilt for linux-x64 glibc, what it takes to build one, and the LICENSE', () => {
    const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n')
    expect(listing).toEqual(
      expect.arrayContaining([
        'package/LICENSE',
        'package/binding.gyp',
        'package/src/native/fsprobe.c',
        'package/src/native/constants.h',
        'package/prebuilds/linux-x64/driftwatch.glibc.node',
        'package/dist/native/fsprobe-js.js',
        'package/bin/driftwatch.js',
      ]),
    )
    expect(listing.filter((f) => f.startsWith('package/test/'))).toEqual([])
  })

  test('installs offline with no compiler, and keygen, capture, verify and scan work from it', () => {
    expect(run('/bin/sh', ['-c', 'command -v gcc cc g++ make python3 || true'], dir.path).stdout).toBe('')
    const app = join(dir.path, 'app')
    mkdirSync(app)
    writeFileSync(join(app, 'package.json'), '{"name":"app","private":true}\n')
    // Dependencies' own install scripts (better-sqlite3 would fetch a binary from GitHub) are
    // not run; driftwatch's is, by the rebuild below, exactly as an install runs it.
    // `npm ci` fetches only the tarballs its lockfile names, not the registry metadata npm needs
    // to resolve a range: protobufjs (under the OTLP exporters) asks for @types/node >=13.7.0,
    // which the offline install cannot resolve from the cache alone (ENOTCACHED). Then the
    // install prefers the cache and asks the npm registry, the one network CI has, for the rest.
    const args = ['install', '--ignore-scripts', '--no-audit', '--no-fund', tarball]
    let install = run('npm', [...args, '--offline'], app)
    if (install.code !== 0 && /ENOTCACHED/.test(install.stderr))
      install = run('npm', [...args, '--prefer-offline'], app)
    expect(install.code, install.stderr).toBe(0)
    const rebuild = run('npm', ['rebuild', 'driftwatch', '--offline', '--foreground-scripts'], app)
    expect(rebuild.code, rebuild.stderr).toBe(0)
    expect(rebuild.stderr).not.toMatch(/no native addon could be built/)

    const cli = join(app, 'node_modules', '.bin', 'driftwatch')
    const root = join(dir.path, 'root')
    buildImageRoot(root)
    const key = join(dir.path, 'image')
    const manifest = join(dir.path, 'image.json.gz')
    const steps = [
      run(cli, ['keygen', '--out', key], app),
      run(
        cli,
        [
          'manifest',
          'capture',
          '--image',
          'web@1',
          '--root',
          root,
          '--out',
          manifest,
          '--sign',
          `${key}.key`,
        ],
        app,
      ),
      run(cli, ['manifest', 'verify', manifest, '--key', `${key}.pub`], app),
      run(cli, ['scan', '--manifest', manifest, '--root', root, '--key', `${key}.pub`], app),
    ]
    for (const step of steps) {
      expect(step.code, step.stderr).toBe(0)
      expect(step.stderr).not.toMatch(FALLBACK)
    }
    expect(steps[3]?.stdout).toMatch(/no drift/)

    // Where no addon fits (here: the prebuild removed, and nothing to compile one with), the
    // install still succeeds, and the same commands are served in JavaScript, said once.
    rmSync(join(app, 'node_modules', 'driftwatch', 'prebuilds'), { recursive: true })
    const fallback = run('npm', ['rebuild', 'driftwatch', '--offline', '--foreground-scripts'], app)
    expect(fallback.code, fallback.stderr).toBe(0)
    expect(fallback.stderr).toMatch(/no native addon could be built here; the JavaScript fallback serves/)
    const scan = run(cli, ['scan', '--manifest', manifest, '--root', root, '--key', `${key}.pub`], app)
    expect(scan.code, scan.stderr).toBe(0)
    expect(scan.stderr.match(FALLBACK)).toHaveLength(1)
    expect(scan.stdout).toMatch(/no drift/)
  }, 600_000)
})
