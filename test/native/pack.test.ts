import { execFileSync, spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { REPO, tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

// The package as a user gets it: `npm pack`, installed into an empty folder offline (from npm's
// cache, as after `npm ci`) with no compiler, no make and no python on PATH, then used; and
// installed globally, as the README says to put the CLI on PATH. The tarball is packed from a
// staging copy of what package.json's `files` lists, with the addon prebuilt there (as `npm
// pack`'s prepack does), so that no build of this test touches the repository's build/ and dist/
// while other tests use them.

let dir: { path: string; cleanup: () => void }
let tarball: string
let noCompilerPath: string
const FALLBACK = /no native addon for linux-x64/

interface LockEntry {
  version?: string
  dev?: boolean
  [field: string]: unknown
}

/**
 * A lockfile for an app that depends on the tarball alone: the project's own lockfile, without
 * what only its development needs. `npm ci` installs from it exactly the versions this
 * repository is tested with, from their tarballs in npm's cache: no registry metadata needed.
 */
function appLockfile(spec: string): object {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>
  }
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: { driftwatch: spec } },
    'node_modules/driftwatch': {
      version: pkg.version,
      resolved: spec,
      hasInstallScript: true,
      license: pkg.license,
      dependencies: pkg.dependencies,
      bin: pkg.bin,
      engines: pkg.engines,
    },
  }
  for (const [path, entry] of Object.entries(lock.packages)) if (path && !entry.dev) packages[path] = entry
  return { name: 'app', lockfileVersion: 3, requires: true, packages }
}

/** The version the project's lockfile installs of a package it depends on. */
function lockedVersion(name: string): string | undefined {
  const lock = JSON.parse(readFileSync(join(REPO, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, LockEntry>
  }
  return lock.packages[`node_modules/${name}`]?.version
}

function installedVersion(dir: string, name: string): string {
  return (JSON.parse(readFileSync(join(dir, name, 'package.json'), 'utf8')) as { version: string }).version
}

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
// Two installed trees to remove: on a busy machine that takes longer than the default minute.
afterAll(() => dir?.cleanup(), 300_000)

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
    const spec = `file:${relative(app, tarball)}`
    writeFileSync(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'app', private: true, dependencies: { driftwatch: spec } })}\n`,
    )
    writeFileSync(join(app, 'package-lock.json'), `${JSON.stringify(appLockfile(spec), null, 2)}\n`)
    // Dependencies' own install scripts (better-sqlite3 would fetch a binary from GitHub) are
    // not run; driftwatch's is, by the rebuild below, exactly as an install runs it.
    const install = run('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], app)
    expect(install.code, install.stderr).toBe(0)
    expect(installedVersion(join(app, 'node_modules'), 'cookie')).toBe(lockedVersion('cookie'))
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

  // A global install resolves every range afresh from the registry: npm ignores a package's
  // lockfile and its `overrides` then. What keeps the tree on Node 20.18 must be in the package's
  // own dependencies (light-my-request, pinned: its next minor needs cookie 2, which needs Node 22).
  test('installs globally into a prefix under engine-strict, with no EBADENGINE, and runs', (context) => {
    const prefix = join(dir.path, 'global')
    const install = run(
      'npm',
      [
        'install',
        '--global',
        '--prefix',
        prefix,
        '--engine-strict',
        '--prefer-offline',
        '--ignore-scripts',
      ].concat(['--no-audit', '--no-fund', tarball]),
      dir.path,
    )
    const offline = /ENOTCACHED|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT/.exec(install.stderr)
    if (install.code !== 0 && offline && process.env.DRIFTWATCH_REQUIRE_INTEGRATION !== '1') {
      context.skip(`the npm registry is out of reach (${offline[0]}); a global install needs its metadata`)
    }
    expect(install.stderr).not.toMatch(/EBADENGINE|notsup/)
    expect(install.code, install.stderr).toBe(0)
    const modules = join(prefix, 'lib', 'node_modules', 'driftwatch', 'node_modules')
    expect(installedVersion(modules, 'light-my-request')).toBe(lockedVersion('light-my-request'))
    expect(installedVersion(modules, 'cookie')).toBe(lockedVersion('cookie'))
    const version = run(join(prefix, 'bin', 'driftwatch'), ['--version'], dir.path)
    expect(version.code, version.stderr).toBe(0)
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/)
  }, 600_000)
})
