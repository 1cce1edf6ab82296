import { z } from 'zod'
import type { HostState } from '../collector/states.js'
import { type HostFacts, HostFactsSchema } from './facts.js'
import type { DriftItem, Summary } from './report.js'

/**
 * Collector API v1: request bodies (validated) and response shapes. Reports themselves are
 * `ReportSchema` (report.ts). Bodies are strict: an unknown field is an error, not ignored.
 */

export { DEFAULT_COLLECTOR } from './defaults.js'

/** Text from the wire: bounded, and never a NUL (PostgreSQL text cannot hold one; no identifier needs it). */
export const WireText = (max: number) =>
  z
    .string()
    .max(max)
    .refine((s) => !s.includes('\u0000'), { message: 'must not contain NUL characters' })

export const HostIdentitySchema = z.strictObject({
  /** The machine id (/etc/machine-id) or another id stable for the host's life. */
  id: WireText(256).regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only'),
  hostname: WireText(256),
  labels: z.record(WireText(128), WireText(256)).default({}),
  /** What the host is, as its agent sees it (see facts.ts). */
  facts: HostFactsSchema.optional(),
})

export const EnrollRequestSchema = z.strictObject({
  secret: WireText(1024),
  host: HostIdentitySchema,
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
  hostId: HostIdentitySchema.shape.id,
  /** The agent's clock when it sent the heartbeat (informational; the collector uses its own). */
  sentAt: WireText(64).optional(),
  agentVersion: WireText(64).optional(),
})
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>

export const ImageRegistrationSchema = z.strictObject({
  manifestDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'expected sha256:<64 hex digits>'),
  /** Trusted ed25519 public keys, SPKI PEM (the `.pub` files of `driftwatch keygen`). */
  publicKeys: z.array(WireText(4096)).max(16).default([]),
  /** The manifest's detached signature (`FILE.sig`); required when publicKeys are given. */
  signature: z
    .strictObject({
      schema: z.literal('driftwatch.signature/v1'),
      algorithm: z.literal('ed25519'),
      keyId: WireText(64),
      digest: WireText(128),
      signature: WireText(256),
    })
    .optional(),
})
export type ImageRegistration = z.infer<typeof ImageRegistrationSchema>

/** Every error the collector answers: one JSON shape from one error handler. */
export interface ApiError {
  code: string
  message: string
  hint?: string
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
  config: DriftItem[]
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
