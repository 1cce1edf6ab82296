import { fsprobe } from '../native/fsprobe.js'
import { fileEntryJson } from './canonical.js'
import type { FileEntry } from './schema.js'

/**
 * A manifest's file entries indexed by path, in shared memory: the manifest's bytes as read
 * (digest checked) and the index over them (see indexEntries in src/native/fsprobe.c). Walk
 * workers use it to tell on their own that an entry they recorded is exactly the manifest's,
 * so that it never has to cross to the main thread, nor the manifest's files be parsed for it.
 */
export interface EntryIndex {
  bytes: SharedArrayBuffer
  index: SharedArrayBuffer
}

/** Words of the index before the entries, and per entry (see fsprobe.c). */
const HEADER_WORDS = 2
const ENTRY_WORDS = 4

/**
 * Indexes the `count` file entries of the JSON array at bytes[start, end), in libuv's thread
 * pool: a copy of the bytes in shared memory, and the index over it. Undefined when the array
 * is not as expected, an entry has no path, or a path is listed twice: the comparison then
 * reads the parsed entries, which know which of two counts.
 */
export async function buildEntryIndex(
  bytes: Buffer,
  start: number,
  end: number,
  count: number,
): Promise<{ index: EntryIndex; shared: Buffer } | undefined> {
  let slots = 2
  while (slots < 2 * count) slots *= 2
  const shared = Buffer.from(new SharedArrayBuffer(bytes.length))
  const index = new SharedArrayBuffer((HEADER_WORDS + ENTRY_WORDS * count + 2 * slots) * 4)
  const words = new Uint32Array(index)
  words[1] = slots
  if ((await fsprobe.indexEntriesAsync(bytes, shared, start, end, words)) !== count) return undefined
  return { index: { bytes: shared.buffer as SharedArrayBuffer, index }, shared }
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
    if (texts.length > 0)
      fsprobe.matchEntries(this.bytes, this.words, Buffer.from(texts.join('\0')), this.marks, verdicts)
    return verdicts
  }

  /** `match` for entries as recorded. */
  matchEntries(entries: FileEntry[]): Int32Array {
    return this.match(entries.map(fileEntryJson))
  }
}
