import { createHash, type KeyObject } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { describeZodError } from '../config/load.js'
import { DriftwatchError } from '../errors.js'
import { writeFileAtomic } from '../util/atomic.js'
import { canonicalJson, digestOf, sha256Digest } from './canonical.js'
import { buildEntryIndex, type EntryIndex } from './entry-index.js'
import { arrayElements, outlineObject } from './outline.js'
import { readManifestBytes } from './read.js'
import { type FileEntry, type Manifest, ManifestSchema } from './schema.js'
import { type Signature, signatureFileFor, signDigest, verifySignatureFile } from './signature.js'

/** The digest of a manifest: sha256 over its canonical JSON without the `digest` field itself. */
export function manifestDigest(manifest: Manifest): string {
  const { digest: _ignored, ...content } = manifest
  return digestOf(content)
}

/**
 * Serializes a manifest: its digest first, then the canonical JSON of the content. Putting the
 * digest in front (rather than in sorted place) lets a reader check it over the bytes as they
 * are, without rebuilding the canonical form. Gzipped when the name ends in .gz.
 */
export function encodeManifest(manifest: Manifest, file?: string): Buffer {
  const { digest: _ignored, ...content } = manifest
  const canonical = canonicalJson(content)
  const text = `{"digest":${JSON.stringify(sha256Digest(canonical))},${canonical.slice(1)}\n`
  return file?.endsWith('.gz') ? gzipSync(text) : Buffer.from(text)
}

const DIGEST_PREFIX = Buffer.from('{"digest":"sha256:')

/**
 * The digest of a manifest file's content when the file is exactly as `encodeManifest` wrote
 * it: sha256 over the bytes after the digest member. If that matches the recorded digest, the
 * bytes are the canonical form the capture hashed (anything else would be a sha256 collision).
 * Hashes the bytes where they are: a manifest can be tens of megabytes.
 */
function digestOfEncoded(data: Buffer): { recorded: string; computed: string } | undefined {
  if (!data.subarray(0, DIGEST_PREFIX.length).equals(DIGEST_PREFIX)) return undefined
  const end = DIGEST_PREFIX.length + 64
  if (data.toString('latin1', end, end + 2) !== '",') return undefined
  let last = data.length
  while (last > end && (data[last - 1] === 0x0a || data[last - 1] === 0x20 || data[last - 1] === 0x0d)) last--
  const hash = createHash('sha256')
    .update('{')
    .update(data.subarray(end + 2, last))
  return {
    recorded: `sha256:${data.toString('latin1', DIGEST_PREFIX.length, end)}`,
    computed: `sha256:${hash.digest('hex')}`,
  }
}

export function writeManifest(file: string, manifest: Manifest): string {
  writeFileAtomic(file, encodeManifest(manifest, file))
  return manifestDigest(manifest)
}

/** Writes a manifest and, given a private key, its detached signature `FILE.sig`. */
export function writeSignedManifest(
  file: string,
  manifest: Manifest,
  privateKey: KeyObject | undefined,
): { digest: string; signatureFile?: string } {
  const digest = writeManifest(file, manifest)
  if (!privateKey) return { digest }
  const signatureFile = signatureFileFor(file)
  writeFileAtomic(signatureFile, `${JSON.stringify(signDigest(digest, privateKey), null, 2)}\n`)
  return { digest, signatureFile }
}

/** The public key a manifest must be signed with, and where its detached signature is. */
export interface ManifestKey {
  publicKey: KeyObject
  /** `FILE.sig` by default (see signatureFileFor). */
  signatureFile: string
}

/**
 * Reads a manifest (plain or gzipped, told by its first bytes), checks it, and validates it.
 * Its digest, and with `key` its signature, are checked over the bytes before anything parses
 * them (see verifyBytes). A file that is not a manifest is INPUT_INVALID (exit 2) naming
 * where it breaks; a manifest whose digest or signature does not match is INTEGRITY (exit 3).
 */
