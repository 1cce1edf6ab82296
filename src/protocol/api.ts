import { z } from 'zod'
import type { ReplacementState, WaitingFor } from '../fleet/replacements.js'
import type { HostState } from '../fleet/states.js'
import { type HostFacts, HostFactsSchema } from './facts.js'
import { LabelsSchema } from './labels.js'
import type { DriftItem, Summary } from './report.js'
import { NameText, WireText } from './text.js'

/**
 * Collector API v1: request bodies (validated) and response shapes. Reports themselves are
 * `ReportSchema` (report.ts). Bodies are strict: an unknown field is an error, not ignored.
 */

export { DEFAULT_COLLECTOR, HOSTS_PAGE_DEFAULT, HOSTS_PAGE_MAX } from './defaults.js'
export { LabelsSchema, labelKeyProblem, labelValueProblem, MAX_LABELS } from './labels.js'

export { NameText, PathText, WireText } from './text.js'

export const HostIdentitySchema = z.strictObject({
  id: WireText(256)
    .regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only')
    .describe("The machine id (/etc/machine-id) or another id stable for the host's life."),
  hostname: NameText(256).describe('The host name.'),
  labels: LabelsSchema.default({}).describe(
    'Its labels (Kubernetes syntax); `group` is its replacement group.',
  ),
  facts: HostFactsSchema.optional().describe('What the host is, as its agent sees it.'),
})

export const EnrollRequestSchema = z.strictObject({
  secret: WireText(1024).describe("The collector's `enrollSecret`."),
  host: HostIdentitySchema.describe('The host enrolling.'),
})
export type EnrollRequest = z.infer<typeof EnrollRequestSchema>

export interface EnrollResponse {
  hostId: string
  /** The host's bearer token; shown once, stored by the collector only as a hash. */
  token: string
  /** True when this enrolment replaced an earlier token of the same host. */
  rotated: boolean
}

export const HeartbeatRequestSchema = z.strictObject({
  hostId: HostIdentitySchema.shape.id.describe('The host beating: the one its token belongs to.'),
  sentAt: WireText(64)
    .optional()
    .describe("The agent's clock when it sent the heartbeat (informational; the collector uses its own)."),
  agentVersion: WireText(64).optional().describe("The agent's version."),
})
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>

export const ImageRegistrationSchema = z.strictObject({
  manifestDigest: z
    .string()
    .regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>')
    .describe("The manifest's digest (`manifest capture` prints it): hosts of this version are held to it."),
  publicKeys: z
    .array(WireText(4096))
    .max(16)
    .default([])
    .describe('Trusted ed25519 public keys, SPKI PEM (the `.pub` files of `driftwatch keygen`).'),
  signature: z
    .strictObject({
      schema: z.literal('driftwatch.signature/v1').describe('The signature format.'),
      algorithm: z.literal('ed25519').describe('The algorithm.'),
      keyId: WireText(64).describe('Which key signed.'),
      digest: WireText(128).describe('The digest signed: `manifestDigest`.'),
      signature: WireText(256).describe('The signature, base64.'),
    })
    .optional()
    .describe(
      "The manifest's detached signature (`FILE.sig`), as written; required when publicKeys are given.",
    ),
})
export type ImageRegistration = z.infer<typeof ImageRegistrationSchema>

/** Every error the collector answers: one JSON shape from one error handler. */
export interface ApiError {
  code: string
  message: string
  hint?: string
}

/** A page of hosts in id order; `next` is there when more hosts match: pass it as `cursor`. */
export interface HostsPageView {
  hosts: HostView[]
  next?: string
}

export interface HostView {
  id: string
  hostname: string
  labels: Record<string, string>
  image: { id: string; version: string; manifestDigest: string } | null
  state: HostState
  stateReasons: string[]
  stateSince: string
  enrolledAt: string
  lastSeenAt: string
  lastReportAt: string | null
  lastHeartbeatAt: string | null
  driftSince: string | null
  summary: Summary | null
}

/** Drift grouped as the text report shows it: file changes a package change explains sit under it. */
export interface GroupedDrift {
  packages: { item: DriftItem; files: DriftItem[] }[]
  files: DriftItem[]
  /** Configuration changes, each with the file changes it explains (`explainedBy`). */
  config: { item: DriftItem; files: DriftItem[] }[]
}

export interface HostDetailView {
  host: HostView
  /** What the host is (OS, kernel, CPU, memory, cloud instance), as its latest report said. */
  facts?: HostFacts | null
  /** The latest report's drift, grouped; null before the first report. */
  drift: GroupedDrift | null
  latestReport: { reportId: string; mode: 'full' | 'quick'; startedAt: string; durationMs: number } | null
  states: { from: HostState | null; to: HostState; reasons: string[]; at: string }[]
  reports: {
    reportId: string
    receivedAt: string
    startedAt: string
    mode: 'full' | 'quick'
    summary: Summary
  }[]
}

export interface ImageView {
  id: string
  version: string
  manifestDigest: string
  publicKeys: string[]
  signedBy: string | null
  registeredAt: string
}

/** One replacement as the API shows it (`GET /v1/replacements`, `fleet replacements`). */
export interface ReplacementView {
  id: string
  hostId: string
  hostname: string | null
  group: string
  state: ReplacementState
  reason: string
  waitingFor: WaitingFor | null
  trigger: 'snowflake' | 'manual'
  requestedBy: string | null
  approvedBy: string | null
  approvedAt: string | null
  dryRun: boolean
  executor: string | null
  output: string | null
  createdAt: string
  updatedAt: string
  dispatchedAt: string | null
  finishedAt: string | null
  /** Every change, with who made it; in the detail view only. */
  events?: {
    from: ReplacementState | null
    to: ReplacementState
    reason: string
    actor: string
    at: string
  }[]
}

/** The replacement queue: the replacements, each group's budget, the windows and who schedules. */
export interface ReplacementQueueView {
  dryRun: boolean
  replacements: ReplacementView[]
  groups: {
    group: string
    hosts: number
    inService: number
    inFlight: number
    maxConcurrent: number
    minHealthyPercent: number
    /** How many more may be dispatched now by the budget alone. */
    budgetLeft: number
    lastDispatchedAt: string | null
  }[]
  window: { open: boolean; openUntil: string | null; nextOpening: string | null; windows: string }
  /** The collector that holds the scheduler's lease, and for how long it has. */
  lease: { holder: string; acquiredAt: string; expiresAt: string; ageMs: number } | null
}
