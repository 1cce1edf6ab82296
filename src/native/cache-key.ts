import { ST } from './constants.js'

// The scan cache's record key, computed alike by the JavaScript binding's scanDir, by
// src/probes/files/stat-cache.ts and (in C) by fsprobe.c's scan_dir.

/**
 * A 64-bit hash of a path's bytes as the file system takes them (under the root), the third
 * part of a record's key: it tells two paths of one inode apart, and an inode moved to another
 * path (a directory renamed) from the one recorded. Two 32-bit lanes, FNV-1a and a
 * multiply-rotate, mixed with the length; the native scanDir computes the same.
 */
export function pathHash(fsPath: string | Buffer, out: Uint32Array, at: number): void {
  let bytes: Buffer
  let n: number
  if (typeof fsPath === 'string') {
    if (scratch.length < fsPath.length * 3) scratch = Buffer.alloc(fsPath.length * 3)
    bytes = scratch
    n = scratch.write(fsPath, 'utf8')
  } else {
    bytes = fsPath
    n = fsPath.length
  }
  let a = 0x811c9dc5
  let b = 0x9747b28c
  for (let i = 0; i < n; i++) {
    const c = bytes[i] as number
    a = Math.imul(a ^ c, 0x01000193)
    b = Math.imul(b ^ c, 0xcc9e2d51)
    b = Math.imul((b << 15) | (b >>> 17), 0x1b873593)
  }
  out[at] = fmix32(a ^ Math.imul(b, 0x85ebca6b) ^ n)
  out[at + 1] = fmix32(b + Math.imul(a, 0xc2b2ae35))
}
let scratch = Buffer.alloc(4096)

function fmix32(h: number): number {
  let x = h ^ (h >>> 16)
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  return (x ^ (x >>> 16)) >>> 0
}

/** Device, inode, path hash and stat: a record's first STAT_WORDS words. */
export function statWords(s: Float64Array, o: number, hash: Uint32Array, out: Uint32Array, at: number): void {
  const split = (value: number, k: number) => {
    out[at + k] = Math.floor(value / 2 ** 32) >>> 0
    out[at + k + 1] = value >>> 0
  }
  out[at] = s[o + ST.devHi] as number
  out[at + 1] = s[o + ST.devLo] as number
  out[at + 2] = s[o + ST.inoHi] as number
  out[at + 3] = s[o + ST.inoLo] as number
  out[at + 4] = hash[0] as number
  out[at + 5] = hash[1] as number
  out[at + 6] = s[o + ST.mode] as number
  out[at + 7] = s[o + ST.uid] as number
  out[at + 8] = s[o + ST.gid] as number
  split(s[o + ST.size] as number, 9)
  split(s[o + ST.mtimeSec] as number, 11)
  out[at + 13] = s[o + ST.mtimeNsec] as number
  split(s[o + ST.ctimeSec] as number, 14)
  out[at + 16] = s[o + ST.ctimeNsec] as number
}
