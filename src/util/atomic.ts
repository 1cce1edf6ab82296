import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { DriftwatchError, errnoCode } from '../errors.js'

/** Writes a file so that readers see the old content or the new, never a part: temp file, fsync, rename. */
export function writeFileAtomic(file: string, data: Buffer | string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`
  let fd: number | undefined
  try {
    fd = openSync(tmp, 'wx', mode)
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    renameSync(tmp, file)
  } catch (error) {
    if (fd !== undefined) closeSync(fd)
    try {
      unlinkSync(tmp)
    } catch {}
    throw new DriftwatchError('IO', `${file}: cannot write (${errnoCode(error) ?? String(error)})`, {
      hint: 'check that the directory exists and is writable',
    })
  }
}
