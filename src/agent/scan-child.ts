import { createHash } from 'node:crypto'
import { DriftwatchError } from '../errors.js'
import { openManifest } from '../manifest/io.js'
import { readManifestBytes } from '../manifest/read.js'
import { loadPublicKey, signatureFileFor, verifySignatureFile } from '../manifest/signature.js'
import { startWalkers } from '../probes/files/walkers.js'
import { resolveRoot } from '../scan/root.js'
import { scanHost } from '../scan/run.js'
import type { ManifestClaims, ScanAnswer, ScanJob, ScanUsage } from './scan-job.js'

// One scan, in a process of its own: the agent forks this for every scan, so that the
// scan's heap (the manifest's entries, the walk's records) goes back to the system when it
// ends, and a long-lived agent stays small.

function usage(): ScanUsage {
  const u = process.resourceUsage()
  return { cpuMs: Math.round((u.userCPUTime + u.systemCPUTime) / 1000), maxRssBytes: u.maxRSS * 1024 }
}

/** What a manifest that failed verification claims to be, read without trusting it. */
function claimsOf(file: string): ManifestClaims {
  let bytes: Buffer
  try {
    bytes = readManifestBytes(file)
  } catch {
    return { digest: `sha256:${createHash('sha256').update(file).digest('hex')}` }
  }
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`
  try {
    const parsed = JSON.parse(bytes.toString('utf8')) as { image?: { id?: unknown; version?: unknown } }
    const { id, version } = parsed.image ?? {}
    if (typeof id === 'string' && typeof version === 'string' && id && version)
      return { digest, image: { id: id.slice(0, 256), version: version.slice(0, 256) } }
  } catch {}
  return { digest }
}

async function run(job: ScanJob): Promise<ScanAnswer> {
  const walkers = startWalkers(job.workers)
  try {
    const rootDir = resolveRoot(job.rootDir)
    // A missing public key is the configuration's fault, not the manifest's: it fails the scan.
    const publicKey = job.publicKey ? loadPublicKey(job.publicKey) : undefined
    let manifest: ReturnType<typeof openManifest>
    try {
      manifest = openManifest(job.manifest)
      if (publicKey) verifySignatureFile(signatureFileFor(job.manifest), manifest.digest, publicKey)
    } catch (error) {
      if (
        error instanceof DriftwatchError &&
        (error.code === 'INTEGRITY' || error.code === 'INPUT_INVALID')
      ) {
        return {
          kind: 'integrity',
          error: { code: error.code, message: error.message },
          claims: claimsOf(job.manifest),
          usage: usage(),
        }
      }
      throw error
    }
    const { report, cache, hashWaitMs } = await scanHost({
      rootDir,
      manifest,
      manifestDigest: manifest.digest,
      mode: job.mode,
      stateDir: job.stateDir,
      labels: job.labels,
      walkers,
      ...(job.hashBytesPerSecond ? { hashBytesPerSecond: job.hashBytesPerSecond } : {}),
      verifyPackages: job.verifyPackages && job.mode === 'full',
    })
    return { kind: 'report', report, cache, hashWaitMs, usage: usage() }
  } finally {
    await walkers.stop()
  }
}

process.once('message', (job: ScanJob) => {
  void run(job)
    .catch(
      (error: unknown): ScanAnswer => ({
        kind: 'failed',
        inStateDir:
          error instanceof DriftwatchError &&
          error.code === 'IO' &&
          error.message.startsWith(`${job.stateDir}/`),
        error:
          error instanceof DriftwatchError
            ? { code: error.code, message: error.message, ...(error.hint ? { hint: error.hint } : {}) }
            : {
                code: 'INTERNAL',
                message: error instanceof Error ? (error.stack ?? error.message) : String(error),
              },
        usage: usage(),
      }),
    )
    .then((answer) => {
      process.send?.(answer, () => process.disconnect())
    })
})
