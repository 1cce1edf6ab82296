import { randomUUID } from 'node:crypto'
import { PathMatcher } from '../config/path-matcher.js'
import type { FileAttribute, Policy } from '../config/policy.js'
import { severityRank, summarize } from '../drift/compare.js'
import { compareConfig, explainFileChanges } from '../drift/config.js'
import { attributeFileChanges, comparePackages } from '../drift/packages.js'
import type { ManifestSource } from '../manifest/io.js'
import { MANIFEST_SCHEMA, type Manifest } from '../manifest/schema.js'
import { nativeBinding } from '../native/fsprobe.js'
import type { CacheStatus } from '../probes/files/protocol.js'
import { CacheWriter, StatCache, statCacheFile } from '../probes/files/stat-cache.js'
import {
  byPath,
  type ProbeError,
  type WalkCache,
  type Walkers,
  type WalkIndex,
  type WalkProgress,
  walkFiles,
} from '../probes/files/walk.js'
import type { ProbeContext } from '../probes/types.js'
import { type DriftItem, type ProbeRun, REPORT_SCHEMA, type Report } from '../protocol/report.js'
import { compareCodeUnits } from '../util/compare.js'
import { FileCheck } from './file-check.js'
import { withOwnersResolved } from './owners.js'
import { hostIdentity } from './root.js'

/** Probe errors listed in a report; the rest are counted. */
const MAX_LISTED_ERRORS = 100

/**
 * The package and configuration probes' modules, loaded when first needed: a scan starts its
 * walk before it has loaded them (they are tens of milliseconds of module loading).
 */
let probeModules:
  | Promise<{
      packages: typeof import('../probes/packages/registry.js')
      config: typeof import('../probes/config.js')
    }>
  | undefined
function loadProbes() {
  probeModules ??= Promise.all([
    import('../probes/packages/registry.js'),
    import('../probes/config.js'),
  ]).then(([packages, config]) => ({ packages, config }))
  return probeModules
}

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
  const { rootDir } = options
  const policy = readablePolicy(options.policy)
  const context = probeContext(rootDir)
  const walk = await walkFiles({
    rootDir,
    policy,
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  })
  const probes = await loadProbes()
  const inventory = await probes.packages.collectPackages(context, policy.packages)
  const config = await probes.config.collectConfig(context, policy.config)
  if (inventory.packages.length > 0) {
    const owners = probes.packages.packageOwners(context, policy.packages)
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
  /** The manifest, whole or as read by `openManifest` (its files parsed only if needed). */
  manifest: Manifest | ManifestSource
  manifestDigest: string
  mode: 'full' | 'quick'
  /** Where quick mode keeps its scan cache; full mode refreshes it when given. */
  stateDir?: string
  labels?: Record<string, string>
  /** Also check every package-owned file against the package manager's digests. */
  verifyPackages?: boolean
  onProgress?: (progress: WalkProgress) => void
  /** Walk workers started ahead, booted while the manifest was read (see startWalkers). */
  walkers?: Walkers
  /** At most so many bytes a second read to hash (agent.yaml: scan.hashBytesPerSecond). */
  hashBytesPerSecond?: number
  now?: () => Date
}

export interface ScanResult {
  report: Report
  /** How long the walk waited for the hash limit (its workers' waits added up). */
  hashWaitMs: number
  /** What became of the scan cache: loaded, absent, made for another manifest, or discarded and why. */
  cache: string
}

/**
 * Fingerprints a host against a manifest and returns the drift report: files (sorted as the
 * walk yields them), packages and configuration keys. A probe that fails is reported in
 * `scan.probes` and never voids the rest.
 *
 * A quick scan takes from the scan cache what it knew of each entry with the same stat at the
 * same path: the digest, and the verdict that it matched its manifest entry in every
 * attribute. A full scan reads everything and trusts nothing but the manifest.
 */
