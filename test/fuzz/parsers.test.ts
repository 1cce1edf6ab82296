import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, describe, expect, test } from 'vitest'
import { DriftwatchError } from '../../src/errors.js'
import { fromCycloneDx } from '../../src/import/cyclonedx.js'
import { fromGoss } from '../../src/import/goss.js'
import { parsePurl } from '../../src/import/purl.js'
import { parseGroup, parsePasswd, parseShadow } from '../../src/probes/accounts.js'
import { parseApkInstalled } from '../../src/probes/packages/apk.js'
import {
  parseConffileEntries,
  parseDpkgDiversions,
  parseDpkgEntries,
  parseDpkgList,
  parseDpkgStatus,
  parseMd5sums,
} from '../../src/probes/packages/dpkg/parse.js'
import { readRpmHeaders } from '../../src/probes/packages/rpm/database.js'
import { parseRpmHeader } from '../../src/probes/packages/rpm/header.js'
import { parseSshdConfig } from '../../src/probes/sshd.js'
import { parseSysctlConf } from '../../src/probes/sysctl.js'

/*
 * Bounded fuzzing of the parsers that read what a host or a file gives them: arbitrary bytes and
 * mutations of the real fixtures (seeded, so a failure replays) must end in a result or a
 * DriftwatchError, never another exception. A hang shows as the test's timeout. FUZZ_RUNS raises
 * the count per parser (default 300), FUZZ_SEED changes the seed.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 300)
const SEED = Number(process.env.FUZZ_SEED ?? 20261203)
const fixture = (path: string) => fileURLToPath(new URL(`../fixtures/${path}`, import.meta.url))

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Bytes that matter to these formats: separators, quotes, YAML and JSON punctuation, NUL, high bytes. */
const INTERESTING = Buffer.from(':\n \t#=,"\'{}[]-*&<>|\\\0\xff\x80@?%/')

function mutate(input: Buffer, next: () => number): Buffer {
  const pick = (n: number) => Math.floor(next() * n)
  let out = Buffer.from(input)
  for (let round = 1 + pick(4); round > 0; round--) {
    const at = pick(out.length + 1)
    switch (pick(7)) {
      case 0: // flip a byte
        if (out.length) out[Math.min(at, out.length - 1)] = pick(256)
        break
      case 1: // insert an interesting byte
        out = Buffer.concat([
          out.subarray(0, at),
          INTERESTING.subarray(pick(INTERESTING.length)).subarray(0, 1),
          out.subarray(at),
        ])
        break
      case 2: // delete a range
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + pick(64))])
        break
      case 3: // duplicate a chunk
        out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + pick(256)), out.subarray(at)])
        break
      case 4: // truncate
        out = out.subarray(0, at)
        break
      case 5: // random bytes
        out = Buffer.concat([
          out.subarray(0, at),
          Buffer.from(Array.from({ length: pick(32) }, () => pick(256))),
          out.subarray(at),
        ])
        break
      default: // a big-endian integer field set to an extreme
        if (out.length >= 4)
          out.writeUInt32BE(
            [0, 0xffffffff, 0x7fffffff, 0x10000][pick(4)] as number,
            Math.min(at, out.length - 4),
          )
    }
  }
  return out
}

/** Runs `parse` on arbitrary and mutated inputs; returns the inputs that threw anything but a DriftwatchError. */
function fuzz(name: string, seeds: Buffer[], parse: (input: Buffer) => unknown): string[] {
  const next = random(SEED ^ [...name].reduce((h, c) => Math.imul(h, 31) + c.charCodeAt(0), 7))
  const failures: string[] = []
  for (let run = 0; run < RUNS; run++) {
    const base = seeds[run % seeds.length] as Buffer
    const input =
      run % 10 === 0
        ? Buffer.from(Array.from({ length: Math.floor(next() * 512) }, () => Math.floor(next() * 256)))
        : mutate(base, next)
    try {
      parse(input)
    } catch (error) {
      if (!(error instanceof DriftwatchError))
        failures.push(`${String(error)} on ${JSON.stringify(input.toString('latin1').slice(0, 200))}`)
    }
  }
  return failures
}

