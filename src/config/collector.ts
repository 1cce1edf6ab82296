import { z } from 'zod'
import { telemetrySchema } from '../telemetry/settings.js'
import { Duration } from './duration.js'
import { loadYamlFile } from './load.js'
import { SEVERITIES } from './policy.js'
import { NotifiersSchema, ReplacementConfigSchema } from './replacement.js'

/**
 * When a host stops being merely drifted and becomes a snowflake, to be replaced. Every rule
 * is optional; a host is a snowflake as soon as one rule holds.
 */
export const SnowflakeRulesSchema = z.strictObject({
  severity: z
    .enum([...SEVERITIES, 'none'])
    .default('critical')
    .describe('Any finding of this severity or worse makes a snowflake; `none` turns the rule off.'),
  counts: z
    .partialRecord(z.enum(SEVERITIES), z.number().int().positive())
    .default({})
    .describe('This many findings (or more) of a severity make a snowflake, e.g. `{ high: 5 }`.'),
  driftGrace: Duration.optional().describe(
    'Drift that has lasted longer than this (a duration: 90s, 15m, 24h, 7d) makes a snowflake, whatever its severity.',
  ),
  manifestMismatch: z
    .boolean()
    .default(true)
    .describe(
      'A host running a manifest other than the one registered for its image version is a snowflake.',
    ),
  unregisteredImage: z
    .boolean()
    .default(false)
    .describe('A host reporting an image version that nobody registered is a snowflake.'),
  reportsMissingAfter: Duration.optional().describe(
    'A host that still sends heartbeats but no report for this long (a duration) has an agent that stopped scanning: a snowflake.',
  ),
})
export type SnowflakeRules = z.output<typeof SnowflakeRulesSchema>

export const FleetRulesSchema = z.strictObject({
  staleAfter: Duration.default(15 * 60_000).describe(
    'No report and no heartbeat for this long (a duration; default 15m): the host is stale.',
  ),
  snowflake: SnowflakeRulesSchema.default(SnowflakeRulesSchema.parse({})).describe(
    'When a host stops being merely drifted and becomes a snowflake, to be replaced; any one rule is enough.',
  ),
})
export type FleetRules = z.output<typeof FleetRulesSchema>

/** How far ahead of the collector's clock a scan may start, unless collector.yaml says otherwise. */
export const DEFAULT_CLOCK_SKEW_MS = 5 * 60_000