export async function scanHost(options: ScanOptions): Promise<ScanResult> {
  const now = options.now ?? (() => new Date())
  const startedAt = now()
  const started = performance.now()
  const { rootDir } = options
  // A declared manifest may name owners; the root says whose ids they are.
  const { source, drift: ownerDrift } = withOwnersResolved(
    toSource(options.manifest, options.manifestDigest),
    rootDir,
  )
  const { head } = source
  const policy = readablePolicy(head.policy)
  const context = probeContext(rootDir)
  const complete = !isDeclared(head)
  const cacheFile = options.stateDir ? statCacheFile(options.stateDir, rootDir) : undefined
  const cacheKey = { digest: options.manifestDigest, fileCount: source.fileCount }

  // One byte per manifest entry, set by the walk's workers for each entry they know to be
  // there unchanged: by a cache verdict, or by the manifest's entry index.
  const marks = new Uint8Array(new SharedArrayBuffer(source.fileCount))
  let cacheStatus: CacheStatus = { state: 'absent' }
  let cache: WalkCache | undefined
  if (options.mode === 'quick' && cacheFile) {
    const loaded = StatCache.load(cacheFile, cacheKey)
    cacheStatus = loaded.status
    if (loaded.shared) {
      cache = {
        shared: loaded.shared,
        marks,
        hits: new Uint8Array(new SharedArrayBuffer(loaded.shared.count)),
      }
    }
  }
  // Built in the thread pool while the walk starts (none for a manifest that cannot have
  // one). Not with a cache: its verdicts already spare the comparison of all that did not change.
  const index: Promise<WalkIndex | undefined> | undefined =
    source.entryIndex && !cache
      ? source.entryIndex().then(
          (entryIndex) => (entryIndex ? { index: entryIndex, marks } : undefined),
          // Only a speed-up: without it the comparison here reads every entry.
          () => undefined,
        )
      : undefined
  const loadedCache = cache ? StatCache.fromShared(cache.shared) : undefined
  const writer = cacheFile ? new CacheWriter(source.fileCount) : undefined
  const check = new FileCheck(source, policy, {
    rootDir,
    complete,
    ...(cache && loadedCache ? { cache: { cache: loadedCache, hits: cache.hits } } : {}),
    ...(writer ? { writer } : {}),
  })

  // The walk starts first: its workers boot on other cores while this thread parses the
  // manifest's files (unless a cache or the entry index may spare that), and their first
  // answers wait in the queue until it is done.
  const abort = new AbortController()
  const walking = walkFiles({
    rootDir,
    policy,
    ...(cache ? { cache } : {}),
    ...(index ? { index } : {}),
    withStats: writer !== undefined,
    ...(options.hashBytesPerSecond ? { hashBytesPerSecond: options.hashBytesPerSecond } : {}),
    signal: abort.signal,
    ...(options.walkers ? { walkers: options.walkers } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    onEntries: (batch) => check.take(batch),
  })
  // Without a cache or an entry index every entry is compared here: the manifest's files are
  // parsed now, a slice at a time so that this thread keeps handing out work. (Should the
  // index fail, entries pile up and start the parse too.) The other probes run meanwhile.
  if (!cache && !index) check.loadSoon()
  // After the index: until then this thread hands out the walk's first jobs, which would
  // wait on the probes' parsing.
  const probing = (index ?? Promise.resolve()).then(() => otherProbes(context, policy))
  // Both are awaited after the walk; a failure is not unhandled meanwhile.
  probing.catch(() => undefined)
  let walk: Awaited<typeof walking>
  try {
    walk = await walking
    await check.ready()
  } catch (error) {
    abort.abort()
    await walking.catch(() => undefined)
    throw error
  }
  const fileDrift = check.finish(marks)
  const filesRun: ProbeRun = {
    name: 'files',
    ok: true,
    durationMs: Math.round(performance.now() - started),
    ...(walk.errors.length
      ? { errors: walk.errors.slice(0, MAX_LISTED_ERRORS), errorCount: walk.errors.length }
      : {}),
  }
  if (cacheFile && writer) saveCache(cacheFile, cacheKey, writer, cache, loadedCache)

  const [inventory, config] = await probing
  const drift: DriftItem[] = [
    ...comparePackages(head.packages, inventory.packages, policy.packages.severity, { complete }),
    ...fileDrift,
    ...compareConfig(head.config, config.entries, policy.config, { complete, sources: config.sources }),
  ]
  for (const item of ownerDrift) if (!drift.some((d) => d.subject === item.subject)) drift.push(item)
  const runs = [filesRun, ...inventory.runs, ...config.runs]
  if (options.verifyPackages) runs.push(await addPackageVerification(context, policy, drift))
  if (drift.some((item) => item.kind === 'package')) {
    const changedFiles = new Set(drift.filter((item) => item.kind === 'file').map((item) => item.subject))
    attributeFileChanges(drift, {
      observed: (await loadProbes()).packages.packageOwners(context, policy.packages, changedFiles),
      expected: check.expectedOwners(changedFiles),
    })
  }
  explainFileChanges(drift, config.sources)
  drift.sort(
    (a, b) => severityRank(a.severity) - severityRank(b.severity) || compareCodeUnits(a.subject, b.subject),
  )

  const report: Report = {
    schema: REPORT_SCHEMA,
    reportId: randomUUID(),
    host: { ...hostIdentity(rootDir), labels: options.labels ?? {} },
    image: { id: head.image.id, version: head.image.version, manifestDigest: options.manifestDigest },
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
  const cacheState =
    cacheStatus.state === 'discarded' ? `discarded (${cacheStatus.reason})` : cacheStatus.state
  return { report, cache: cacheState, hashWaitMs: walk.waitedMs }
}

/** The package and configuration probes. */
async function otherProbes(context: ProbeContext, policy: Policy) {
  const { packages, config } = await loadProbes()
  return Promise.all([
    packages.collectPackages(context, policy.packages),
    config.collectConfig(context, policy.config),
  ])
}

/** A whole manifest as a source whose files are already there. */
function toSource(manifest: Manifest | ManifestSource, digest: string): ManifestSource {
  if (typeof manifest.files === 'function') return manifest as ManifestSource
  const { files, ...head } = manifest as Manifest
  return { digest, head, fileCount: files.length, files: () => files, loadFiles: async () => files }
}

/**
 * Writes the scan cache for the next quick scan: the records of the loaded cache that this
 * scan used, and what it learned. Left as it is when it already says all of that and nothing
 * else.
 */
function saveCache(
  file: string,
  key: { digest: string; fileCount: number },
  writer: CacheWriter,
  cache: WalkCache | undefined,
  loaded: StatCache | undefined,
): void {
  if (cache && loaded) {
    if (writer.size === 0 && cache.hits.indexOf(0) === -1) return
    for (let r = 0; r < cache.hits.length; r++) if (cache.hits[r]) writer.keep(loaded, r)
  }
  writer.save(file, key)
}

/**
 * Adds what package verification finds: a package-owned file changed behind the package
 * manager's back, even outside the paths the policy watches. A file the files probe already
 * reported is only given its package's name.
 */
async function addPackageVerification(
  context: ProbeContext,
  policy: Policy,
  drift: DriftItem[],
): Promise<ProbeRun> {
  const started = performance.now()
  const matcher = new PathMatcher(policy.files)
  const { verifyPackages } = await import('../probes/packages/registry.js')
  const { findings, errors } = await verifyPackages(context, policy.packages)
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
export function isDeclared(manifest: Pick<Manifest, 'image'>): boolean {
  return manifest.image.source?.declared === true
}

/** Every host read goes through the root; `/` is the running system, so live values may be read too. */
function probeContext(rootDir: string): ProbeContext {
  return { rootDir, live: rootDir === '/' }
}

/** Attributes only the native addon reads: Node has no extended attribute calls. */
const NATIVE_ONLY: ReadonlySet<FileAttribute> = new Set(['caps', 'xattrs'])

/**
 * The policy as this process can apply it: where the JavaScript binding serves (no addon
 * loads), capabilities and other extended attributes cannot be read, so they are left
 * unchecked, as an attribute a declared manifest leaves out is (said once on stderr by
 * src/native/fsprobe.ts), rather than reported as removed.
 */
export function readablePolicy(policy: Policy, native = nativeBinding): Policy {
  if (native) return policy
  const readable = (attributes: FileAttribute[]) => attributes.filter((a) => !NATIVE_ONLY.has(a))
  return {
    ...policy,
    files: {
      ...policy.files,
      defaultAttributes: readable(policy.files.defaultAttributes),
      rules: policy.files.rules.map((rule) =>
        rule.attributes ? { ...rule, attributes: readable(rule.attributes) } : rule,
      ),
    },
  }
}