const text = (path: string) => readFileSync(fixture(path))
const allIn = (dir: string) =>
  readdirSync(fixture(dir), { withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => text(`${dir}/${d.name}`))

const temps: string[] = []
afterAll(() => {
  for (const t of temps) rmSync(t, { recursive: true, force: true })
})

test('the harness catches what is not a DriftwatchError, and lets a DriftwatchError pass', () => {
  const seeds = [Buffer.from('a: b\n')]
  expect(fuzz('self', seeds, () => JSON.parse('{')).length).toBe(RUNS)
  expect(
    fuzz('self', seeds, () => {
      throw new DriftwatchError('INPUT_INVALID', 'x', { hint: 'y' })
    }),
  ).toEqual([])
})

describe('parsers end in a result or a DriftwatchError on arbitrary and mutated input', () => {
  const utf8 = (parse: (text: string) => unknown) => (input: Buffer) => parse(input.toString('utf8'))

  test.each([
    {
      name: 'dpkg status',
      seeds: [text('roots/debian-12/var/lib/dpkg/status')],
      parse: utf8((t) => [parseDpkgStatus(t), parseDpkgEntries(t, { installedUnlessSaid: true })]),
    },
    {
      name: 'dpkg md5sums, lists, conffiles, diversions',
      seeds: allIn('roots/debian-12/var/lib/dpkg/info').slice(0, 8),
      parse: utf8((t) => [
        parseMd5sums(t),
        parseDpkgList(t),
        parseConffileEntries(t),
        parseDpkgDiversions(t),
      ]),
    },
    {
      name: 'apk installed',
      seeds: [text('roots/alpine/lib/apk/db/installed')],
      parse: utf8(parseApkInstalled),
    },
    {
      name: 'sshd_config',
      seeds: [text('roots/sshd/etc/ssh/sshd_config')],
      parse: utf8((t) => parseSshdConfig(t)),
    },
    {
      name: 'passwd, group, shadow',
      seeds: ['passwd', 'group', 'shadow', 'gshadow'].map((f) => text(`roots/accounts/etc/${f}`)),
      parse: utf8((t) => [parsePasswd(t), parseGroup(t), parseShadow(t)]),
    },
    {
      name: 'sysctl.conf and sysctl.d',
      seeds: [text('roots/sysctl/etc/sysctl.conf'), ...allIn('roots/sysctl/etc/sysctl.d')],
      parse: utf8(parseSysctlConf),
    },
    {
      name: 'Goss YAML import: an alias to an anchor never set (found by this test)',
      seeds: [Buffer.from('file:\n  /bin:\n    exists: *true\n')],
      parse: utf8((t) => fromGoss(t, 'goss.yaml')),
    },
    {
      name: 'Goss YAML import',
      seeds: [text('declared/goss.yaml')],
      parse: utf8((t) => fromGoss(t, 'goss.yaml')),
    },
    {
      name: 'CycloneDX JSON import and purls',
      seeds: [text('declared/web-base.cdx.json')],
      parse: utf8((t) => [fromCycloneDx(t, 'sbom.json'), parsePurl(t.slice(0, 200))]),
    },
  ])('$name', { timeout: 120_000 }, ({ name, seeds, parse }) => {
    expect(seeds.length).toBeGreaterThan(0)
    expect(fuzz(name, seeds, parse)).toEqual([])
  })

  test('rpm header blobs', { timeout: 120_000 }, () => {
    const db = new Database(fixture('roots/rpm/var/lib/rpm/rpmdb.sqlite'), { readonly: true })
    const blobs = (db.prepare('SELECT blob FROM Packages').all() as { blob: Buffer }[]).map((r) => r.blob)
    db.close()
    expect(blobs.length).toBeGreaterThan(0)
    expect(fuzz('rpm header', blobs, parseRpmHeader)).toEqual([])
  })

  test('rpm Berkeley DB pages', { timeout: 300_000 }, () => {
    const root = mkdtempSync(join(tmpdir(), 'driftwatch-fuzz-'))
    temps.push(root)
    mkdirSync(join(root, 'var/lib/rpm'), { recursive: true })
    const packages = join(root, 'var/lib/rpm/Packages')
    copyFileSync(fixture('roots/rpm-bdb/var/lib/rpm/Packages'), packages)
    const seed = readFileSync(packages)
    const failures = fuzz('rpm bdb', [seed], (input) => {
      writeFileSync(packages, input)
      return readRpmHeaders({ rootDir: root, live: false })
    })
    expect(failures).toEqual([])
  })
})