/** `host:port`, `[v6]:port` or `:port`. */
const Listen = z.union([z.string(), z.number()]).transform((value, ctx) => {
  const text = String(value)
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(text)
  const port = Number(match?.[3])
  if (!match || port > 65535) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not host:port (e.g. 127.0.0.1:8080 or [::1]:8080)`,
    })
    return z.NEVER
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port }
})

const AdminTokenText = z
  .string()
  .min(16, 'must be at least 16 characters; generate one with `openssl rand -hex 32`')
const AdminName = z.string().regex(/^[A-Za-z0-9._@-]{1,64}$/, 'letters, digits and . _ @ - only, at most 64')

/** collector.yaml (DESIGN.md): where it listens, where it stores, who may speak to it, how the fleet is judged. */
export const CollectorConfigSchema = z.strictObject({
  listen: Listen.default({ host: '127.0.0.1', port: 8080 }).describe(
    'Where the API and the fleet page listen: `host:port`, `[v6]:port` or `:port` (all interfaces). Default 127.0.0.1:8080.',
  ),
  store: z
    .string()
    .min(1)
    .default('sqlite:///var/lib/driftwatch/collector.db')
    .describe(
      '`sqlite:///path/collector.db` (created 0600 on first start) or `postgres://user@host:5432/db` (optionally `?schema=NAME`).',
    ),
  tls: z
    .strictObject({
      cert: z.string().min(1).describe('PEM file of the certificate chain.'),
      key: z.string().min(1).describe('PEM file of the private key.'),
    })
    .optional()
    .describe('Serve HTTPS with this certificate and key; the fleet page cookie is then Secure.'),
  enrollSecret: z
    .string()
    .min(16, 'must be at least 16 characters; generate one with `openssl rand -hex 32`')
    .describe(
      // biome-ignore lint/suspicious/noTemplateCurlyInString: an environment reference as collector.yaml writes it
      'The secret agents present once to enrol; at least 16 characters. Write it as `${DRIFTWATCH_ENROLL_SECRET}`.',
    ),
  adminTokens: z
    .array(
      z.union([
        AdminTokenText,
        z.strictObject({
          name: AdminName.describe('Who the token speaks for, recorded with every action taken with it.'),
          token: AdminTokenText.describe('The token itself; write it as an environment reference.'),
        }),
      ]),
    )
    .min(1)
    .describe(
      'Tokens for operators (fleet reads, image registration, replacement decisions, the fleet page sign-in); each at least 16 characters, bare or as `{ name, token }` (the name is recorded with every action).',
    ),
  bodyLimit: z
    .number()
    .int()
    .min(1024)
    .default(8 * 1024 * 1024)
    .describe('Largest request body accepted, in bytes, after gzip is undone.'),
  reportHistory: z
    .number()
    .int()
    .min(1)
    .max(100_000)
    .default(100)
    .describe('How many past reports to keep per host (the latest full report is always kept).'),
  clockSkew: Duration.default(DEFAULT_CLOCK_SKEW_MS).describe(
    "How far ahead of the collector's clock a report's scan may say it started; further is refused (400) and counted. A duration, default 5m.",
  ),
  timeouts: z
    .strictObject({
      headers: Duration.default(10_000).describe(
        'The request line and headers must have arrived within this (default 10s).',
      ),
      request: Duration.default(30_000).describe(
        'The whole request, body included, must have arrived within this (default 30s).',
      ),
      idle: Duration.default(5_000).describe(
        'A kept-alive connection with no request for this long is closed (default 5s).',
      ),
    })
    .refine((t) => t.headers <= t.request, {
      message: 'headers must not be longer than request (the request includes its headers)',
    })
    .refine((t) => t.headers > 0 && t.request > 0 && t.idle > 0, { message: 'every timeout must be above 0' })
    .default({ headers: 10_000, request: 30_000, idle: 5_000 })
    .describe('How long a client may take; each enforced within a second of its limit.'),
  shutdownGrace: Duration.default(5_000).describe(
    'On SIGTERM, requests in flight get this long to finish; then every connection left is closed (default 5s).',
  ),
  sweepEvery: Duration.default(30_000).describe(
    'How often the collector re-judges the fleet for states that change with time (stale, drift age); a duration, default 30s.',
  ),
  staleAfter: FleetRulesSchema.shape.staleAfter,
  snowflake: FleetRulesSchema.shape.snowflake,
  telemetry: telemetrySchema
    .optional()
    .describe('OpenTelemetry metrics (README, Metrics); the standard OTEL_* variables win over these keys.'),
  replacement: ReplacementConfigSchema.default(ReplacementConfigSchema.parse({})).describe(
    'How snowflakes are replaced: budget, windows, approval, executor (README, Replacement).',
  ),
  notifiers: NotifiersSchema.describe(
    'Where people and automation are told about snowflakes and replacements: alertmanager, slack, webhook.',
  ),
  publicUrl: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
    .optional()
    .describe("The collector's URL as people reach it, for the links in alerts (default: http://<listen>)."),
  logLevel: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Log level of the JSON logs on stdout.'),
})
export type CollectorConfig = z.output<typeof CollectorConfigSchema>

/** Reads collector.yaml: `${ENV}` replaced from the environment, every key checked, errors naming file and key. */
export function loadCollectorConfig(file: string): CollectorConfig {
  return loadYamlFile(file, CollectorConfigSchema, {
    interpolate: true,
    hint: 'see config/collector.yaml and the README for the accepted keys',
  })
}

export function fleetRulesOf(config: CollectorConfig): FleetRules {
  return { staleAfter: config.staleAfter, snowflake: config.snowflake }
}
