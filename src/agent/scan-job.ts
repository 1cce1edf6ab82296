import type { Report } from '../protocol/report.js'

// The messages between the agent and the process that runs one scan for it. Kept apart from
// both so that neither loads the other's modules.

/** What the agent asks of a scan process. */
export interface ScanJob {
  manifest: string
  publicKey?: string
  rootDir: string
  stateDir: string
  mode: 'full' | 'quick'
  labels: Record<string, string>
  workers?: number
  /** At most so many bytes a second read to hash; unlimited when absent. */
  hashBytesPerSecond?: number
  verifyPackages: boolean
}

/** What the manifest said about itself when it could not be used. */
export interface ManifestClaims {
  /** sha256 over the manifest file's bytes as they are (gunzipped): what this host holds. */
  digest: string
  image?: { id: string; version: string }
}

/** The process's own cost, from process.resourceUsage(). */
export interface ScanUsage {
  cpuMs: number
  maxRssBytes: number
}

export type ScanAnswer =
  | {
      kind: 'report'
      report: Report
      cache: string
      /** How long the walk waited for the hash limit. */
      hashWaitMs: number
      usage: ScanUsage
    }
  /** The manifest failed verification (digest, signature, structure): never used. */
  | {
      kind: 'integrity'
      error: { code: string; message: string }
      claims: ManifestClaims
      usage: ScanUsage
    }
  /** The scan could not run (manifest missing, root unreadable, …). */
  | {
      kind: 'failed'
      error: { code: string; message: string; hint?: string }
      /** It failed writing into the state directory (the scan cache): the agent cannot go on. */
      inStateDir: boolean
      usage: ScanUsage
    }
