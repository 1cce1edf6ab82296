import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type FileToHash, HashPool } from '../../src/probes/packages/hashing.js'

// The one hashing path of package verification (dpkg's MD5, rpm's digest algorithms), on a real
// root in a temp folder: the workers run from the build (npm run build).
let root: string
const contents = Array.from({ length: 150 }, (_, i) => `file ${i}\n`.repeat(i + 1))
const digest = (algorithm: string, text: string) => createHash(algorithm).update(text).digest('hex')

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'driftwatch-hashing-'))
  mkdirSync(join(root, 'usr/lib'), { recursive: true })
  contents.forEach((text, i) => {
    writeFileSync(join(root, `usr/lib/f${i}`), text)
  })
  // An image's absolute link resolves inside the root, never to the host's /lib.
  symlinkSync('/usr/lib', join(root, 'lib'))
  mkdirSync(join(root, 'usr/lib/dir'))
})
afterAll(() => rmSync(root, { recursive: true, force: true }))

describe('HashPool', () => {
  test('hashes many files with each algorithm, results in the order asked, over several jobs', async () => {
    const algorithms = ['md5', 'sha1', 'sha256'] as const
    const files: FileToHash[] = contents.map((_, i) => ({
      path: `/lib/f${i}`,
      algorithm: algorithms[Math.floor(i / 50)] as FileToHash['algorithm'],
    }))
    const pool = new HashPool(root, 2)
    try {
      const results = await pool.hash(files)
      expect(results).toEqual(files.map((f, i) => ({ digest: digest(f.algorithm, contents[i] as string) })))
      // A second batch on the same workers.
      expect(await pool.hash([{ path: '/usr/lib/f0', algorithm: 'sha256' }])).toEqual([
        { digest: digest('sha256', contents[0] as string) },
      ])
      expect(await pool.hash([])).toEqual([])
    } finally {
      await pool.close()
    }
  })

  test('says why a file has no digest: missing, not a regular file', async () => {
    const pool = new HashPool(root, 1)
    try {
      const [missing, directory, underFile] = await pool.hash([
        { path: '/usr/lib/absent', algorithm: 'md5' },
        { path: '/usr/lib/dir', algorithm: 'md5' },
        { path: '/usr/lib/f1/below', algorithm: 'md5' },
      ])
      expect(missing).toMatchObject({ code: 'ENOENT' })
      expect(directory).toEqual({ notRegular: true })
      expect(underFile).toMatchObject({ code: 'ENOTDIR' })
    } finally {
      await pool.close()
    }
  })
})
