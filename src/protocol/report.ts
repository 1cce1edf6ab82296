import { z } from 'zod'
import { HostFactsSchema } from './facts.js'
import { LabelsSchema } from './labels.js'
import { NameText, PathText } from './text.js'

export const REPORT_SCHEMA = 'driftwatch.report/v1'

/** How much a drift item matters, worst first; the policy assigns one to every kind of change. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const
export type Severity = (typeof SEVERITIES)[number]

export const DriftItemSchema = z.strictObject({
  kind: z
    .enum(['file', 'package', 'config'])
    .describe('What drifted: a file, a package or a configuration key.'),
  change: z
    .enum(['added', 'removed', 'modified'])
    .describe(
      'Present on the host and not in the manifest, the other way round, or present in both and different.',
    ),
  subject: PathText(4096)
    .min(1)
    .describe('An absolute path, `deb|rpm|apk:<name>:<arch>`, or `<namespace>:<key>`.'),
  attributes: z
    .array(NameText(64).min(1))
    .max(32)
    .optional()
    .describe(
      'For a modified item: the attributes that differ (`type` when the file became something else).',
    ),
  expected: z
    .unknown()
    .optional()
    .describe(
      "What the manifest records: a removed file's entry, a modified file's differing attributes, a package's `{ version }`, a key's value (`{ oneOf }` for a declared choice).",
    ),
  actual: z
    .unknown()
    .optional()
    .describe(
      "What the host has, in the shape of `expected` (an added file: its whole entry, a symlink's `target` included).",
    ),
  severity: z.enum(SEVERITIES).describe("How much it matters, by the manifest's policy."),
  package: NameText(512)
    .min(1)
    .optional()
    .describe('The package (its subject) whose change explains this file change.'),
  explainedBy: PathText(4096)
    .min(1)
    .optional()
    .describe('The configuration item (its subject) whose change explains this file change.'),
  source: PathText(4096)
    .min(1)
    .optional()
    .describe('For a configuration item: the file inside the root that sets the observed value.'),
})
export type DriftItem = z.infer<typeof DriftItemSchema>

export const ProbeRunSchema = z.strictObject({
  name: NameText(64).min(1).describe('The probe: `files`, `packages`, `sysctl`, `systemd`, …'),
  ok: z.boolean().describe('False when the probe failed as a whole; the rest of the scan stands.'),
  durationMs: z.number().nonnegative().describe('How long it ran, in milliseconds.'),
  error: PathText(4096).optional().describe('Why the probe failed as a whole.'),
  errors: z
    .array(
      z.strictObject({
        subject: PathText(4096).describe('The entry, e.g. a path.'),
        message: PathText(1024).describe('What went wrong reading it.'),
      }),
    )
    .max(1000)
    .optional()
    .describe('Entries the probe could not read (permission denied, changed while read); the scan went on.'),
  errorCount: z
    .number()
    .int()
    .nonnegative()
    .optional()
    .describe('How many entries could not be read in all; `errors` lists the first of them.'),
})
export type ProbeRun = z.infer<typeof ProbeRunSchema>

const Count = (what: string) => z.number().int().nonnegative().describe(what)

export const SummarySchema = z.strictObject({
  total: Count('Drift items in all.'),
  critical: Count('Drift items of severity critical.'),
  high: Count('Drift items of severity high.'),
  medium: Count('Drift items of severity medium.'),
  low: Count('Drift items of severity low.'),
  info: Count('Drift items of severity info.'),
})
export type Summary = z.infer<typeof SummarySchema>

/** Drift report v1: what `scan --format json` prints and the agent sends. */
export const ReportSchema = z
  .strictObject({
    schema: z.literal(REPORT_SCHEMA).describe('The report format: `driftwatch.report/v1`.'),
    reportId: z.uuid().describe('A fresh random UUID per report; a retry sends the same one (stored once).'),
    host: z
      .strictObject({
        id: NameText(256).min(1).describe("The host's id: its machine id unless agent.yaml sets `hostId`."),
        hostname: NameText(256).describe('The host name, as the host says it.'),
        labels: LabelsSchema.default({}).describe(
          'Labels (Kubernetes syntax: `[prefix/]name` keys, values empty or names); `group` is the replacement group by default.',
        ),
        facts: HostFactsSchema.optional().describe(
          'What the host is (OS, kernel, CPU, cloud instance); sent by the agent.',
        ),
      })
      .describe('The host scanned (for a scan of a folder: what was scanned).'),
    image: z
      .strictObject({
        id: NameText(256).min(1).describe('The image the host was made from, as its manifest says.'),
        version: NameText(256).min(1).describe("The image's version, as its manifest says."),
        manifestDigest: z
          .string()
          .regex(/^sha256:[0-9a-f]{64}$/)
          .describe(
            'The digest of the manifest checked against; the collector compares it with the registered one.',
          ),
      })
      .describe('The manifest the host was checked against.'),
    scan: z
      .strictObject({
        mode: z
          .enum(['full', 'quick'])
          .describe('`full` hashes every file; `quick` re-hashes only what its stat cache says changed.'),
        startedAt: z.iso
          .datetime({ offset: true })
          .describe('When the scan began, ISO 8601 with a time zone.'),
        durationMs: z.number().nonnegative().describe('How long the scan took, in milliseconds.'),
        files: z.number().int().nonnegative().describe('Files examined.'),
        bytesHashed: z.number().nonnegative().describe('Bytes read to hash file content.'),
        probes: z.array(ProbeRunSchema).max(64).describe('Every probe that ran, failed ones included.'),
      })
      .describe('How the scan went.'),
    drift: z
      .array(DriftItemSchema)
      .describe('Every difference between the host and its manifest; empty for a clean host.'),
    summary: SummarySchema.describe('The drift items counted by severity; must match `drift`.'),
    agent: z
      .strictObject({
        droppedReports: z
          .number()
          .int()
          .nonnegative()
          .describe('Reports it had to drop from a full spool before this one.'),
      })
      .optional()
      .describe("The agent's word about its own delivery; absent from `driftwatch scan`."),
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
