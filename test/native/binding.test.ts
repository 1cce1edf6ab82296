import { execFileSync } from 'node:child_process'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CAPS_PER_FILE, DIGEST_BYTES, ST, STAT_FIELDS } from '../../src/native/constants.js'
import { chooseBinding, type FsProbeBinding } from '../../src/native/fsprobe.js'
import { jsBinding } from '../../src/native/fsprobe-js.js'
import { REPO, tempDir } from '../helpers/cli.js'

// The JavaScript binding serves the addon's interface where no addon loads: on the same tree
// it must give the same answers, field for field (named by the generated constants).

let dir: { path: string; cleanup: () => void }
let native: FsProbeBinding
beforeAll(() => {
  dir = tempDir()
  const choice = chooseBinding({})
  if (!choice.native) throw new Error(`the native addon does not load here: ${choice.reason}`)
  native = choice.binding
  const d = join(dir.path, 'tree')
  mkdirSync(join(d, 'sub'), { recursive: true })
  writeFileSync(join(d, 'small'), 'x')
  writeFileSync(join(d, 'large'), Buffer.alloc(300_000, 7))
  writeFileSync(join(d, Buffer.from('caf\xe9', 'latin1').toString('latin1')), 'latin1 name')
  writeFileSync(Buffer.concat([Buffer.from(`${d}/raw-`), Buffer.from([0xff, 0xfe])]), 'not utf-8')
  symlinkSync('small', join(d, 'link'))
  execFileSync('mkfifo', [join(d, 'fifo')])
})
afterAll(() => dir.cleanup())

describe('the JavaScript binding answers as the addon does', () => {
  test('generated constants: constants.h and constants.ts are what constants.json says', () => {
    execFileSync(process.execPath, [join(REPO, 'src/native/generate-constants.mjs'), '--check'])
  })

  test('scanDir: the same names (as bytes) and the same stats, lazily or not (in any order)', () => {
    const tree = join(dir.path, 'tree')
    /** Each name (hex of its bytes) with its stat. */
    const listing = ([names, stats]: [Buffer, Float64Array]) => {
      const out: Record<string, number[]> = {}
      let k = 0
      for (let at = 0; at < names.length; at = names.indexOf(0, at) + 1, k++)
        out[names.toString('hex', at, names.indexOf(0, at))] = [
          ...stats.subarray(k * STAT_FIELDS, (k + 1) * STAT_FIELDS),
        ]
      return out
    }
    for (const lazy of [false, true]) {
      const expected = listing(native.scanDir(tree, lazy))
      expect(Object.keys(expected)).toHaveLength(7)
      expect(listing(jsBinding.scanDir(tree, lazy))).toEqual(expected)
    }
  })

  test('lstat and hashFiles: the same stat, status and digest for every kind of entry', () => {
    const tree = join(dir.path, 'tree')
    const [names, stats] = native.scanDir(tree)
    const starts: number[] = []
    for (let at = 0; at < names.length; at = names.indexOf(0, at) + 1) starts.push(at)
    const run = (binding: FsProbeBinding) => {
      const n = starts.length
      const status = new Int32Array(n)
      const out = new Float64Array(n * STAT_FIELDS)
      const digests = Buffer.alloc(n * DIGEST_BYTES)
      binding.hashFiles(
        tree,
        names,
        Int32Array.from(starts),
        new Uint8Array(n),
        status,
        out,
        digests,
        Buffer.alloc(n * CAPS_PER_FILE),
      )
      return { status: [...status], stats: [...out], digests: digests.toString('hex') }
    }
    expect(run(jsBinding)).toEqual(run(native))
    const one = new Float64Array(STAT_FIELDS)
    const other = new Float64Array(STAT_FIELDS)
    for (const name of ['small', 'link', 'sub', 'fifo', 'missing']) {
      expect(jsBinding.lstat(join(tree, name), one), name).toBe(native.lstat(join(tree, name), other))
      expect([...one], name).toEqual([...other])
    }
    expect(stats[ST.errno]).toBe(0)
  })

  test('a directory that is gone, or a symlink to one: both throw', () => {
    const tree = join(dir.path, 'tree')
    for (const binding of [native, jsBinding]) {
      expect(() => binding.scanDir(join(tree, 'gone'))).toThrow()
      expect(() => binding.scanDir(join(tree, 'link'))).toThrow()
    }
  })
})
