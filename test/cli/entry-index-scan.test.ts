import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { loadPolicy } from '../../src/config/load.js'
import { type ManifestSource, openManifest, readManifest, writeManifest } from '../../src/manifest/io.js'
import { captureManifest, scanHost } from '../../src/scan/run.js'
import { tempDir } from '../helpers/cli.js'
import { buildImageRoot } from '../helpers/tree.js'

/*
 * A full scan of a manifest as `encodeManifest` wrote it lets the walk's workers match what
 * they record against the manifest's entry index: what is exactly the manifest's is marked
 * and never crosses to the main thread, and the scan cache records of it are made in the
 * workers. The reference is the comparison on the main thread, which a whole manifest (no
 * bytes, no index) takes: both must give the same report and the same scan cache, byte for
 * byte, whatever changed.
 */

let dir: { path: string; cleanup: () => void }
let root: string
let file: string
beforeAll(async () => {
  dir = tempDir()
  root = join(dir.path, 'root')
  file = join(dir.path, 'm.json.gz')
  buildImageRoot(root)
  const { manifest } = await captureManifest({
    rootDir: root,
    policy: loadPolicy(),
    image: { id: 'idx', version: '1' },
  })
  writeManifest(file, manifest)
})
afterAll(() => dir.cleanup())

let run = 0
/** A full scan with its own state directory; `whole`: the manifest as one object, without an index. */
async function fullScan(
  source: ManifestSource | ReturnType<typeof readManifest>['manifest'],
  digest: string,
) {
  const stateDir = join(dir.path, `state-${run++}`)
  const { report } = await scanHost({
    rootDir: root,
    manifest: source,
    manifestDigest: digest,
    mode: 'full',
    stateDir,
  })
  return {
    drift: report.drift,
    files: report.scan.files,
    cache: readFileSync(join(stateDir, readdirSync(stateDir)[0] as string)),
  }
}

/** The manifest opened for a scan, counting how often its files are parsed. */
function counted() {
  const source = openManifest(file)
  const parses = { count: 0 }
  const { files, loadFiles } = source
  source.files = () => {
    parses.count++
    return files()
  }
  source.loadFiles = () => {
    parses.count++
    return loadFiles()
  }
  return { source, parses }
}

async function expectSameAsReference() {
  const { manifest, digest } = readManifest(file)
  const { source, parses } = counted()
  expect(await source.entryIndex?.()).toBeDefined()
  const indexed = await fullScan(source, digest)
  const reference = await fullScan(manifest, digest)
  expect(indexed.drift).toEqual(reference.drift)
  expect(indexed.files).toBe(reference.files)
  expect(indexed.cache.equals(reference.cache)).toBe(true)
  return { drift: indexed.drift, parses: parses.count }
}

describe('full scans with the entry index', () => {
  test("a clean host: no drift, the manifest's files never parsed, the same cache as without the index", async () => {
    const { drift, parses } = await expectSameAsReference()
    expect(drift).toEqual([])
    expect(parses).toBe(0)
  })

  test('a host changed in content, mode, owner, adds and removals: the same report and cache as without it', async () => {
    writeFileSync(join(root, 'usr/bin/ls'), '#!/bin/sh\necho pwned\n')
    chmodSync(join(root, 'usr/bin/cat'), 0o4755)
    writeFileSync(join(root, 'usr/bin/new-tool'), 'new\n')
    rmSync(join(root, 'usr/share/doc/base/README'))
    const { drift } = await expectSameAsReference()
    expect(drift.map((d) => `${d.subject} ${d.change}`).sort()).toEqual([
      '/usr/bin/cat modified',
      '/usr/bin/ls modified',
      '/usr/bin/new-tool added',
      '/usr/share/doc/base/README removed',
    ])
  })
})
