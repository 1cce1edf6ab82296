import { createHash, type KeyObject } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { gunzipSync, gzipSync } from 'node:zlib'
import { describeZodError } from '../config/load.js'
import { DriftwatchError, errnoCode } from '../errors.js'
import { writeFileAtomic } from '../util/atomic.js'
import { canonicalJson, digestOf, sha256Digest } from './canonical.js'
import { type Manifest, ManifestSchema } from './schema.js'
import { signatureFileFor, signDigest } from './signature.js'

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b])

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

/**
 * Reads a manifest (plain or gzipped, told by its first bytes), validates it, and checks its
 * digest. A file that is not a manifest is INPUT_INVALID (exit 2) naming where it breaks; a
 * manifest whose recorded digest does not match its content is INTEGRITY (exit 3).
 */
export function readManifest(file: string): { manifest: Manifest; digest: string } {
  let data: Buffer
  try {
    data = readFileSync(file)
  } catch (error) {
    const code = errnoCode(error)
    throw new DriftwatchError(
      code === 'ENOENT' ? 'NOT_FOUND' : 'IO',
      `${file}: cannot read manifest (${code ?? String(error)})`,
      {
        hint: 'check the path; make one with `driftwatch manifest capture`',
      },
    )
  }
  if (data.subarray(0, 2).equals(GZIP_MAGIC)) {
    try {
      data = gunzipSync(data)
    } catch (error) {
      throw new DriftwatchError(
        'INPUT_INVALID',
        `${file}: gzip data is corrupt or truncated (${errnoCode(error) ?? 'unreadable'})`,
        {
          hint: 'copy the manifest again from where it was captured',
        },
      )
    }
  }
  const fast = digestOfEncoded(data)
  const text = data.toString('utf8')
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch (error) {
    throw new DriftwatchError('INPUT_INVALID', `${file}: ${jsonErrorPlace(text, error)}`, {
      hint: 'the manifest is corrupt or truncated: copy it again from where it was captured',
    })
  }
  const result = ManifestSchema.safeParse(parsed)
  if (!result.success) {
    throw new DriftwatchError('INPUT_INVALID', describeZodError(file, result.error), {
      hint: 'this is not a driftwatch.manifest/v1 document, or it was edited by hand',
    })
  }
  const manifest = result.data
  // Hand-written or re-formatted manifests take the slow path: canonicalize, then hash.
  const digest = fast && fast.recorded === fast.computed ? fast.computed : digestOfParsed(parsed)
  if (manifest.digest !== undefined && manifest.digest !== digest) {
    throw new DriftwatchError(
      'INTEGRITY',
      `${file}: content digest ${digest} does not match the recorded ${manifest.digest}`,
      {
        hint: "the manifest was changed after capture: use the image's original manifest, or capture it again",
      },
    )
  }
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
