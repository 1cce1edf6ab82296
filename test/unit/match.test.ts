import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { PathMatcher } from '../../src/config/path-matcher.js'
import { FILE_ATTRIBUTES, type Policy } from '../../src/config/policy.js'
import { compareFiles, entryDrift, identicalEntry } from '../../src/drift/compare.js'
import { fileEntryJson } from '../../src/manifest/canonical.js'
import { buildEntryIndex, EntryMatcher } from '../../src/manifest/entry-index.js'
import { encodeManifest, openManifest } from '../../src/manifest/io.js'
import { type FileEntry, MANIFEST_SCHEMA, type Manifest } from '../../src/manifest/schema.js'
import { FileCheck } from '../../src/scan/file-check.js'

// One reference decides whether an observed entry matches its manifest entry: entryDrift in
// src/drift/compare.ts. The fast paths decide only identicalEntry; these properties prove,
// over generated entries and mutations of them, that each fast path agrees with the reference.

const PATHS = ['/usr/bin/ls', '/usr/bin/caf\udce9', '/etc/a b', '/usr/lib/x/\u00e9\u4e2d', '/bin/"q"\\']
const hex = fc.stringMatching(/^[0-9a-f]{64}$/)

const entry = (path: string) =>
  fc.record(
    {
      path: fc.constant(path),
      type: fc.constantFrom('file', 'dir', 'symlink', 'fifo'),
      mode: fc.constantFrom('0644', '0755', '4755', '2755', '0000'),
      uid: fc.constantFrom(0, 33, 1000),
      gid: fc.constantFrom(0, 33, 1000),
      size: fc.constantFrom(0, 3, 138208),
      sha256: hex,
      target: fc.constantFrom('/etc/alternatives/awk', 'x', 'caf\udce9'),
      caps: fc.constantFrom('cap_net_raw=ep', 'cap_sys_admin+ep'),
      mtime: fc.constantFrom('2026-11-27T00:00:00.000000000Z', '2026-11-28T00:00:00.000000001Z'),
      xattrs: fc.dictionary(fc.constantFrom('user.a', 'security.selinux'), hex, { maxKeys: 2 }),
      package: fc.constantFrom('deb:coreutils:amd64', 'rpm:x:noarch'),
    },
    { requiredKeys: ['path'] },
  ) as fc.Arbitrary<FileEntry>

const CHANGEABLE = [
  'type',
  'mode',
  'uid',
  'gid',
  'size',
  'sha256',
  'target',
  'caps',
  'mtime',
  'xattrs',
] as const

/** An observation of `e`: as it is, or with attributes changed, dropped or added, never its package. */
const mutationOf = (e: FileEntry) =>
  fc
    .tuple(
      entry(e.path),
      fc.array(fc.constantFrom(...CHANGEABLE), { maxLength: 3 }),
      fc.constantFrom('keep', 'mutate', 'drop'),
    )
    .map(([other, attributes, how]) => {
      const { package: _package, ...o } = e as FileEntry & Record<string, unknown>
      const observed = { ...o } as Record<string, unknown>
      if (how === 'keep') return observed as FileEntry
      for (const attribute of attributes) {
        if (how === 'drop') delete observed[attribute]
        else observed[attribute] = (other as Record<string, unknown>)[attribute]
      }
      return observed as FileEntry
    })

const policyOf = (attributes: (typeof FILE_ATTRIBUTES)[number][]): Policy => {
  const policy = loadPolicy()
  return {
    ...policy,
    files: { ...policy.files, include: ['/**'], exclude: [], defaultAttributes: attributes, rules: [] },
  }
}
const policies = fc.subarray([...FILE_ATTRIBUTES]).map(policyOf)