export function readManifest(
  file: string,
  key?: ManifestKey,
): { manifest: Manifest; digest: string; signature?: Signature } {
  const data = readManifestBytes(file)
  const verified = verifyBytes(file, data, key)
  return {
    ...parseManifest(file, data, verified?.digest),
    ...(verified?.signature ? { signature: verified.signature } : {}),
  }
}

/**
 * Checks a manifest's bytes before they are parsed. A manifest as `encodeManifest` wrote it
 * carries its digest first, and sha256 over the bytes after it is that digest (or the file
 * was changed); with `key`, the detached signature must sign that digest. Parsing happens
 * only after both hold, so neither the JSON parser nor anything after it ever reads bytes
 * that a signature did not vouch for. A manifest in any other form (written by hand, or
 * re-formatted) has no digest over its bytes: without a key it is parsed and its canonical
 * form hashed (see parseManifest); with a key it is refused, since its signature could only
 * be checked after parsing. Returns the digest checked, or undefined for that other form.
 */
function verifyBytes(
  file: string,
  data: Buffer,
  key: ManifestKey | undefined,
): { digest: string; signature?: Signature } | undefined {
  const fast = digestOfEncoded(data)
  if (fast && fast.recorded !== fast.computed) {
    // Written as encodeManifest writes but changed since: unless only its form changed (which
    // parseManifest tells, when no key asks for the bytes themselves), its content did.
    if (key) throw digestMismatch(file, fast.computed, fast.recorded)
    return undefined
  }
  if (!fast) {
    if (!key) return undefined
    throw new DriftwatchError(
      'INTEGRITY',
      `${file}: not in the form driftwatch writes (its digest first, then its canonical JSON), so its signature cannot be checked before it is read`,
      {
        hint: 'use the manifest exactly as `manifest capture` or `manifest import` wrote it; re-formatting it changes its bytes',
      },
    )
  }
  if (!key) return { digest: fast.computed }
  return {
    digest: fast.computed,
    signature: verifySignatureFile(key.signatureFile, fast.computed, key.publicKey),
  }
}

function digestMismatch(file: string, computed: string, recorded: string): DriftwatchError {
  return new DriftwatchError(
    'INTEGRITY',
    `${file}: content digest ${computed} does not match the recorded ${recorded}`,
    {
      hint: "the manifest was changed after capture: use the image's original manifest, or capture it again",
    },
  )
}

/** A manifest read for a scan: checked and parsed but for its files, which come when asked for. */
export interface ManifestSource {
  /** `sha256:<hex>`, checked over the manifest's bytes. */
  digest: string
  /** Everything but the files, validated. */
  head: Omit<Manifest, 'files'>
  /** How many file entries the manifest holds. */
  fileCount: number
  /** The file entries, parsed and validated on the first call (errors as `readManifest`'s). */
  files(): FileEntry[]
  /**
   * The same, parsed a slice at a time with the event loop let run between slices: a thread
   * that hands out work to others can go on doing it meanwhile.
   */
  loadFiles(): Promise<FileEntry[]>
  /**
   * Only the file entries numbered `indices`, parsed and validated alone: a quick scan needs
   * just the few that no scan cache verdict vouched for. Undefined when the entries cannot be
   * told apart in the bytes (then `files()` reads them all, and says what is wrong).
   */
  filesAt?(indices: readonly number[]): FileEntry[] | undefined
  /**
   * The file entries indexed by path in shared memory, for walk workers to match what they
   * record against (made in the thread pool on the first call); undefined for a manifest not
   * as `encodeManifest` wrote it, or that lists a path twice.
   */
  entryIndex?(): Promise<EntryIndex | undefined>
}

