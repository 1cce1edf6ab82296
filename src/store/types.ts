import type { HostRecord, HostState, ImageRecord, Judge, StateTransition } from '../fleet/states.js'
import type { HostFacts } from '../protocol/facts.js'
import type { Report } from '../protocol/report.js'
import type { ReplacementStore } from './replacements.js'

/** A report as kept in a host's bounded history (the full body is kept for the latest only). */
export interface ReportRecord {
  reportId: string
  hostId: string
  receivedAt: Date
  scanStartedAt: Date
  mode: 'full' | 'quick'
  manifestDigest: string
  summary: Report['summary']
}

export interface HostFilter {
  state?: HostState
  imageId?: string
  /** Every label given must match exactly. */
  labels?: Record<string, string>
}

/** The filter of a page of hosts: any of `states`, and every other filter given. */
export interface HostPageFilter {
  states?: readonly HostState[]
  imageId?: string
  /** Every label given must match exactly. */
  labels?: Record<string, string>
}

export interface HostPageRequest {
  filter?: HostPageFilter
  /** The `next` of the page before, as it was given out (opaque); none for the first page. */
  after?: string
  /** Hosts per page, at least 1. */
  limit: number
}

/** Hosts in id order; `next` is there when more hosts match (pass it as `after`). */
export interface HostPage {
  hosts: HostRecord[]
  next?: string
}

/** How many hosts are in one state on one image version with one `group` label. */
export interface HostCountRow {
  state: string
  imageId: string | null
  imageVersion: string | null
  group: string | null
  count: number
}

/**
 * What can change a host's state between reports (the fleet rules' limits, in milliseconds):
 * a sweep given these judges only the hosts they can move. `imagesSince` adds the hosts whose
 * image was registered, or registered again, since then.
 */
export interface SweepDue {
  staleAfter: number
  driftGrace?: number
  reportsMissingAfter?: number
  imagesSince?: Date
}

/**
 * The collector's storage. One contract (test/store/contract.ts) holds for every
 * implementation; SQLite and PostgreSQL each run all of it. Every method that changes a
 * host runs in one transaction, and applies `judge` inside it, so that several collectors
 * sharing one database never lose an update or record a transition twice.
 */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres'
  /** Replacements, the scheduler's lease, notifications and alerts (replacements.ts). */
  readonly replacements: ReplacementStore

  /** Creates the host, or rotates its token (the old token stops working at once). */
  enrollHost(input: {
    hostId: string
    hostname: string
    labels: Record<string, string>
    /** What the agent says the host is; kept until the next enrolment that says it. */
    facts?: HostFacts
    tokenHash: string
    at: Date
  }): Promise<{ created: boolean }>

  /** The host whose token has this sha256 hash, if any. */
  hostForToken(tokenHash: string): Promise<{ hostId: string; tokenHash: string } | undefined>

  /**
   * Stores a report once (by reportId). Reports are ordered by scan start, but never later
   * than `receivedAt` (the collector's clock bounds the host's): one that comes before the
   * latest is kept in history but does not replace the latest. After storing, applies `judge` and
   * records a transition when the state changes. Keeps at most `historyLimit` reports per host.
   * `duplicate` is set when the reportId was already stored; `ownerId` then names the host
   * that stored it (a retry from the same host, or a collision from another one).
   */
  ingestReport(
    input: {
      hostId: string
      /** The hash of the token the request came with: when given, it must still be the host's (else UNAUTHENTICATED). */
      tokenHash?: string
      report: Report
      receivedAt: Date
      historyLimit: number
    },
    judge: Judge,
  ): Promise<{ duplicate: boolean; ownerId: string; host: HostRecord }>

  /**
   * Marks the host seen now, then judges it (a stale host that beats again is judged anew).
   * With `tokenHash`, the host's token must still be that one (else UNAUTHENTICATED).
   */
  recordHeartbeat(hostId: string, at: Date, judge: Judge, tokenHash?: string): Promise<HostRecord | undefined>

  /**
   * Judges the hosts whose state could change: with `due`, only those it names (index-backed);
   * without, every host (after a restart, when the rules may have changed). Returns the changes.
   */
  sweep(now: Date, judge: Judge, due?: SweepDue): Promise<StateTransition[]>

  getHost(hostId: string): Promise<HostRecord | undefined>
  latestReport(hostId: string): Promise<Report | undefined>
  listHosts(filter?: HostFilter): Promise<HostRecord[]>
  /** One page of the hosts that match, keyset on the host id (host-queries.ts). */
  pageHosts(request: HostPageRequest): Promise<HostPage>
  /** Every host counted by state, image version and `group` label, in SQL. */
  countHosts(): Promise<HostCountRow[]>
  reportHistory(hostId: string, limit: number): Promise<ReportRecord[]>
  stateHistory(hostId: string): Promise<StateTransition[]>

  /** Registers (or replaces) an image version. */
  putImage(image: ImageRecord): Promise<{ created: boolean }>
  getImage(id: string, version: string): Promise<ImageRecord | undefined>
  listImages(): Promise<ImageRecord[]>

  /** Throws when the database cannot answer (readiness). */
  ping(): Promise<void>
  close(): Promise<void>
}
