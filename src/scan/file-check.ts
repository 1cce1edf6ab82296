import { PathMatcher } from '../config/path-matcher.js'
import type { Policy } from '../config/policy.js'
import { compareFiles, identicalEntry } from '../drift/compare.js'
import type { ManifestSource } from '../manifest/io.js'
import type { FileEntry } from '../manifest/schema.js'
import { ST, STAT_FIELDS } from '../native/fsprobe.js'
import { joinRoot } from '../probes/files/root-path.js'
import { type CacheWriter, recordContent, type StatCache } from '../probes/files/stat-cache.js'
import type { WalkBatch } from '../probes/files/walk.js'
import type { DriftItem } from '../protocol/report.js'

/** Entries held, when the manifest's files are not parsed yet, before they are parsed anyway. */
const HOLD_LIMIT = 4096

export interface FileCheckOptions {
  /** The root the walk reads under (the scan cache keys paths as the file system takes them). */
  rootDir: string
  /** A captured manifest (see CompareFilesOptions). */
  complete: boolean
  /** The scan cache the walk used, if any: its records that still hold are kept. */
  cache?: { cache: StatCache; hits: Uint8Array }
  /** Where what this scan learns goes, for the next quick scan. */
  writer?: CacheWriter
}

/**
 * The files half of a scan: sorts the walk's entries, as they come, into those that are
 * exactly as the manifest has them and those that are not, and compares only the latter
 * (with the manifest's entries never seen) at the end. An entry exactly as the manifest has
 * it gives no drift item whatever the policy, so the result is the comparison of everything.
 * Each entry seen as the manifest has it becomes a verdict in the scan cache.
 *
 * The manifest's files are parsed only when needed: at once for a scan without a cache, which
 * compares as the walk goes (`loadSoon`); when many entries come while they are not parsed (a
 * quick scan where the cache did not know much); or at the end, when some entry came or some
 * manifest entry was not marked by a cache verdict. Then only the entries not marked are
 * parsed, when the manifest can give them alone: every other one is known to be there as
 * expected.
 */
export class FileCheck {
  private files?: FileEntry[]
  /** When only some of the manifest's entries are parsed: the manifest's number of each. */
  private numbers?: readonly number[]
  private index?: Map<string, number>
  /** Some path is listed twice in the manifest (only a hand-written one does that). */
  private duplicates = false
  /** Per manifest entry: an observed entry had its path. */
  private seen?: Uint8Array
  private loading?: Promise<void>
  private held: WalkBatch[] = []
  private heldEntries = 0
  private readonly differing: FileEntry[] = []
  private readonly unreadable = new Set<string>()
  private readonly matcher: PathMatcher

  constructor(
    private readonly source: ManifestSource,
    private readonly policy: Policy,
    private readonly options: FileCheckOptions,
  ) {
    this.matcher = new PathMatcher(policy.files)
  }

  /**
   * Starts parsing the manifest's files, a slice at a time; the entries that come meanwhile
   * are held, and sorted when it is done. A failure is thrown by `ready`.
   */
  loadSoon(): void {
    if (this.files || this.loading) return
    this.loading = this.source.loadFiles().then((files) => this.install(files))
    this.loading.catch(() => undefined)
  }

  /** Waits for the parse `loadSoon` started, if any; throws what it threw. */
  async ready(): Promise<void> {
    await this.loading
  }

  /** Parses the manifest's files now, and sorts the entries held until then. */
  load(): void {
    if (!this.files) this.install(this.source.files())
  }

  /** `numbers`: when `files` are only some of the manifest's entries, the number of each. */
  private install(files: FileEntry[], numbers?: readonly number[]): void {
    if (this.files) return
    if (numbers) this.numbers = numbers
    const index = new Map<string, number>()
    for (let i = 0; i < files.length; i++) index.set((files[i] as FileEntry).path, i)
    this.duplicates = index.size !== files.length
    this.files = files
    this.index = index
    this.seen = new Uint8Array(files.length)
    const held = this.held
    this.held = []
    this.heldEntries = 0
    for (const batch of held) this.sort(batch)
  }

  /** Entries from the walk. */
  take(batch: WalkBatch): void {
    for (const error of batch.errors) this.unreadable.add(error.subject)
    if (batch.records) this.options.writer?.addEncoded(batch.records, batch.recordCaps ?? [])
    if (batch.verdicts) batch = this.takeMatched(batch)
    if (batch.entries.length === 0) return
    if (this.files) {
      this.sort(batch)
      return
    }
    this.held.push(batch)
    this.heldEntries += batch.entries.length
    if (this.heldEntries > HOLD_LIMIT) this.loadSoon()
  }

