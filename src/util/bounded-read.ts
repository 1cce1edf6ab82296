import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs'
import { DriftwatchError, errnoCode } from '../errors.js'

/** What a bounded read is reading, for its error messages: "manifest", "signature", "key". */
export interface BoundedReadSubject {
  /** The kind of file, in the user's words. */
  what: string
  /** The hint for a file that cannot be read at all. */
  missingHint: string
}

/**
 * Reads a whole file that must be a regular file of at most `limit` bytes, and refuses anything
 * else before reading a byte of it: a FIFO (opened without blocking, so a FIFO with no writer
 * cannot hang the read), a device such as /dev/zero, a directory, or a file larger than the
 * limit (a sparse file of any size costs nothing to make). A file that grows while it is read
 * is read only up to the size it had: the bytes are one snapshot, never more than the limit.
 */
export function readBoundedFile(file: string, limit: number, subject: BoundedReadSubject): Buffer {
  let fd: number
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY)
  } catch (error) {
    const code = errnoCode(error)
    throw new DriftwatchError(
      code === 'ENOENT' || code === 'ENOTDIR' ? 'NOT_FOUND' : 'IO',
      `${file}: cannot read ${subject.what} (${code ?? String(error)})`,
      { hint: subject.missingHint },
    )
  }
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile()) {
      throw new DriftwatchError(
        'INPUT_INVALID',
        `${file}: the ${subject.what} is no regular file (${kindOf(stat)})`,
        { hint: `pass the ${subject.what} file itself, not a device, pipe or directory` },
      )
    }
    if (stat.size > limit) throw tooLarge(file, subject.what, `${stat.size} bytes`, limit)
    const data = Buffer.allocUnsafe(stat.size)
    let total = 0
    while (total < data.length) {
      const n = readSync(fd, data, total, data.length - total, null)
      if (n === 0) break
      total += n
    }
    return total === data.length ? data : data.subarray(0, total)
  } catch (error) {
    if (error instanceof DriftwatchError) throw error
    const code = errnoCode(error)
    throw new DriftwatchError('IO', `${file}: cannot read ${subject.what} (${code ?? String(error)})`, {
      hint: subject.missingHint,
    })
  } finally {
    closeSync(fd)
  }
}

/** The error for input over a documented limit: `size` says how much there was, or "more". */
export function tooLarge(file: string, what: string, size: string, limit: number): DriftwatchError {
  return new DriftwatchError(
    'INPUT_INVALID',
    `${file}: the ${what} is larger than driftwatch reads (${size}, the limit is ${formatLimit(limit)})`,
    { hint: `check that this is the ${what} you meant; the limits are listed in the README` },
  )
}

function formatLimit(limit: number): string {
  if (limit >= 1 << 20 && limit % (1 << 20) === 0) return `${limit / (1 << 20)} MiB`
  if (limit >= 1 << 10 && limit % (1 << 10) === 0) return `${limit / (1 << 10)} KiB`
  return `${limit} bytes`
}

function kindOf(stat: import('node:fs').Stats): string {
  if (stat.isDirectory()) return 'a directory'
  if (stat.isFIFO()) return 'a FIFO'
  if (stat.isCharacterDevice()) return 'a character device'
  if (stat.isBlockDevice()) return 'a block device'
  if (stat.isSocket()) return 'a socket'
  return 'not a file'
}
