import { z } from 'zod'
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
      /** The collector's base URL, http(s). */
      url: z.url({
        protocol: /^https?$/,
        error: 'expected an http(s) URL, e.g. https://collector.internal:8443',
      }),
      /** Presented once, at enrolment; at least 16 characters. */
      enrollSecret: z.string().min(16, 'must be at least 16 characters (the collector requires it)'),
      /** PEM file of the CA that signed the collector's certificate: the only CA trusted for it. */
      ca: z.string().min(1).optional(),
      /** A client certificate and its key (PEM files), for a collector behind mutual TLS. */
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      /** Connecting, and waiting for an answer's headers and body, each at most this long. */
      connectTimeout: Duration.default(10_000),
      responseTimeout: Duration.default(30_000),
      /** Retries of one request (connection refused or reset, 429, 5xx) before it waits for the next cycle. */
      retries: z.number().int().min(0).max(20).default(4),
      /** Backoff between retries: full jitter below min(maxBackoff, minBackoff * 2^attempt). */
      minBackoff: Duration.default(1000),
      maxBackoff: Duration.default(60_000),
    })
    .superRefine((collector, ctx) => {
      if ((collector.cert === undefined) !== (collector.key === undefined)) {
        ctx.addIssue({
          code: 'custom',
          path: [collector.cert === undefined ? 'cert' : 'key'],
          message: 'a client certificate needs both cert and key',
        })
      }
    }),
  /** The image's manifest (.json or .json.gz), verified on every load. */
  manifest: z.string().min(1),
  /** ed25519 public key (PEM): a manifest whose FILE.sig does not verify with it is never used. */
  publicKey: z.string().min(1).optional(),
  /** The host file system to check (`/`, or `/host` in a container). */
  root: z.string().min(1).default('/'),
  /** Token, spool and scan cache; writable by the agent alone. */
  stateDir: z.string().min(1).default('/var/lib/driftwatch'),
  /** The host's id; by default its machine id (/etc/machine-id in the root). */
  hostId: HostIdText.optional(),
  /** Sent with every report: the replacement group and anything else. */
  labels: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
  schedule: z
    .strictObject({
      /** Cron: a quick scan re-hashes only what its stat cache says changed. */
      quick: CronExpression.default('*/15 * * * *'),
      /** Cron: a full scan re-hashes everything and trusts nothing but the manifest. */
      full: CronExpression.default('0 3 * * *'),
      /** A duration (60s) or cron: keeps the host from going stale, and retries the spool. */
      heartbeat: HeartbeatSchedule.default({ kind: 'every', ms: 60_000 }),
      /** Each scan starts up to this much later, by an amount fixed per host: a fleet does not scan in lock-step. */
      splay: Duration.default(5 * 60_000),
      /** Time zone of the cron expressions (IANA name); the system's by default. */
      timezone: z.string().min(1).optional(),
    })
    .default({
      quick: '*/15 * * * *',
      full: '0 3 * * *',
      heartbeat: { kind: 'every', ms: 60_000 },
      splay: 5 * 60_000,
    }),
  scan: z
    .strictObject({
      /** Threads that walk and hash files; by default one per core. */
      workers: z.number().int().min(1).max(256).optional(),
      /** Also check every package-owned file against the package manager's digests (full scans). */
      verifyPackages: z.boolean().default(false),
    })
    .default({ verifyPackages: false }),
  spool: z
    .strictObject({
      /** Undelivered reports kept at most; past it the oldest are dropped (and counted). */
      maxReports: z.number().int().min(1).max(100_000).default(500),
      /** Bytes of undelivered reports kept at most (gzipped, as sent). */
      maxBytes: Bytes.default(64 * 1024 ** 2),
    })
    .default({ maxReports: 500, maxBytes: 64 * 1024 ** 2 }),
  /** Log level of the JSON logs on stdout. */
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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
