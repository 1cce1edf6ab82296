import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { canonicalJson, fileEntryJson } from '../../src/manifest/canonical.js'
import { buildEntryIndex, EntryMatcher } from '../../src/manifest/entry-index.js'
import { encodeManifest, openManifest } from '../../src/manifest/io.js'
import { type FileEntry, MANIFEST_SCHEMA, type Manifest } from '../../src/manifest/schema.js'
import { tempDir } from '../helpers/cli.js'

let dir: { path: string; cleanup: () => void }
beforeAll(() => {
  dir = tempDir()
})
afterAll(() => dir.cleanup())

const SHA = 'ab'.repeat(32)
/** Entries as a capture records them: every attribute, owners where a package has the file. */
const FILES = (
  [
    { path: '/usr', type: 'dir', mode: '0755', uid: 0, gid: 0 },
    {
      path: '/usr/bin/ping',
      type: 'file',
      mode: '0755',
      uid: 0,
      gid: 0,
      size: 9,
      sha256: SHA,
      caps: 'cap_net_raw=ep',
      package: 'deb:iputils-ping:amd64',
    },
    {
      path: '/usr/bin/sh',
      type: 'symlink',
      mode: '0777',
      uid: 0,
      gid: 0,
      target: 'dash',
      package: 'deb:dash:amd64',
    },
    {
      path: '/usr/lib/"quoted"\\name\u00e9\u65e5',
      type: 'file',
      mode: '0644',
      uid: 1,
      gid: 2,
      size: 0,
      sha256: SHA,
    },
    {
      path: '/usr/lib/caf\udce9',
      type: 'file',
      mode: '4755',
      uid: 0,
      gid: 0,
      size: 3,
      sha256: SHA,
      mtime: '1700000000.000000001',
    },
    {
      path: '/usr/lib/x',
      type: 'file',
      mode: '0600',
      uid: 0,
      gid: 0,
      size: 1,
      sha256: SHA,
      xattrs: { 'user.b': SHA, 'user.a': SHA },
    },
    { path: '/usr/share/fifo', type: 'fifo', mode: '0644', uid: 0, gid: 0, package: 'deb:x\\"y:all' },
  ] satisfies FileEntry[]
).sort((a: FileEntry, b: FileEntry) => (a.path < b.path ? -1 : 1)) as FileEntry[]

function manifestOf(files: FileEntry[]): Manifest {
  return {
    schema: MANIFEST_SCHEMA,
    image: { id: 'idx', version: '1', capturedAt: '2026-11-27T00:00:00.000Z' },
    policy: loadPolicy(),
    files,
    packages: [],
    config: [],
  }
}

/** A matcher over a manifest written as `encodeManifest` writes it, with its marks. */
async function matcherFor(files: FileEntry[]) {
  const file = join(dir.path, `m-${Math.random()}.json`)
  const source = openManifest(file, encodeManifest(manifestOf(files)))
  const index = await source.entryIndex?.()
  if (!index) throw new Error('no index')
  const marks = new Uint8Array(new SharedArrayBuffer(files.length))
  return { matcher: new EntryMatcher(index, marks), marks }
}

/** An entry as a walk records it: no package. */
const observed = ({ package: _owner, ...entry }: FileEntry): FileEntry => entry

describe('fileEntryJson', () => {
  test('is canonicalJson of a file entry, member for member', () => {
    for (const entry of FILES) expect(fileEntryJson(entry)).toBe(canonicalJson(entry))
    expect(fileEntryJson({ path: '/only' })).toBe('{"path":"/only"}')
    expect(() => fileEntryJson({ path: '/x', size: Number.NaN })).toThrow(/non-finite/)
  })
})

