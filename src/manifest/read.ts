import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { gunzip, gunzipSync } from 'node:zlib'
import { DriftwatchError, errnoCode } from '../errors.js'

// Reading a manifest's bytes needs nothing of the manifest's schema: this module is small, so
// that a scan can start reading (and gunzipping, off the main thread) before it loads the rest.

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b])
const gunzipAsync = promisify(gunzip)

/** A manifest file's bytes, gunzipped when they are gzip. */
export function readManifestBytes(file: string): Buffer {
  const data = readRaw(file)
  if (!isGzip(data)) return data
  try {
    return gunzipSync(data, { chunkSize: outputChunk(data) })
  } catch (error) {
    throw corrupt(file, error)
  }
}

/**
 * The same, gunzipped off the main thread (in libuv's thread pool). The file is read at once:
 * a few milliseconds, where an asynchronous read would wait for a busy main thread between
 * its chunks before the gunzip could start.
 */
export async function readManifestBytesAsync(file: string): Promise<Buffer> {
  const data = readRaw(file)
  if (!isGzip(data)) return data
  try {
    return await gunzipAsync(data, { chunkSize: outputChunk(data) })
  } catch (error) {
    throw corrupt(file, error)
  }
}

function readRaw(file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (error) {
    throw cannotRead(file, error)
  }
}

function isGzip(data: Buffer): boolean {
  return data.subarray(0, 2).equals(GZIP_MAGIC)
}

function cannotRead(file: string, error: unknown): DriftwatchError {
  const code = errnoCode(error)
  return new DriftwatchError(
    code === 'ENOENT' ? 'NOT_FOUND' : 'IO',
    `${file}: cannot read manifest (${code ?? String(error)})`,
    { hint: 'check the path; make one with `driftwatch manifest capture`' },
  )
}

function corrupt(file: string, error: unknown): DriftwatchError {
  return new DriftwatchError(
    'INPUT_INVALID',
    `${file}: gzip data is corrupt or truncated (${errnoCode(error) ?? 'unreadable'})`,
    { hint: 'copy the manifest again from where it was captured' },
  )
}

/**
 * Output chunk size for gunzip: the size the gzip trailer records (modulo 2^32), so that a
 * manifest of tens of megabytes comes out in one buffer, not many joined by a copy. Only a
 * hint: a wrong one costs speed, never content.
 */
function outputChunk(gz: Buffer): number {
  const recorded = gz.length >= 18 ? gz.readUInt32LE(gz.length - 4) : 0
  return Math.min(Math.max(recorded + 1024, 64 << 10), 1 << 30)
}
