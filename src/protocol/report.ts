import { z } from 'zod'
import { HostFactsSchema } from './facts.js'
import { LabelsSchema } from './labels.js'
import { NameText, PathText } from './text.js'

export const REPORT_SCHEMA = 'driftwatch.report/v1'

/** How much a drift item matters, worst first; the policy assigns one to every kind of change. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const
export type Severity = (typeof SEVERITIES)[number]

export const DriftItemSchema = z.strictObject({
  kind: z.enum(['file', 'package', 'config']),
  change: z.enum(['added', 'removed', 'modified']),
  /** An absolute path, `deb|rpm|apk:<name>:<arch>`, or `<namespace>:<key>`. */
  subject: PathText(4096).min(1),
  /** For a modified item: the attributes that differ ("type" when the file type changed). */
  attributes: z.array(NameText(64).min(1)).max(32).optional(),
  expected: z.unknown().optional(),
  actual: z.unknown().optional(),
  severity: z.enum(SEVERITIES),
  /** The package whose change explains this file change. */
  package: NameText(512).min(1).optional(),
  /** The configuration item (its subject) whose change explains this file change. */
  explainedBy: PathText(4096).min(1).optional(),
  /** For a configuration item: the file inside the root that sets the observed value. */
  source: PathText(4096).min(1).optional(),
})
export type DriftItem = z.infer<typeof DriftItemSchema>

export const ProbeRunSchema = z.strictObject({
  name: NameText(64).min(1),
  ok: z.boolean(),
  durationMs: z.number().nonnegative(),
  /** Why the probe failed as a whole. */
  error: PathText(4096).optional(),
  /** Entries the probe could not read (permission denied, changed while read); the scan went on. */
  errors: z
    .array(z.strictObject({ subject: PathText(4096), message: PathText(1024) }))
    .max(1000)
    .optional(),
  errorCount: z.number().int().nonnegative().optional(),
})
export type ProbeRun = z.infer<typeof ProbeRunSchema>

export const SummarySchema = z.strictObject({
  total: z.number().int().nonnegative(),
  critical: z.number().int().nonnegative(),
  high: z.number().int().nonnegative(),
  medium: z.number().int().nonnegative(),
  low: z.number().int().nonnegative(),
  info: z.number().int().nonnegative(),
})
export type Summary = z.infer<typeof SummarySchema>

/** Drift report v1: what `scan --format json` prints and the agent sends. */
export const ReportSchema = z
  .strictObject({
    schema: z.literal(REPORT_SCHEMA),
    reportId: z.uuid(),
    host: z.strictObject({
      id: NameText(256).min(1),
      hostname: NameText(256),
      labels: LabelsSchema.default({}),
      /** What the host is (OS, kernel, CPU, cloud instance); sent by the agent. */
      facts: HostFactsSchema.optional(),
    }),
    image: z.strictObject({
      id: NameText(256).min(1),
      version: NameText(256).min(1),
      manifestDigest: z.string().regex(/^sha256:[0-9a-f]{64}$/),
    }),
    scan: z.strictObject({
      mode: z.enum(['full', 'quick']),
      /** When the scan began, ISO 8601 with a time zone. */
      startedAt: z.iso.datetime({ offset: true }),
      durationMs: z.number().nonnegative(),
      files: z.number().int().nonnegative(),
      bytesHashed: z.number().nonnegative(),
      probes: z.array(ProbeRunSchema).max(64),
    }),
    drift: z.array(DriftItemSchema),
    summary: SummarySchema,
    /** The agent's word about its own delivery: reports it had to drop from a full spool before this one. */
    agent: z.strictObject({ droppedReports: z.number().int().nonnegative() }).optional(),
  })
  .superRefine((report, ctx) => {
    // The summary must count the drift items: the collector judges hosts by it.
    const counted: Summary = { total: report.drift.length, critical: 0, high: 0, medium: 0, low: 0, info: 0 }
    for (const item of report.drift) counted[item.severity]++
    for (const key of Object.keys(counted) as (keyof Summary)[]) {
      if (counted[key] !== report.summary[key]) {
        ctx.addIssue({
          code: 'custom',
          path: ['summary', key],
          message: `says ${report.summary[key]}, the drift items count ${counted[key]}`,
        })
        return
      }
    }
  })
export type Report = z.infer<typeof ReportSchema>