  /**
   * The drift items of the files, given the manifest entries that cache verdicts marked: what
   * was observed to differ, and what was expected and neither observed nor marked.
   */
  finish(marks?: Uint8Array): DriftItem[] {
    if (!this.files) {
      if (this.heldEntries === 0 && marks && allMarked(marks, this.source.fileCount)) return []
      this.loadUnmarked(marks)
    }
    const files = this.files as FileEntry[]
    const index = this.index as Map<string, number>
    const seen = this.seen as Uint8Array
    const expected: FileEntry[] = []
    for (const o of this.differing) {
      const i = index.get(o.path)
      if (i !== undefined) expected.push(files[i] as FileEntry)
    }
    for (let i = 0; i < files.length; i++) {
      if (seen[i] || marks?.[this.numberOf(i)]) continue
      const e = files[i] as FileEntry
      // A path listed twice counts once, as its last entry (as the comparison reads it).
      if (!this.duplicates || index.get(e.path) === i) expected.push(e)
    }
    return compareFiles(expected, this.differing, this.policy, {
      complete: this.options.complete,
      unreadable: this.unreadable,
    })
  }

  /**
   * The packages the manifest says own these paths, where it says so. Only paths of file drift
   * items are asked for, and an entry that was not parsed was marked: no such item names it
   * (nor any, when `finish` parsed none).
   */
  expectedOwners(paths: Iterable<string>): Map<string, string> {
    const owners = new Map<string, string>()
    const { files, index } = this
    if (!files || !index) return owners
    for (const path of paths) {
      const i = index.get(path)
      const owner = i === undefined ? undefined : files[i]?.package
      if (owner) owners.set(path, owner)
    }
    return owners
  }

  /** Parses the manifest entries no cache verdict marked (all of them when it cannot). */
  private loadUnmarked(marks: Uint8Array | undefined): void {
    if (marks && marks.length === this.source.fileCount && this.source.filesAt) {
      const numbers: number[] = []
      for (let i = marks.indexOf(0); i !== -1; i = marks.indexOf(0, i + 1)) numbers.push(i)
      const some = this.source.filesAt(numbers)
      if (some) {
        this.install(some, numbers)
        return
      }
    }
    this.load()
  }

  /** The manifest's number of the i-th entry parsed. */
  private numberOf(i: number): number {
    return this.numbers ? (this.numbers[i] as number) : i
  }

  /**
   * Learns the entries the walk found to be exactly a manifest entry (they are marked, and need
   * not be compared) and returns the others, to be sorted.
   */
  private takeMatched(batch: WalkBatch): WalkBatch {
    const { entries, stats, verdicts } = batch as Required<WalkBatch>
    const rest: FileEntry[] = []
    const restStats: Float64Array[] = []
    for (let k = 0; k < entries.length; k++) {
      const verdict = verdicts[k] as number
      if (verdict < 0) {
        rest.push(entries[k] as FileEntry)
        if (stats) restStats.push(stats.subarray(k * STAT_FIELDS, (k + 1) * STAT_FIELDS))
      } else if (stats && stats[k * STAT_FIELDS + ST.errno] === 0) {
        this.learn(entries[k] as FileEntry, verdict, stats, k)
      }
    }
    if (!stats) return { entries: rest, errors: [] }
    const packed = new Float64Array(rest.length * STAT_FIELDS)
    for (let j = 0; j < restStats.length; j++) packed.set(restStats[j] as Float64Array, j * STAT_FIELDS)
    return { entries: rest, errors: [], stats: packed }
  }

  private sort(batch: WalkBatch): void {
    const files = this.files as FileEntry[]
    const index = this.index as Map<string, number>
    const seen = this.seen as Uint8Array
    const { stats } = batch
    for (let k = 0; k < batch.entries.length; k++) {
      const o = batch.entries[k] as FileEntry
      const i = index.get(o.path)
      const unreadable = this.unreadable.size > 0 && this.unreadable.has(o.path)
      let verdict = -1
      if (i !== undefined) {
        seen[i] = 1
        if (!unreadable && identicalEntry(files[i] as FileEntry, o)) verdict = this.numberOf(i)
      }
      if (verdict < 0) this.differing.push(o)
      if (stats && !unreadable && stats[k * STAT_FIELDS + ST.errno] === 0) this.learn(o, verdict, stats, k)
    }
  }

  /** What the next quick scan should know of an entry: its verdict, and a file's digest. */
  private learn(o: FileEntry, verdict: number, stats: Float64Array, k: number): void {
    const { writer, cache } = this.options
    if (!writer) return
    const content = recordContent(
      o,
      verdict,
      o.type === 'file' && this.matcher.attributesOf(o.path).has('caps'),
    )
    if (!content) return
    const fsPath = joinRoot(this.options.rootDir, o.path)
    const known = cache?.cache.find(fsPath, stats, k * STAT_FIELDS)
    if (cache && known && cache.cache.says(known.record, content)) cache.hits[known.record] = 1
    else writer.add(fsPath, stats, k * STAT_FIELDS, content)
  }
}

function allMarked(marks: Uint8Array, count: number): boolean {
  if (marks.length !== count) return false
  return marks.indexOf(0) === -1
}
