import { promisify } from 'node:util'
import { gunzip, gunzipSync } from 'node:zlib'
import { DriftwatchError, errnoCode } from '../errors.js'
import { readBoundedFile, tooLarge } from '../util/bounded-read.js'

// Reading a manifest's bytes needs nothing of the manifest's schema: this module is small, so
// that a scan can start reading (and gunzipping, off the main thread) before it loads the rest.

/**
 * The largest manifest read, as stored and after gunzip (documented in the README): a
 * capture of a whole distribution's /usr (140,000 entries) is about 35 MiB. Anything larger
 * is refused before it is read or inflated, so a wrong path, a sparse file or a gzip bomb
 * cannot fill the memory of a host.
 */
export const MANIFEST_MAX_BYTES = 256 << 20

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b])
const gunzipAsync = promisify(gunzip)
const SUBJECT = {
  what: 'manifest',
  missingHint: 'check the path; make one with `driftwatch manifest capture`',
}

/** A manifest file's bytes, gunzipped when they are gzip; both at most MANIFEST_MAX_BYTES. */
export function readManifestBytes(file: string): Buffer {
  const data = readBoundedFile(file, MANIFEST_MAX_BYTES, SUBJECT)
  if (!isGzip(data)) return data
  try {
    return gunzipSync(data, { chunkSize: outputChunk(data), maxOutputLength: MANIFEST_MAX_BYTES })
  } catch (error) {
    throw gunzipFailed(file, error)
  }
}

/**
 * The same, gunzipped off the main thread (in libuv's thread pool). The file is read at once:
 * a few milliseconds, where an asynchronous read would wait for a busy main thread between
 * its chunks before the gunzip could start.
 */
export async function readManifestBytesAsync(file: string): Promise<Buffer> {
  const data = readBoundedFile(file, MANIFEST_MAX_BYTES, SUBJECT)
  if (!isGzip(data)) return data
  try {
    return await gunzipAsync(data, { chunkSize: outputChunk(data), maxOutputLength: MANIFEST_MAX_BYTES })
  } catch (error) {
    throw gunzipFailed(file, error)
  }
}

function isGzip(data: Buffer): boolean {
  return data.subarray(0, 2).equals(GZIP_MAGIC)
}

function gunzipFailed(file: string, error: unknown): DriftwatchError {
  // zlib stops at maxOutputLength: a gzip bomb is never inflated past the limit.
  if (errnoCode(error) === 'ERR_BUFFER_TOO_LARGE')
    return tooLarge(file, 'manifest', 'more after gunzip', MANIFEST_MAX_BYTES)
  return new DriftwatchError(
    'INPUT_INVALID',
    `${file}: gzip data is corrupt or truncated (${errnoCode(error) ?? 'unreadable'})`,
    { hint: 'copy the manifest again from where it was captured' },
  )
}

/**
 * Output chunk size for gunzip: the size the gzip trailer records (modulo 2^32), so that a
 * manifest of tens of megabytes comes out in one buffer, not many joined by a copy. Only a
 * hint, and capped at the limit: a wrong one costs speed, never content.
 */
function outputChunk(gz: Buffer): number {
  const recorded = gz.length >= 18 ? gz.readUInt32LE(gz.length - 4) : 0
  return Math.min(Math.max(recorded + 1024, 64 << 10), MANIFEST_MAX_BYTES)
}