describe('the entry index', () => {
  test('an entry as recorded matches its manifest entry, package or not, and marks it', async () => {
    const { matcher, marks } = await matcherFor(FILES)
    const verdicts = matcher.matchEntries(FILES.map(observed))
    expect([...verdicts]).toEqual(FILES.map((_, i) => i))
    expect([...marks]).toEqual(FILES.map(() => 1))
  })

  test('any difference in any attribute, an attribute more or less, or another path: no match, no mark', async () => {
    const ping = observed(FILES.find((f) => f.path === '/usr/bin/ping') as FileEntry)
    const variants: FileEntry[] = [
      { ...ping, mode: '4755' },
      { ...ping, uid: 1 },
      { ...ping, gid: 1 },
      { ...ping, size: 10 },
      { ...ping, sha256: 'cd'.repeat(32) },
      { ...ping, caps: 'cap_net_admin=ep' },
      { ...ping, target: 'x' },
      { ...ping, type: 'char' },
      { ...ping, mtime: '1.000000000' },
      { ...ping, xattrs: {} },
      (({ caps: _c, ...rest }) => rest)(ping),
      (({ sha256: _s, ...rest }) => rest)(ping),
      { ...ping, path: '/usr/bin/pong' },
      { ...ping, path: '/usr/bin/pin' },
      { ...ping, package: 'deb:other:amd64' },
    ]
    const { matcher, marks } = await matcherFor(FILES)
    expect([...matcher.matchEntries(variants)]).toEqual(variants.map(() => -1))
    expect(marks.indexOf(1)).toBe(-1)
  })

  test('empty texts and texts that are not entries match nothing', async () => {
    const { matcher } = await matcherFor(FILES)
    expect([...matcher.match(['', '{}', '{"path":1}', 'not json', '{"path":"/usr"'])]).toEqual([
      -1, -1, -1, -1, -1,
    ])
  })

  test('a manifest that lists a path twice has no index: the comparison decides which entry counts', async () => {
    const twice = [...FILES, { ...(FILES[0] as FileEntry), mode: '0700' }]
    const source = openManifest(join(dir.path, 'twice.json'), encodeManifest(manifestOf(twice)))
    expect(await source.entryIndex?.()).toBeUndefined()
  })

  test('manifest texts not as encodeManifest writes them never match: whitespace, a bad package string', async () => {
    const entry: FileEntry = { path: '/a', type: 'dir', mode: '0755', uid: 0, gid: 0 }
    /** The verdict for `entry` against a files array of the one text, -1 when there is no index. */
    const verdictAgainst = async (text: string) => {
      const bytes = Buffer.from(`[${text}]`)
      const built = await buildEntryIndex(bytes, 0, bytes.length, 1)
      return built
        ? (new EntryMatcher(built.index, new Uint8Array(1)).matchEntries([entry])[0] as number)
        : -1
    }
    const texts = [
      '{"gid":0, "mode":"0755","path":"/a","type":"dir","uid":0}',
      '{"gid":0,"mode":"0755","package":"bad\\q","path":"/a","type":"dir","uid":0}',
      '{"gid":0,"mode":"0755","package":"ctl\u0001","path":"/a","type":"dir","uid":0}',
      '{"gid":0,"mode":"0755","package":1,"path":"/a","type":"dir","uid":0}',
    ]
    for (const text of texts) expect(await verdictAgainst(text), text).toBe(-1)
    // The same entry written canonically, with a valid package, does match.
    expect(
      await verdictAgainst(
        '{"gid":0,"mode":"0755","package":"deb:a\\u00e9\\"b:all","path":"/a","type":"dir","uid":0}',
      ),
    ).toBe(0)
  })

  test('an array that is not one, or a count that is not its own: no index', async () => {
    const text = Buffer.from('[{"path":"/a"},{"path":"/b"}]')
    expect(await buildEntryIndex(text, 0, text.length - 1, 2)).toBeUndefined()
    expect(await buildEntryIndex(text, 0, text.length, 3)).toBeUndefined()
    expect(await buildEntryIndex(Buffer.from('[{"type":"file"}]'), 0, 17, 1)).toBeUndefined()
    expect(await buildEntryIndex(text, 0, text.length, 2)).toBeDefined()
  })
})
