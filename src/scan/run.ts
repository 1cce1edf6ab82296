import { randomUUID } from 'node:crypto'
import { PathMatcher } from '../config/path-matcher.js'
import type { Policy } from '../config/policy.js'
import { FileComparer, severityRank, summarize } from '../drift/compare.js'
import { compareConfig } from '../drift/config.js'
import { attributeFileChanges, comparePackages } from '../drift/packages.js'
import { digestOf } from '../manifest/canonical.js'
import { type FileEntry, MANIFEST_SCHEMA, type Manifest } from '../manifest/schema.js'
import { collectConfig } from '../probes/config.js'
import { saveStatCache, statCacheFile } from '../probes/files/stat-cache.js'
import { byPath, type ProbeError, type WalkProgress, walkFiles } from '../probes/files/walk.js'
import { collectPackages, packageOwners } from '../probes/packages.js'
import type { ProbeContext } from '../probes/types.js'
import { verifyPackages } from '../probes/verify.js'
import { type DriftItem, type ProbeRun, REPORT_SCHEMA, type Report } from '../protocol/report.js'
import { compareCodeUnits } from '../util/compare.js'
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
  /** Package and configuration probes, with any that failed. */
  runs: ProbeRun[]
}

/**
 * Records an image: its files by the policy, its packages and its configuration keys, and
 * returns the manifest (not yet written). Each file owned by a package names it, so a scan
 * can tell a package's files from tampering.
 */
export async function captureManifest(options: CaptureOptions): Promise<CaptureResult> {
  const now = options.now ?? (() => new Date())
  const { rootDir, policy } = options
  const context = probeContext(rootDir)
  const walk = await walkFiles({
    rootDir,
    policy,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  })
  const inventory = await collectPackages(context, policy.packages)
  const config = await collectConfig(context, policy.config)
  if (inventory.packages.length > 0) {
    const owners = packageOwners(context, policy.packages)
    for (const entry of walk.entries) {
      const owner = owners.get(entry.path)
      if (owner) entry.package = owner
    }
  }
  const manifest: Manifest = {
    schema: MANIFEST_SCHEMA,
    image: {
      ...options.image,
      capturedAt: now().toISOString(),
      source: { root: rootDir, ...options.source },
    },
    policy,
    files: walk.entries.sort(byPath),
    packages: inventory.packages,
    config: config.entries,
  }
  return {
    manifest,
    files: walk.files,
    bytesHashed: walk.bytesHashed,
    errors: walk.errors,
    runs: [...inventory.runs, ...config.runs],
  }
}

export interface ScanOptions {
  rootDir: string
  manifest: Manifest
  manifestDigest: string
  mode: 'full' | 'quick'
  /** Where quick mode keeps its stat cache; full mode refreshes it when given. */
  stateDir?: string
  labels?: Record<string, string>
  /** Also check every package-owned file against the package manager's digests. */
  verifyPackages?: boolean
  onProgress?: (progress: WalkProgress) => void
  now?: () => Date
}

export interface ScanResult {
  report: Report
  /** What became of the stat cache: loaded, absent, or discarded and why. */
  cache: string
}

/**
 * Fingerprints a host against a manifest and returns the drift report: files (compared as
 * the walk yields them), packages and configuration keys. A probe that fails is reported in
 * `scan.probes` and never voids the rest.
 */
