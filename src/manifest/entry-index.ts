import { fileEntryJson } from './canonical.js'
import { arrayElements } from './outline.js'
import type { FileEntry } from './schema.js'

/**
 * A manifest's file entries indexed by path, in shared memory: the manifest's bytes as read
 * (digest, and signature when asked for, checked before) and the index over them. Walk
 * workers use it to tell on their own that an entry they recorded is exactly the manifest's,
 * so that it never has to cross to the main thread, nor the manifest's files be parsed for it.
 * It is a cache of the reference comparison (src/drift/compare.ts, entryMatches): an entry
 * whose canonical JSON is byte for byte the manifest entry's (but for `package`, which a walk
 * does not record) matches it; anything else goes to the reference (test/unit/match.test.ts).
 */
export interface EntryIndex {
  bytes: SharedArrayBuffer
  index: SharedArrayBuffer
}

/**
 * The index's words: HEADER_WORDS (entry count, slot count), ENTRY_WORDS per entry (where its
 * text starts and ends, where its `"package"` member starts (or its `"path"` member, when it
 * has no package), where its `"path"` member starts, where the path's string ends), then one
 * word per slot of an open-addressing table of paths: the entry's index + 1, 0 when empty.
 */
const HEADER_WORDS = 2
const ENTRY_WORDS = 5
const E_START = 0
const E_END = 1
const E_PACKAGE = 2
const E_PATH = 3
const E_PATH_END = 4
const PATH_KEY = Buffer.from('"path":')
const PACKAGE_KEY = Buffer.from('"package":')
const QUOTE = 0x22
const BACKSLASH = 0x5c

/**
 * Indexes the `count` file entries of the JSON array at bytes[start, end): a copy of the bytes
 * in shared memory, and the index over it. Undefined when the array is not as expected, an
 * entry has no path, or a path is listed twice: the comparison then reads the parsed entries,
 * which know which of two counts. Asynchronous so that the walk's first jobs go out first.
 */
export async function buildEntryIndex(
  bytes: Buffer,
  start: number,
  end: number,
  count: number,
): Promise<{ index: EntryIndex; shared: Buffer } | undefined> {
  await new Promise((resolve) => setImmediate(resolve))
  const shared = Buffer.from(new SharedArrayBuffer(bytes.length))
  bytes.copy(shared)
  const spans = arrayElements(shared, start, end)
  if (!spans || spans.length / 2 !== count) return undefined
  let slots = 2
  while (slots < 2 * count) slots *= 2
  const index = new SharedArrayBuffer((HEADER_WORDS + ENTRY_WORDS * count + slots) * 4)
  const words = new Uint32Array(index)
  words[0] = count
  words[1] = slots
  const table = HEADER_WORDS + ENTRY_WORDS * count
  for (let k = 0; k < count; k++) {
    const s = spans[2 * k] as number
    const e = spans[2 * k + 1] as number
    const members = entryMembers(shared, s, e)
    if (!members) return undefined
    const w = HEADER_WORDS + ENTRY_WORDS * k
    words[w + E_START] = s
    words[w + E_END] = e
    words[w + E_PACKAGE] = members.packageStart
    words[w + E_PATH] = members.pathStart
    words[w + E_PATH_END] = members.pathEnd
    const valueStart = members.pathStart + PATH_KEY.length
    let slot = hashBytes(shared, valueStart, members.pathEnd) & (slots - 1)
    for (;;) {
      const other = words[table + slot] as number
      if (other === 0) break
      const o = HEADER_WORDS + ENTRY_WORDS * (other - 1)
      const otherStart = (words[o + E_PATH] as number) + PATH_KEY.length
      if (
        equalBytes(shared, otherStart, words[o + E_PATH_END] as number, shared, valueStart, members.pathEnd)
      )
        return undefined
      slot = (slot + 1) & (slots - 1)
    }
    words[table + slot] = k + 1
  }
  return { index: { bytes: shared.buffer as SharedArrayBuffer, index }, shared }
}

/**
 * Where an entry's `"package"` and `"path"` members are, in canonical JSON: an object of
 * members `"key":value`, no space. Undefined when it has no path, or is not as expected.
 */
