import { validateDetailed } from 'node-cron'
import { z } from 'zod'
import { Duration } from './duration.js'

const HttpUrl = z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' })

/** A signing secret for webhooks: at least 16 characters, so that a signature is worth checking. */
const Secret = z.string().min(16, 'must be at least 16 characters; generate one with `openssl rand -hex 32`')

const CronExpression = z.string().superRefine((text, ctx) => {
  const { valid, errors } = validateDetailed(text)
  if (!valid) {
    ctx.addIssue({
      code: 'custom',
      message: `"${text}" is not a cron expression (${errors.map((e) => e.message).join('; ') || 'unreadable'}); write it as "0 2 * * 1-5"`,
    })
  }
})

const TimeZone = z.string().superRefine((text, ctx) => {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: text })
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not an IANA time zone (e.g. UTC, Europe/Berlin)` })
  }
})

/** A maintenance window: it opens when the cron start fires (in its time zone) and lasts `duration`. */
export const WindowSchema = z.strictObject({
  start: CronExpression,
  duration: Duration,
  timezone: TimeZone.default('UTC'),
})
export type WindowConfig = z.output<typeof WindowSchema>

export const WebhookExecutorSchema = z.strictObject({
  type: z.literal('webhook'),
  url: HttpUrl,
  /** Signs every request (header X-Driftwatch-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">). */
  secret: Secret,
  /** One attempt, from connecting to the last byte of the answer. */
  timeout: Duration.default(10_000),
  /** Attempts after the first, with exponential backoff and jitter. */
  retries: z.number().int().min(0).max(10).default(3),
})

export const CommandExecutorSchema = z.strictObject({
  type: z.literal('command'),
  /** The program and its arguments (no shell), e.g. ["/usr/local/bin/replace-aws", "--wait"]. */
  run: z.array(z.string().min(1)).min(1),
  /** Killed (SIGTERM, then SIGKILL) after this long: a failed dispatch. */
  timeout: Duration.default(300_000),
})

export const ExecutorSchema = z.discriminatedUnion('type', [WebhookExecutorSchema, CommandExecutorSchema])
export type ExecutorConfig = z.output<typeof ExecutorSchema>

/** collector.yaml `replacement` (DESIGN.md): how snowflakes leave the fleet. */
export const ReplacementConfigSchema = z.strictObject({
  /** Record and alert what would be done, but run no executor. Default: true until an executor is configured. */
  dryRun: z.boolean().optional(),
  /** The host label whose value is a host's replacement group; hosts without it form one group. */
  groupLabel: z.string().min(1).max(128).default('group'),
  budget: z
    .strictObject({
      /** Replacements dispatched and not finished, per group. */
      maxConcurrent: z.number().int().min(1).default(1),
      /** Hosts of the group that must stay in service (reporting, not being replaced), in percent. */
      minHealthyPercent: z.number().min(0).max(100).default(90),
    })
    .default({ maxConcurrent: 1, minHealthyPercent: 90 }),
  /** Least time between two dispatches in one group. */
  cooldown: Duration.default(0),
  /** Dispatch only inside one of these; none: at any time. */
  windows: z.array(WindowSchema).default([]),
  /** Every replacement waits for `driftwatch fleet approve ID`. */
  approval: z.boolean().default(false),
  /** A host that scans clean before its dispatch has its replacement cancelled (default: it keeps it). */
  cancelWhenClean: z.boolean().default(false),
  /** A dispatched host silent for this long has been replaced. */
  goneAfter: Duration.default(10 * 60_000),
  /** A dispatched host still reporting this long after the dispatch is a failed replacement. */
  timeout: Duration.default(2 * 3_600_000),
  /** How often the scheduler looks at the queue. */
  every: Duration.default(30_000),
  /** The scheduler's lease among collectors sharing a database: held this long unless renewed. */
  leaseTtl: Duration.default(90_000),
  executor: ExecutorSchema.optional(),
})
export type ReplacementConfig = z.output<typeof ReplacementConfigSchema>

export const NotifierSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('alertmanager'),
    /** Alertmanager's base URL; alerts go to <url>/api/v2/alerts. */
    url: HttpUrl,
    /** A name of its own when there are several of one type (recorded with each delivery). */
    name: z.string().min(1).max(64).optional(),
    /** Firing alerts are sent again this often, so that Alertmanager keeps them. */
    resendEvery: Duration.default(60_000),
    timeout: Duration.default(10_000),
  }),
  z.strictObject({
    type: z.literal('slack'),
    /** A Slack incoming webhook URL. */
    url: HttpUrl,
    name: z.string().min(1).max(64).optional(),
    timeout: Duration.default(10_000),
  }),
  z.strictObject({
    type: z.literal('webhook'),
    url: HttpUrl,
    secret: Secret,
    name: z.string().min(1).max(64).optional(),
    timeout: Duration.default(10_000),
  }),
])
export type NotifierConfig = z.output<typeof NotifierSchema>

/** Notifiers with their names: `name`, else the type, numbered when a type repeats. */
export const NotifiersSchema = z
  .array(NotifierSchema)
  .default([])
  .superRefine((list, ctx) => {
    const names = new Set<string>()
    list.forEach((n, index) => {
      const name = notifierName(list, index)
      if (names.has(name)) {
        ctx.addIssue({
          code: 'custom',
          path: [index, 'name'],
          message: `"${name}" names two notifiers; give each its own name`,
        })
      }
      names.add(name)
      void n
    })
  })

export function notifierName(list: readonly NotifierConfig[], index: number): string {
  const notifier = list[index]
  if (!notifier) throw new Error(`no notifier ${index}`)
  if (notifier.name) return notifier.name
  const same = list.filter((n) => n.type === notifier.type && !n.name)
  return same.length > 1 ? `${notifier.type}-${same.indexOf(notifier) + 1}` : notifier.type
}

/** The replacement settings in force: dry run unless an executor is configured and dryRun is not set. */
export function effectiveDryRun(config: ReplacementConfig): boolean {
  return config.dryRun ?? config.executor === undefined
}