function manifestOf(files: FileEntry[]): Manifest {
  return {
    schema: MANIFEST_SCHEMA,
    image: { id: 'm', version: '1', capturedAt: '2026-11-27T00:00:00.000Z' },
    policy: policyOf([...FILE_ATTRIBUTES]),
    files: [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    packages: [],
    config: [],
  }
}

/** Manifest entries at distinct paths, each observed as itself or mutated, or not at all. */
const scenario = fc
  .subarray(PATHS, { minLength: 1 })
  .chain((paths) => fc.tuple(...paths.map(entry)))
  .chain((files) =>
    fc.tuple(
      fc.constant(files as FileEntry[]),
      fc.tuple(...files.map((e) => fc.option(mutationOf(e), { nil: undefined }))),
    ),
  )

describe('one reference for a match', () => {
  test('an identical entry matches under every policy, captured or declared (the fast paths never hide drift)', () => {
    fc.assert(
      fc.property(
        entry('/usr/bin/ls').chain((e) => fc.tuple(fc.constant(e), mutationOf(e))),
        policies,
        fc.boolean(),
        ([e, o], policy, complete) => {
          if (!identicalEntry(e, o)) return
          expect(entryDrift(e, o, new PathMatcher(policy.files), { complete })).toBeUndefined()
        },
      ),
      { numRuns: 500 },
    )
  })

  test('the reference finds drift in any attribute both sides record and an observation changed', () => {
    fc.assert(
      fc.property(
        entry('/usr/bin/ls').chain((e) => fc.tuple(fc.constant(e), mutationOf(e))),
        ([e, o]) => {
          // Where one side lacks an attribute, the reference leaves it unchecked (a declared
          // manifest's way); where both record every attribute alike, any difference is drift.
          const recorded = (x: FileEntry) => CHANGEABLE.map((a) => x[a] === undefined).join()
          if (recorded(e) !== recorded(o)) return
          const drift = entryDrift(e, o, new PathMatcher(policyOf([...FILE_ATTRIBUTES]).files), {
            complete: true,
          })
          expect(drift === undefined).toBe(identicalEntry(e, o))
        },
      ),
      { numRuns: 500 },
    )
  })

  test("the walk workers' entry index matches an observation exactly when it is identical", async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async ([files, observed]) => {
        const manifest = manifestOf(files)
        const source = openManifest('generated.json', encodeManifest(manifest))
        const index = await source.entryIndex?.()
        expect(index).toBeDefined()
        const marks = new Uint8Array(files.length)
        const matcher = new EntryMatcher(index as NonNullable<typeof index>, marks)
        for (const o of observed) {
          if (!o) continue
          const at = manifest.files.findIndex((e) => e.path === o.path)
          const verdict = matcher.match([fileEntryJson(o)])[0]
          expect(verdict, JSON.stringify(o)).toBe(
            identicalEntry(manifest.files[at] as FileEntry, o) ? at : -1,
          )
        }
      }),
      { numRuns: 200 },
    )
  })

  test('FileCheck, with scan cache verdicts marking identical entries, reports what the reference reports', () => {
    fc.assert(
      fc.property(scenario, policies, fc.boolean(), ([files, observed], policy, useMarks) => {
        const manifest = { ...manifestOf(files), policy }
        const seen = observed.filter((o): o is FileEntry => o !== undefined)
        const reference = compareFiles(manifest.files, seen, policy, { complete: true })
        // A scan cache's verdicts: the identical entries are marked and never handed over.
        const marks = new Uint8Array(manifest.files.length)
        const handed: FileEntry[] = []
        for (const o of seen) {
          const at = manifest.files.findIndex((e) => e.path === o.path)
          if (useMarks && identicalEntry(manifest.files[at] as FileEntry, o)) marks[at] = 1
          else handed.push(o)
        }
        const source = openManifest('generated.json', encodeManifest(manifest))
        const check = new FileCheck(source, policy, { rootDir: '/', complete: true })
        check.take({ entries: handed, errors: [] })
        expect(check.finish(marks)).toEqual(reference)
      }),
      { numRuns: 300 },
    )
  })

  test('an index built over bytes of other entries never matches (a sanity check of the generator)', async () => {
    const bytes = Buffer.from('[{"path":"/a","type":"dir"}]')
    const built = await buildEntryIndex(bytes, 0, bytes.length, 1)
    const matcher = new EntryMatcher(built?.index as NonNullable<typeof built>['index'], new Uint8Array(1))
    expect([...matcher.match(['{"path":"/a","type":"dir"}', '{"path":"/a","type":"file"}'])]).toEqual([0, -1])
  })
})
