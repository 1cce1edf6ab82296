import { z } from 'zod'
import { telemetrySchema } from '../telemetry/settings.js'
import { Duration, parseDuration } from './duration.js'
import { loadYamlFile } from './load.js'

/**
 * A cron expression as node-cron reads it (five fields, or six with seconds first), checked
 * by node-cron's own parser when the schedule starts; here only its shape.
 */
const CronExpression = z
  .string()
  .min(1)
  .refine((text) => /^\S+(\s+\S+){4,5}$/.test(text.trim()), {
    message: 'expected a cron expression of 5 fields (or 6 with seconds first), e.g. "*/15 * * * *"',
  })

/** `60s` (every so long from start) or a cron expression. */
export type HeartbeatPlan = { kind: 'every'; ms: number } | { kind: 'cron'; expression: string }
const HeartbeatSchedule = z.string().transform((text, ctx): HeartbeatPlan => {
  const ms = parseDuration(text)
  if (ms !== undefined) {
    if (ms < 1000) {
      ctx.addIssue({ code: 'custom', message: `"${text}" is too often; a heartbeat every 1s at most` })
      return z.NEVER
    }
    return { kind: 'every', ms }
  }
  if (/^\S+(\s+\S+){4,5}$/.test(text.trim())) return { kind: 'cron', expression: text.trim() }
  ctx.addIssue({
    code: 'custom',
    message: `"${text}" is neither a duration (60s) nor a cron expression ("* * * * *")`,
  })
  return z.NEVER
})