/**
 * Reads a manifest as `readManifest` does, with the same checks (the digest and, with `key`,
 * the signature over the bytes before any parsing) and errors, but leaves its file entries
 * unparsed until they are asked for: a scan that a cache tells nothing changed never needs
 * them, and one that does can start walking first. Only a manifest as `encodeManifest` wrote
 * it (its digest first, checked over the bytes) is read this way; anything else is read and
 * checked whole. `bytes`: the file's bytes, already read (see readManifestBytesAsync).
 */
export function openManifest(file: string, bytes?: Buffer, key?: ManifestKey): ManifestSource {
  const data = bytes ?? readManifestBytes(file)
  const verified = verifyBytes(file, data, key)
  const lazy = verified ? openEncoded(file, data, verified.digest) : undefined
  if (lazy) return lazy
  const { manifest, digest } = parseManifest(file, data, verified?.digest)
  const { files, ...head } = manifest
  return { digest, head, fileCount: files.length, files: () => files, loadFiles: async () => files }
}

/** File entries parsed at once when a manifest's are parsed a slice at a time. */
const ENTRIES_PER_SLICE = 4096

/** A manifest whose bytes hash to `digest`, the digest they record, opened lazily; undefined when in doubt. */
function openEncoded(file: string, data: Buffer, digest: string): ManifestSource | undefined {
  // Where each top-level member is, without parsing the files; any doubt takes the whole path.
  const outline = outlineObject(data)
  if (!outline) return undefined
  const seen = new Set<string>()
  let files: { start: number; end: number; count: number } | undefined
  for (const member of outline) {
    const key = data.toString('latin1', member.keyStart, member.keyEnd)
    // An escaped key could name a member twice in different spellings.
    if (key.includes('\\') || seen.has(key)) return undefined
    seen.add(key)
    if (key === '"files"') files = { start: member.valueStart, end: member.valueEnd, count: member.count }
  }
  if (!files || files.count < 0) return undefined
  let parsed: Record<string, unknown>
  try {
    // The bytes around the files split at ASCII brackets, so decoding the parts decodes the whole.
    parsed = JSON.parse(
      `${data.toString('utf8', 0, files.start)}[]${data.toString('utf8', files.end)}`,
    ) as Record<string, unknown>
  } catch {
    return undefined
  }
  const result = ManifestSchema.safeParse(parsed)
  if (!result.success || result.data.digest !== digest) return undefined
  const { files: _empty, ...head } = result.data
  const span = files
  let bytes: Buffer | undefined = data
  let entries: FileEntry[] | undefined
  let spans: Float64Array | null | undefined
  let index: Promise<EntryIndex | undefined> | undefined
  // Where each file entry's text is; null when the array is not as expected.
  const entrySpans = (source: Buffer) => {
    spans ??= arrayElements(source, span.start, span.end)
    return spans && spans.length / 2 === span.count ? spans : null
  }
  // Parses the files a slice at a time (the text of all of them is never in memory at once),
  // pausing after each; anything wrong is said as a whole read says it, where it is in the file.
  function* parse(): Generator<void, FileEntry[]> {
    if (entries) return entries
    const source = bytes as Buffer
    const whole = () => parseManifest(file, source, digest).manifest.files
    const spans = entrySpans(source)
    if (!spans) return whole()
    const out: FileEntry[] = []
    for (let first = 0; first < span.count; first += ENTRIES_PER_SLICE) {
      const last = Math.min(first + ENTRIES_PER_SLICE, span.count) - 1
      let list: unknown
      try {
        list = JSON.parse(`[${source.toString('utf8', spans[2 * first], spans[2 * last + 1])}]`)
      } catch {
        return whole()
      }
      const checked = ManifestSchema.shape.files.safeParse(list)
      if (!checked.success || checked.data.length !== last - first + 1) return whole()
      for (const entry of checked.data) out.push(entry)
      yield
    }
    entries = out
    // The workers of a scan may be reading the bytes through the index.
    if (!index) bytes = undefined
    return out
  }
  return {
    digest,
    head,
    fileCount: span.count,
    files: () => {
      const steps = parse()
      for (;;) {
        const step = steps.next()
        if (step.done) return step.value
      }
    },
    loadFiles: async () => {
      const steps = parse()
      for (;;) {
        const step = steps.next()
        if (step.done) return step.value
        await new Promise((resolve) => setImmediate(resolve))
      }
    },
    filesAt: (indices) => {
      if (entries) return indices.map((i) => (entries as FileEntry[])[i] as FileEntry)
      const source = bytes
      const spans = source && entrySpans(source)
      if (!source || !spans) return undefined
      const texts = indices.map((i) => source.toString('utf8', spans[2 * i], spans[2 * i + 1]))
      let list: unknown
      try {
        list = JSON.parse(`[${texts.join(',')}]`)
      } catch {
        return undefined
      }
      const checked = ManifestSchema.shape.files.safeParse(list)
      return checked.success && checked.data.length === indices.length ? checked.data : undefined
    },
    entryIndex: () => {
      index ??= (async () => {
        if (!bytes) return undefined
        // Into shared memory, where the walk's workers read the entries through the index.
        const built = await buildEntryIndex(bytes, span.start, span.end, span.count)
        if (built) bytes = built.shared
        return built?.index
      })()
      return index
    },
  }
}

