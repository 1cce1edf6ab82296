import { isUtf8 } from 'node:buffer'
import { displayText } from './display.js'

/*
 * Linux file names are bytes, JSON strings are Unicode. A name that is not valid UTF-8 is
 * represented the way Python's "surrogateescape" (PEP 383) does it: every byte that is not
 * part of a valid UTF-8 sequence becomes the lone surrogate U+DC80 + byte. JSON carries
 * lone surrogates as "\udcXX" escapes, valid UTF-8 can never produce them, so the mapping is
 * lossless and round-trips through a manifest and back to the exact bytes on disk.
 */

const LONE_ESCAPE = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/

/** Decodes a raw file name; valid UTF-8 is returned as is, other bytes are escaped. */
export function decodeName(raw: Buffer): string {
  if (isUtf8(raw)) return raw.toString('utf8')
  let out = ''
  let i = 0
  while (i < raw.length) {
    const len = utf8SequenceLength(raw, i)
    if (len === 0) {
      out += String.fromCharCode(0xdc00 + (raw[i] as number))
      i += 1
    } else {
      out += raw.toString('utf8', i, i + len)
      i += len
    }
  }
  return out
}

/** True when a path holds escaped bytes and must be handed to the file system as a Buffer. */
export function hasEscapedBytes(path: string): boolean {
  return LONE_ESCAPE.test(path)
}

/** The path in the form the fs module takes: the string itself, or its exact bytes. */
export function toFsPath(path: string): string | Buffer {
  if (!hasEscapedBytes(path)) return path
  const parts: Buffer[] = []
  let run = ''
  for (let i = 0; i < path.length; i++) {
    const unit = path.charCodeAt(i)
    const previous = i > 0 ? path.charCodeAt(i - 1) : 0
    const isEscape = unit >= 0xdc80 && unit <= 0xdcff && !(previous >= 0xd800 && previous <= 0xdbff)
    if (isEscape) {
      if (run) parts.push(Buffer.from(run, 'utf8'))
      run = ''
      parts.push(Buffer.of(unit - 0xdc00))
    } else {
      run += path[i]
    }
  }
  if (run) parts.push(Buffer.from(run, 'utf8'))
  return Buffer.concat(parts)
}

/** A path for people: escaped bytes shown as \xNN, control characters escaped too (see display.ts). */
export function displayPath(path: string): string {
  return displayText(path)
}

/** Length of the valid UTF-8 sequence starting at `i`, or 0 when the byte there starts none. */
function utf8SequenceLength(b: Buffer, i: number): number {
  const b0 = b[i] as number
  if (b0 < 0x80) return 1
  const cont = (k: number) => i + k < b.length && ((b[i + k] as number) & 0xc0) === 0x80
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0
  if (b0 >= 0xe0 && b0 <= 0xef) {
    if (!cont(1) || !cont(2)) return 0
    const b1 = b[i + 1] as number
    if (b0 === 0xe0 && b1 < 0xa0) return 0 // overlong
    if (b0 === 0xed && b1 >= 0xa0) return 0 // UTF-16 surrogates are not valid UTF-8
    return 3
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0
    const b1 = b[i + 1] as number
    if (b0 === 0xf0 && b1 < 0x90) return 0
    if (b0 === 0xf4 && b1 >= 0x90) return 0
    return 4
  }
  return 0
}
