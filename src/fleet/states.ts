import type { HostFacts } from '../protocol/facts.js'
import type { Summary } from '../protocol/report.js'

/**
 * Host states of the fleet (DESIGN.md). `pending`: enrolled, no report yet (nothing is known
 * of its drift). The replacement states are driven by the replacement scheduler.
 */
export const HOST_STATES = [
  'pending',
  'compliant',
  'drifted',
  'snowflake',
  'stale',
  'replacement-scheduled',
  'replacing',
  'replaced',
] as const
export type HostState = (typeof HOST_STATES)[number]

/** States that the replacement scheduler owns: fleet judgement leaves a host in them. */
export const REPLACEMENT_STATES: ReadonlySet<HostState> = new Set([
  'replacement-scheduled',
  'replacing',
  'replaced',
])

/** What the collector knows of one host: its identity, its latest facts and its judged state. */
export interface HostRecord {
  id: string
  hostname: string
  labels: Record<string, string>
  /** From the latest report; null until the host has reported. */
  imageId: string | null
  imageVersion: string | null
  manifestDigest: string | null
  state: HostState
  /** Why the host is in its state, in words (e.g. "2 critical findings"). */
  stateReasons: string[]
  stateSince: Date
  enrolledAt: Date
  /** The latest report or heartbeat. */
  lastSeenAt: Date
  lastReportAt: Date | null
  lastHeartbeatAt: Date | null
  /** When the host's current, uninterrupted run of drift began (scan start of the first drifted report). */
  driftSince: Date | null
  /** Summary of the latest report (by scan start), null before the first report. */
  summary: Summary | null
  latestReportId: string | null
  /** What the agent said of the host at enrolment (its reports say it again, newer). */
  facts?: HostFacts
}

/** An image version the operators registered: the manifest digest its hosts must run. */
export interface ImageRecord {
  id: string
  version: string
  manifestDigest: string
  /** Trusted ed25519 public keys (SPKI PEM); the registration's signature verified against one of them. */
  publicKeys: string[]
  /** keyId of the key whose signature over manifestDigest verified at registration, or null when unsigned. */
  signedBy: string | null
  registeredAt: Date
}

/** One entry of a host's state history; every transition is kept. */
export interface StateTransition {
  hostId: string
  from: HostState | null
  to: HostState
  reasons: string[]
  at: Date
}

/** The outcome of judging a host. */
export interface Judgement {
  state: HostState
  reasons: string[]
}

/**
 * The pure judgement the store applies inside its transaction, after it has updated the
 * host's facts. `image` is the registered image of the host's latest report, if any.
 */
export type Judge = (host: HostRecord, image: ImageRecord | undefined, now: Date) => Judgement