/** Some bytes: `67108864`, or `64MiB`, `512KiB`, `1GiB`. */
const Bytes = z.union([z.number().int().nonnegative(), z.string()]).transform((value, ctx) => {
  if (typeof value === 'number') return value
  const match = /^(\d+)\s*(B|KiB|MiB|GiB)?$/.exec(value.trim())
  if (!match) {
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a size; write it as 65536, 512KiB, 64MiB or 1GiB`,
    })
    return z.NEVER
  }
  const unit = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 }[match[2] ?? 'B'] ?? 1
  return Number(match[1]) * unit
})

const HostIdText = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[A-Za-z0-9._:@-]+$/, 'letters, digits and . _ : @ - only')

/** agent.yaml (DESIGN.md): the collector to report to, the manifest to check, when, and how gently. */
export const AgentConfigSchema = z.strictObject({
  collector: z
    .strictObject({
      url: z
        .url({
          protocol: /^https?$/,
          error: 'expected an http(s) URL, e.g. https://collector.internal:8443',
        })
        .describe("The collector's base URL, http(s)."),
      enrollSecret: z
        .string()
        .min(16, 'must be at least 16 characters (the collector requires it)')
        .describe('Presented once, at enrolment; at least 16 characters.'),
      ca: z
        .string()
        .min(1)
        .optional()
        .describe("PEM file of the CA that signed the collector's certificate: the only CA trusted for it."),
      cert: z
        .string()
        .min(1)
        .optional()
        .describe('A client certificate (PEM file), for a collector behind mutual TLS; needs `key`.'),
      key: z
        .string()
        .min(1)
        .optional()
        .describe("The client certificate's private key (PEM file); needs `cert`."),
      connectTimeout: Duration.default(10_000).describe('Connecting at most this long (default 10s).'),
      responseTimeout: Duration.default(30_000).describe(
        "Waiting for an answer's headers and body, each at most this long (default 30s).",
      ),
      retries: z
        .number()
        .int()
        .min(0)
        .max(20)
        .default(4)
        .describe(
          'Retries of one request (connection refused or reset, 429, 5xx) before it waits for the next cycle.',
        ),
      minBackoff: Duration.default(1000).describe(
        'Backoff between retries: full jitter below min(maxBackoff, minBackoff * 2^attempt) (default 1s).',
      ),
      maxBackoff: Duration.default(60_000).describe('The longest backoff between two retries (default 60s).'),
    })
    .superRefine((collector, ctx) => {
      if ((collector.cert === undefined) !== (collector.key === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: [collector.cert === undefined ? 'cert' : 'key'],
          message: 'a client certificate needs both cert and key',
        })
      }
    })
    .describe('The collector to enrol with and report to, and how patiently.'),
  manifest: z.string().min(1).describe("The image's manifest (.json or .json.gz), verified on every load."),
  publicKey: z
    .string()
    .min(1)
    .optional()
    .describe('ed25519 public key (PEM): a manifest whose FILE.sig does not verify with it is never used.'),
  root: z
    .string()
    .min(1)
    .default('/')
    .describe('The host file system to check (`/`, or `/host` in a container).'),
  stateDir: z
    .string()
    .min(1)
    .default('/var/lib/driftwatch')
    .describe('Token, spool and scan cache; writable by the agent alone.'),
  hostId: HostIdText.optional().describe(
    "The host's id; by default its machine id (/etc/machine-id in the root).",
  ),
  labels: z
    .record(z.string().min(1).max(128), z.string().max(256))
    .default({})
    .describe('Sent with every report: the replacement group and anything else.'),
  schedule: z
    .strictObject({
      quick: CronExpression.default('*/15 * * * *').describe(
        'Cron: a quick scan re-hashes only what its stat cache says changed.',
      ),
      full: CronExpression.default('0 3 * * *').describe(
        'Cron: a full scan re-hashes everything and trusts nothing but the manifest.',
      ),
      heartbeat: HeartbeatSchedule.default({ kind: 'every', ms: 60_000 }).describe(
        'A duration (60s) or cron: keeps the host from going stale, and retries the spool (default 60s).',
      ),
      splay: Duration.default(5 * 60_000).describe(
        'Each scan starts up to this much later, by an amount fixed per host: a fleet does not scan in lock-step (default 5m).',
      ),
      timezone: z
        .string()
        .min(1)
        .optional()
        .describe("Time zone of the cron expressions (IANA name); the system's by default."),
      atStart: z
        .boolean()
        .default(true)
        .describe(
          'A quick scan when the agent starts (after the splay), so a freshly booted host reports without waiting for the first cron tick (default true).',
        ),
    })
    .default({
      quick: '*/15 * * * *',
      full: '0 3 * * *',
      heartbeat: { kind: 'every', ms: 60_000 },
      splay: 5 * 60_000,
      atStart: true,
    })
    .describe('When to scan and when to send a heartbeat.'),
  scan: z
    .strictObject({
      workers: z
        .number()
        .int()
        .min(1)
        .max(256)
        .optional()
        .describe(
          'Threads that walk and hash files; by default one for a quick scan (it mostly stats files) and one per core for a full scan.',
        ),
      hashBytesPerSecond: Bytes.optional().describe(
        'At most so many bytes a second read to hash, all walk threads together (e.g. 20MiB; unlimited when left out or 0): spares a busy disk, makes a scan that reads much slower.',
      ),
      verifyPackages: z
        .boolean()
        .default(false)
        .describe("Also check every package-owned file against the package manager's digests (full scans)."),
    })
    .default({ verifyPackages: false })
    .describe('How a scan does its work.'),
  spool: z
    .strictObject({
      maxReports: z
        .number()
        .int()
        .min(1)
        .max(100_000)
        .default(500)
        .describe('Undelivered reports kept at most; past it the oldest are dropped (and counted).'),
      maxBytes: Bytes.default(64 * 1024 ** 2).describe(
        'Bytes of undelivered reports kept at most (gzipped, as sent): 67108864, or 512KiB, 64MiB, 1GiB.',
      ),
    })
    .default({ maxReports: 500, maxBytes: 64 * 1024 ** 2 })
    .describe('Reports the collector has not yet received, kept in stateDir until it does.'),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Log level of the JSON logs on stdout.'),
  telemetry: telemetrySchema
    .optional()
    .describe('OpenTelemetry metrics (README, Metrics); the standard OTEL_* variables win over these keys.'),
})
export type AgentConfig = z.output<typeof AgentConfigSchema>

/** Reads agent.yaml: `${ENV}` replaced from the environment, every key checked, errors naming file and key. */
export function loadAgentConfig(file: string): AgentConfig {
  const config = loadYamlFile(file, AgentConfigSchema, {
    interpolate: true,
    hint: 'see config/agent.yaml and the README for the accepted keys',
  })
  return config
}
