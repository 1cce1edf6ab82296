import { randomUUID } from 'node:crypto'
import type { Policy } from '../config/policy.js'
import { compareFiles, severityRank, summarize } from '../drift/compare.js'
import { digestOf } from '../manifest/canonical.js'
import { MANIFEST_SCHEMA, type Manifest } from '../manifest/schema.js'
import { saveStatCache, statCacheFile } from '../probes/files/stat-cache.js'
import { byPath, type ProbeError, type WalkProgress, walkFiles } from '../probes/files/walk.js'
import { type ProbeRun, REPORT_SCHEMA, type Report } from '../protocol/report.js'
import { hostIdentity } from './root.js'

/** Probe errors listed in a report; the rest are counted. */
const MAX_LISTED_ERRORS = 100

export interface CaptureOptions {
  rootDir: string
  policy: Policy
  image: { id: string; version: string }
  source?: Record<string, unknown>
  onProgress?: (progress: WalkProgress) => void
  now?: () => Date
}

export interface CaptureResult {
  manifest: Manifest
  files: number
  bytesHashed: number
  errors: ProbeError[]
}

/** Records an image: walks its root by the policy and returns the manifest (not yet written). */
export async function captureManifest(options: CaptureOptions): Promise<CaptureResult> {
  const now = options.now ?? (() => new Date())
  const walk = await walkFiles({
    rootDir: options.rootDir,
    policy: options.policy,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  })
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    image: {
      ...options.image,
      capturedAt: now().toISOString(),
      source: { root: options.rootDir, ...options.source },
    },
    policy: options.policy,
    files: walk.entries.sort(byPath),
    packages: [],
    config: [],
  }
  return { manifest, files: walk.entries.length, bytesHashed: walk.bytesHashed, errors: walk.errors }
}

export interface ScanOptions {
  rootDir: string
  manifest: Manifest
  manifestDigest: string
  mode: 'full' | 'quick'
  /** Where quick mode keeps its stat cache; full mode refreshes it when given. */
  stateDir?: string
  labels?: Record<string, string>
  onProgress?: (progress: WalkProgress) => void
  now?: () => Date
}

export interface ScanResult {
  report: Report
  /** What became of the stat cache: loaded, absent, or discarded and why. */
  cache: string
}

/** Fingerprints a host against a manifest and returns the drift report. */
export async function scanHost(options: ScanOptions): Promise<ScanResult> {
  const now = options.now ?? (() => new Date())
  const startedAt = now()
  const started = performance.now()
  const { manifest } = options
  const cacheFile = options.stateDir
    ? statCacheFile(options.stateDir, options.rootDir, digestOf(manifest.policy))
    : undefined

  const filesStarted = performance.now()
  const walk = await walkFiles({
    rootDir: options.rootDir,
    policy: manifest.policy,
    ...(options.mode === 'quick' && cacheFile ? { cacheFile } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  })
  const unreadable = new Set(walk.errors.map((e) => e.subject))
  const drift = compareFiles(manifest.files, walk.entries, manifest.policy, {
    complete: !isDeclared(manifest),
    unreadable,
  })
  const filesRun: ProbeRun = {
    name: 'files',
    ok: true,
    durationMs: Math.round(performance.now() - filesStarted),
    ...(walk.errors.length
      ? { errors: walk.errors.slice(0, MAX_LISTED_ERRORS), errorCount: walk.errors.length }
      : {}),
  }
  // Nothing new learned from a loaded cache: it stays as it is (stale records never match).
  if (cacheFile && !(walk.cache.state === 'loaded' && walk.freshDigests === 0))
    saveStatCache(cacheFile, walk.digests)

  drift.sort(
    (a, b) =>
      severityRank(a.severity) - severityRank(b.severity) ||
      (a.subject < b.subject ? -1 : a.subject > b.subject ? 1 : 0),
  )
  const report: Report = {
    schema: REPORT_SCHEMA,
    reportId: randomUUID(),
    host: { ...hostIdentity(options.rootDir), labels: options.labels ?? {} },
    image: { id: manifest.image.id, version: manifest.image.version, manifestDigest: options.manifestDigest },
    scan: {
      mode: options.mode,
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(performance.now() - started),
      files: walk.files,
      bytesHashed: walk.bytesHashed,
      probes: [filesRun],
    },
    drift,
    summary: summarize(drift),
  }
  const cache = walk.cache.state === 'discarded' ? `discarded (${walk.cache.reason})` : walk.cache.state
  return { report, cache }
}

/** A manifest written by hand or imported states only some attributes: absent means unchecked. */
export function isDeclared(manifest: Manifest): boolean {
  return manifest.image.source?.declared === true
}