export async function scanHost(options: ScanOptions): Promise<ScanResult> {
  const now = options.now ?? (() => new Date())
  const startedAt = now()
  const started = performance.now()
  const { manifest, rootDir } = options
  const { policy } = manifest
  const context = probeContext(rootDir)
  const complete = !isDeclared(manifest)
  const cacheFile = options.stateDir ? statCacheFile(options.stateDir, rootDir, digestOf(policy)) : undefined

  // The walk starts first: its workers boot on other cores while this thread indexes the
  // manifest's files, and their first answers wait in the queue until it is done.
  let comparer: FileComparer | undefined
  const early: [FileEntry[], ProbeError[]][] = []
  const observe = (entries: FileEntry[], errors: ProbeError[]) => {
    const unreadable = new Set(errors.map((e) => e.subject))
    for (const entry of entries) comparer?.observe(entry, unreadable.has(entry.path))
  }
  const walking = walkFiles({
    rootDir,
    policy,
    ...(options.mode === 'quick' && cacheFile ? { cacheFile } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    onEntries: (entries, errors) => (comparer ? observe(entries, errors) : early.push([entries, errors])),
  })
  comparer = new FileComparer(manifest.files, policy, { complete })
  for (const [entries, errors] of early) observe(entries, errors)
  const walk = await walking
  const filesRun: ProbeRun = {
    name: 'files',
    ok: true,
    durationMs: Math.round(performance.now() - started),
    ...(walk.errors.length
      ? { errors: walk.errors.slice(0, MAX_LISTED_ERRORS), errorCount: walk.errors.length }
      : {}),
  }
  // Nothing new learned from a loaded cache: it stays as it is (stale records never match).
  if (cacheFile && !(walk.cache.state === 'loaded' && walk.freshDigests === 0))
    saveStatCache(cacheFile, walk.digests)

  const inventory = await collectPackages(context, policy.packages)
  const config = await collectConfig(context, policy.config)
  const drift: DriftItem[] = [
    ...comparePackages(manifest.packages, inventory.packages, policy.packages.severity, { complete }),
    ...comparer.finish(),
    ...compareConfig(manifest.config, config.entries, policy.config, { complete }),
  ]
  const runs = [filesRun, ...inventory.runs, ...config.runs]
  if (options.verifyPackages) runs.push(await addPackageVerification(context, manifest, drift))
  if (drift.some((item) => item.kind === 'package')) {
    const expectedOwners = new Map<string, string>()
    for (const f of manifest.files) if (f.package) expectedOwners.set(f.path, f.package)
    attributeFileChanges(drift, {
      observed: packageOwners(context, policy.packages),
      expected: expectedOwners,
    })
  }
  drift.sort(
    (a, b) => severityRank(a.severity) - severityRank(b.severity) || compareCodeUnits(a.subject, b.subject),
  )

  const report: Report = {
    schema: REPORT_SCHEMA,
    reportId: randomUUID(),
    host: { ...hostIdentity(rootDir), labels: options.labels ?? {} },
    image: { id: manifest.image.id, version: manifest.image.version, manifestDigest: options.manifestDigest },
    scan: {
      mode: options.mode,
      startedAt: startedAt.toISOString(),
      durationMs: Math.round(performance.now() - started),
      files: walk.files,
      bytesHashed: walk.bytesHashed,
      probes: runs,
    },
    drift,
    summary: summarize(drift),
  }
  const cache = walk.cache.state === 'discarded' ? `discarded (${walk.cache.reason})` : walk.cache.state
  return { report, cache }
}

/**
 * Adds what package verification finds: a package-owned file changed behind the package
 * manager's back, even outside the paths the policy watches. A file the files probe already
 * reported is only given its package's name.
 */
async function addPackageVerification(
  context: ProbeContext,
  manifest: Manifest,
  drift: DriftItem[],
): Promise<ProbeRun> {
  const started = performance.now()
  const matcher = new PathMatcher(manifest.policy.files)
  const { findings, errors } = await verifyPackages(context, manifest.policy.packages)
  const reported = new Map(drift.filter((i) => i.kind === 'file').map((i) => [i.subject, i]))
  for (const f of findings) {
    const existing = reported.get(f.path)
    if (existing) {
      existing.package ??= f.subject
      continue
    }
    drift.push({
      kind: 'file',
      change: f.kind === 'missing' ? 'removed' : 'modified',
      subject: f.path,
      ...(f.kind === 'modified' ? { attributes: ['sha256'] } : {}),
      package: f.subject,
      severity: matcher.severityOf(f.path),
    })
  }
  return {
    name: 'package-files',
    ok: true,
    durationMs: Math.round(performance.now() - started),
    ...(errors.length
      ? {
          errors: errors
            .slice(0, MAX_LISTED_ERRORS)
            .map((e) => ({ subject: e.path, message: `${e.subject}: ${e.message}` })),
          errorCount: errors.length,
        }
      : {}),
  }
}

/** A manifest written by hand or imported states only some attributes: absent means unchecked. */
export function isDeclared(manifest: Manifest): boolean {
  return manifest.image.source?.declared === true
}

/** Every host read goes through the root; `/` is the running system, so live values may be read too. */
function probeContext(rootDir: string): ProbeContext {
  return { rootDir, live: rootDir === '/' }
}