function entryMembers(
  d: Uint8Array,
  s: number,
  e: number,
): { packageStart: number; pathStart: number; pathEnd: number } | undefined {
  if (d[s] !== 0x7b || d[e - 1] !== 0x7d) return undefined
  let packageStart = -1
  let i = s + 1
  while (i < e - 1) {
    if (d[i] !== QUOTE) return undefined
    const keyEnd = stringEnd(d, i, e)
    if (keyEnd < 0 || d[keyEnd] !== 0x3a) return undefined
    if (equalBytes(d, i, keyEnd + 1, PATH_KEY, 0, PATH_KEY.length)) {
      const pathEnd = d[keyEnd + 1] === QUOTE ? stringEnd(d, keyEnd + 1, e) : -1
      if (pathEnd < 0) return undefined
      return { packageStart: packageStart < 0 ? i : packageStart, pathStart: i, pathEnd }
    }
    const isPackage = equalBytes(d, i, keyEnd + 1, PACKAGE_KEY, 0, PACKAGE_KEY.length)
    if (isPackage) packageStart = i
    else if (packageStart >= 0) return undefined
    // The value: a string, a number, or (xattrs, after the path) an object.
    let v = keyEnd + 1
    if (d[v] === QUOTE) {
      const valueStart = v
      v = stringEnd(d, v, e)
      // The package is the one member a match skips: it must be a string JSON.parse would take.
      if (isPackage && (v < 0 || !validString(d, valueStart, v))) return undefined
    } else if (isPackage) {
      return undefined
    } else while (v < e - 1 && d[v] !== 0x2c) v++
    if (v < 0 || (d[v] !== 0x2c && v !== e - 1)) return undefined
    i = v + 1
  }
  return undefined
}

/** The index after the JSON string starting with the quote at d[i], within d[.., end), or -1. */
function stringEnd(d: Uint8Array, i: number, end: number): number {
  for (let k = i + 1; k < end; k++) {
    const c = d[k] as number
    if (c === QUOTE) return k + 1
    if (c === BACKSLASH) k++
  }
  return -1
}

/** Whether d[s, e), quotes included, is a JSON string: no control characters, only JSON's escapes. */
function validString(d: Uint8Array, s: number, e: number): boolean {
  for (let k = s + 1; k < e - 1; k++) {
    const c = d[k] as number
    if (c < 0x20) return false
    if (c !== BACKSLASH) continue
    const next = d[++k] as number
    if (next === 0x75) {
      for (let h = 1; h <= 4; h++) if (!isHex(d[k + h] as number)) return false
      k += 4
    } else if (!ESCAPES.has(next)) return false
  }
  return true
}
const ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)))
const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)

/** FNV-1a over d[s, e). */
function hashBytes(d: Uint8Array, s: number, e: number): number {
  let h = 0x811c9dc5
  for (let k = s; k < e; k++) h = Math.imul(h ^ (d[k] as number), 0x01000193)
  return h >>> 0
}

function equalBytes(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): boolean {
  if (ae - as !== be - bs) return false
  for (let k = 0; k < ae - as; k++) if (a[as + k] !== b[bs + k]) return false
  return true
}

/**
 * Finds, for entries as a walk records them, the manifest entry each is exactly (but for the
 * package that owns it, which a walk does not record), and marks it in `marks`, one byte per
 * manifest entry, shared by every thread of the walk.
 */
export class EntryMatcher {
  private readonly bytes: Uint8Array
  private readonly words: Uint32Array

  constructor(
    shared: EntryIndex,
    private readonly marks: Uint8Array,
  ) {
    this.bytes = new Uint8Array(shared.bytes)
    this.words = new Uint32Array(shared.index)
  }

  /**
   * The index of the manifest entry each text (`fileEntryJson` of an entry; empty to match
   * nothing) is, or -1: no entry at its path, or one that differs in anything.
   */
  match(texts: string[]): Int32Array {
    const verdicts = new Int32Array(texts.length)
    for (let k = 0; k < texts.length; k++) verdicts[k] = this.matchOne(texts[k] as string)
    return verdicts
  }

  /** `match` for entries as recorded. */
  matchEntries(entries: FileEntry[]): Int32Array {
    return this.match(entries.map(fileEntryJson))
  }

  private matchOne(text: string): number {
    if (text === '') return -1
    const t = Buffer.from(text)
    // Canonical JSON escapes every quote in a string: `"path":` is the member's key.
    const pathAt = t.indexOf(PATH_KEY)
    if (pathAt < 0) return -1
    const valueStart = pathAt + PATH_KEY.length
    const valueEnd = t[valueStart] === QUOTE ? stringEnd(t, valueStart, t.length) : -1
    if (valueEnd < 0) return -1
    const { bytes: d, words } = this
    const count = words[0] as number
    const slots = words[1] as number
    const table = HEADER_WORDS + ENTRY_WORDS * count
    let slot = hashBytes(t, valueStart, valueEnd) & (slots - 1)
    for (;;) {
      const found = words[table + slot] as number
      if (found === 0) return -1
      const w = HEADER_WORDS + ENTRY_WORDS * (found - 1)
      const pathStart = words[w + E_PATH] as number
      if (
        equalBytes(d, pathStart + PATH_KEY.length, words[w + E_PATH_END] as number, t, valueStart, valueEnd)
      ) {
        const same =
          equalBytes(d, words[w + E_START] as number, words[w + E_PACKAGE] as number, t, 0, pathAt) &&
          equalBytes(d, pathStart, words[w + E_END] as number, t, pathAt, t.length)
        if (!same) return -1
        this.marks[found - 1] = 1
        return found - 1
      }
      slot = (slot + 1) & (slots - 1)
    }
  }
}
