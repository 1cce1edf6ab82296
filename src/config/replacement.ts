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
  start: CronExpression.describe(
    'A cron expression: the window opens each time it fires, e.g. "0 2 * * 1-5".',
  ),
  duration: Duration.describe('How long the window stays open once it has opened (a duration, e.g. 4h).'),
  timezone: TimeZone.default('UTC').describe(
    'The IANA time zone the cron start is read in (e.g. Europe/Berlin).',
  ),
})
export type WindowConfig = z.output<typeof WindowSchema>

export const WebhookExecutorSchema = z.strictObject({
  type: z.literal('webhook').describe('`webhook`: each replacement is a signed POST to `url`.'),
  url: HttpUrl.describe('The http(s) URL each replacement is posted to.'),
  secret: Secret.describe(
    'Signs every request (header X-Driftwatch-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">); at least 16 characters.',
  ),
  timeout: Duration.default(10_000).describe(
    'One attempt, from connecting to the last byte of the answer (default 10s).',
  ),
  retries: z
    .number()
    .int()
    .min(0)
    .max(10)
    .default(3)
    .describe('Attempts after the first, with exponential backoff and jitter.'),
})

export const CommandExecutorSchema = z.strictObject({
  type: z.literal('command').describe('`command`: each replacement runs a program.'),
  run: z
    .array(z.string().min(1))
    .min(1)
    .describe('The program and its arguments (no shell), e.g. ["/usr/local/bin/replace-aws", "--wait"].'),
  timeout: Duration.default(300_000).describe(
    'Killed (SIGTERM, then SIGKILL) after this long: a failed dispatch (default 5m).',
  ),
})

export const ExecutorSchema = z.discriminatedUnion('type', [WebhookExecutorSchema, CommandExecutorSchema])
export type ExecutorConfig = z.output<typeof ExecutorSchema>

/** collector.yaml `replacement` (DESIGN.md): how snowflakes leave the fleet. */
export const ReplacementConfigSchema = z.strictObject({
  dryRun: z
    .boolean()
    .optional()
    .describe(
      'Record and alert what would be done, but run no executor. Default: true until an executor is configured.',
    ),
  groupLabel: z
    .string()
    .min(1)
    .max(128)
    .default('group')
    .describe("The host label whose value is a host's replacement group; hosts without it form one group."),
  budget: z
    .strictObject({
      maxConcurrent: z
        .number()
        .int()
        .min(1)
        .default(1)
        .describe('Replacements dispatched and not finished, per group.'),
      minHealthyPercent: z
        .number()
        .min(0)
        .max(100)
        .default(90)
        .describe(
          'Hosts of the group that must stay in service (reporting, not being replaced), in percent.',
        ),
    })
    .default({ maxConcurrent: 1, minHealthyPercent: 90 })
    .describe('How many hosts of one group may be replaced at once.'),
  cooldown: Duration.default(0).describe(
    'Least time between two dispatches in one group (a duration; default 0).',
  ),
  windows: z
    .array(WindowSchema)
    .default([])
    .describe('Dispatch only inside one of these maintenance windows; none: at any time.'),
  approval: z.boolean().default(false).describe('Every replacement waits for `driftwatch fleet approve ID`.'),
  cancelWhenClean: z
    .boolean()
    .default(false)
    .describe(
      'A host that scans clean before its dispatch has its replacement cancelled (default: it keeps it).',
    ),
  goneAfter: Duration.default(10 * 60_000).describe(
    'A dispatched host silent for this long has been replaced (default 10m).',
  ),
  timeout: Duration.default(2 * 3_600_000).describe(
    'A dispatched host still reporting this long after the dispatch is a failed replacement (default 2h).',
  ),
  every: Duration.default(30_000).describe('How often the scheduler looks at the queue (default 30s).'),
  leaseTtl: Duration.default(90_000).describe(
    "The scheduler's lease among collectors sharing a database: held this long unless renewed (default 90s).",
  ),
  executor: ExecutorSchema.optional().describe(
    'What carries out a replacement: `{ type: webhook, url, secret }` or `{ type: command, run }`; none: dry run.',
  ),
})
export type ReplacementConfig = z.output<typeof ReplacementConfigSchema>

const NotifierName = z
  .string()
  .min(1)
  .max(64)
  .optional()
  .describe('A name of its own when there are several of one type (recorded with each delivery).')
const NotifierTimeout = Duration.default(10_000).describe(
  'One delivery attempt at most this long (default 10s).',
)

export const NotifierSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('alertmanager').describe('`alertmanager`: alerts posted to Alertmanager.'),
    url: HttpUrl.describe("Alertmanager's base URL; alerts go to <url>/api/v2/alerts."),
    name: NotifierName,
    resendEvery: Duration.default(60_000).describe(
      'Firing alerts are sent again this often, so that Alertmanager keeps them (default 1m).',
    ),
    timeout: NotifierTimeout,
  }),
  z.strictObject({
    type: z.literal('slack').describe('`slack`: messages posted to a Slack incoming webhook.'),
    url: HttpUrl.describe('A Slack incoming webhook URL.'),
    name: NotifierName,
    timeout: NotifierTimeout,
  }),
  z.strictObject({
    type: z.literal('webhook').describe('`webhook`: events posted as signed JSON to a URL.'),
    url: HttpUrl.describe('The http(s) URL events are posted to.'),
    secret: Secret.describe('Signs every request (header X-Driftwatch-Signature); at least 16 characters.'),
    name: NotifierName,
    timeout: NotifierTimeout,
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