/**
 * Parses and validates a manifest's bytes. `verified`: the digest verifyBytes checked over
 * them; without it (a manifest not in the form encodeManifest writes), the digest is that
 * of the canonical form of what was parsed, and must be the one the manifest records, if any.
 */
function parseManifest(
  file: string,
  data: Buffer,
  verified?: string,
): { manifest: Manifest; digest: string } {
  const text = data.toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new DriftwatchError('INPUT_INVALID', `${file}: ${jsonErrorPlace(text, error)}`, {
      hint: 'the manifest is corrupt or truncated: copy it again from where it was captured',
    })
  }
  // The digest it records is checked before its content is judged: content changed under a
  // digest is an integrity failure (exit 3), whatever the change made of it.
  if (
    typeof parsed === 'object' &&
    parsed !== null &&
    !Array.isArray(parsed) &&
    typeof (parsed as { digest?: unknown }).digest === 'string'
  ) {
    const recorded = (parsed as { digest: string }).digest
    const computed = verified ?? digestOfParsed(parsed)
    if (recorded !== computed) throw digestMismatch(file, computed, recorded)
  }
  const result = ManifestSchema.safeParse(parsed)
  if (!result.success) {
    throw new DriftwatchError('INPUT_INVALID', describeZodError(file, result.error), {
      hint: 'this is not a driftwatch.manifest/v1 document, or it was edited by hand',
    })
  }
  const manifest = result.data
  // Hand-written or re-formatted manifests take the slow path: canonicalize, then hash.
  const digest = verified ?? digestOfParsed(parsed)
  if (manifest.digest !== undefined && manifest.digest !== digest)
    throw digestMismatch(file, digest, manifest.digest)
  return { manifest, digest }
}

/** The digest of a manifest as written (before defaults are filled in), without its digest member. */
function digestOfParsed(parsed: unknown): string {
  const { digest: _ignored, ...content } = parsed as Record<string, unknown>
  return digestOf(content)
}

/** "line 3 column 14: Unexpected token" from a JSON.parse error, or "ends early" for a truncated file. */
export function jsonErrorPlace(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  const match = /position (\d+)/.exec(message)
  if (!match) {
    if (/Unexpected end|Unterminated/.test(message))
      return `not valid JSON: it ends early at line ${lineCol(text, text.length)} (truncated?)`
    return `not valid JSON (${message})`
  }
  const position = Number(match[1])
  return `not valid JSON at line ${lineCol(text, position)}: ${message.replace(/ in JSON at position \d+.*$/, '')}`
}

function lineCol(text: string, position: number): string {
  let line = 1
  let lineStart = 0
  for (let i = 0; i < position && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      lineStart = i + 1
    }
  }
  return `${line} column ${position - lineStart + 1}`
}
