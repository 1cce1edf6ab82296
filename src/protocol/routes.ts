import { z } from 'zod'
import type { ErrorCode } from '../errors.js'
import { REPLACEMENT_STATES_ORDERED } from '../fleet/replacements.js'
import { HOST_STATES } from '../fleet/states.js'
import type {
  ApiError,
  EnrollResponse,
  HostDetailView,
  HostsPageView,
  HostView,
  ImageView,
  ReplacementQueueView,
  ReplacementView,
} from './api.js'
import { EnrollRequestSchema, HeartbeatRequestSchema, ImageRegistrationSchema } from './api.js'
import { HOSTS_PAGE_DEFAULT, HOSTS_PAGE_MAX } from './defaults.js'
import { HostFactsSchema } from './facts.js'
import { DriftItemSchema, ReportSchema, SummarySchema } from './report.js'
import { WireText } from './text.js'

/*
 * The collector's routes, one table: who may call each, what it takes and what it answers.
 * docs/api.md is generated from it (scripts/docs.ts), and test/docs/routes.test.ts holds it to
 * the routes the collector registers, both ways, and to what they answer.
 */

// --- What a route takes beyond its body: path parameters and query strings ------------------

export const IdParamsSchema = z.strictObject({
  id: WireText(256).describe('The id, as the listing shows it.'),
})

export const ImageParamsSchema = z.strictObject({
  id: WireText(256)
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits and . _ - only')
    .describe('The image id, e.g. `web-base`.'),
  version: WireText(256)
    .regex(/^[A-Za-z0-9._+-]+$/, 'letters, digits and . _ + - only')
    .describe('The image version, e.g. `2026.11.27-1`.'),
})

/**
 * `GET /v1/hosts?state=&image=&label=k=v&limit=&cursor=`: `state` and `label` repeat (any of
 * the states; every label); `cursor` is the `next` of the page before, passed back unchanged.
 */
export const HostsQuerySchema = z.strictObject({
  state: z
    .union([z.enum(HOST_STATES), z.array(z.enum(HOST_STATES)).max(HOST_STATES.length)])
    .optional()
    .describe('Only hosts in this state; repeatable (any of them).'),
  image: WireText(256).optional().describe('Only hosts of this image id.'),
  label: z
    .union([WireText(512), z.array(WireText(512)).max(32)])
    .optional()
    .describe('`key=value`, repeatable: every label given must match.'),
  limit: z
    .string()
    .regex(/^[0-9]{1,7}$/, `expected a whole number of hosts, 1 to ${HOSTS_PAGE_MAX}`)
    .transform(Number)
    .pipe(
      z
        .number()
        .min(1, `expected 1 to ${HOSTS_PAGE_MAX} hosts`)
        .max(HOSTS_PAGE_MAX, `expected 1 to ${HOSTS_PAGE_MAX} hosts`),
    )
    .optional()
    .describe(`Hosts per page: ${HOSTS_PAGE_DEFAULT} unless given, at most ${HOSTS_PAGE_MAX}.`),
  cursor: WireText(1024).optional().describe('The `next` of the page before, unchanged: the page after it.'),
})

export const ReplacementsQuerySchema = z.strictObject({
  state: z
    .union([z.enum(REPLACEMENT_STATES_ORDERED), z.array(z.enum(REPLACEMENT_STATES_ORDERED)).max(6)])
    .optional()
    .describe('Only replacements in this state; repeatable.'),
  host: WireText(256).optional().describe("Only this host's replacements."),
})

// --- What the routes answer -----------------------------------------------------------------
// Objects, not strict objects: a client must accept fields added in a later version.

const Time = z.string().describe('ISO 8601, UTC.')
const TimeOrNull = Time.nullable()

export const ApiErrorSchema = z.object({
  code: z.string().describe('What went wrong, as a stable word: `INPUT_INVALID`, `UNAUTHENTICATED`, …'),
  message: z
    .string()
    .describe('Where and what, in one line: `body.host.id: letters, digits and . _ : @ - only`.'),
  hint: z.string().optional().describe('How to fix it.'),
})

export const HealthSchema = z.object({
  ok: z.literal(true).describe('The process is up (and, for readyz, its store answers).'),
})

export const EnrollResponseSchema = z.object({
  hostId: z.string().describe('The host enrolled.'),
  token: z
    .string()
    .describe("The host's bearer token (`dwh_…`); shown once, kept by the collector only as a hash."),
  rotated: z.boolean().describe('True when this enrolment replaced an earlier token of the host.'),
})

export const ReportAcceptedSchema = z.object({
  reportId: z.string().describe('The report stored.'),
  duplicate: z.boolean().describe('True for a retry of a report already stored (stored once).'),
  state: z.enum(HOST_STATES).describe("The host's state after the report."),
  reasons: z.array(z.string()).describe('Why the host is in that state, in words.'),
})

export const HeartbeatAcceptedSchema = z.object({
  state: z.enum(HOST_STATES).describe("The host's state."),
})

export const HostViewSchema = z.object({
  id: z.string().describe("The host's id."),
  hostname: z.string().describe('Its host name.'),
  labels: z.record(z.string(), z.string()).describe('Its labels.'),
  image: z
    .object({
      id: z.string().describe('Image id.'),
      version: z.string().describe('Image version.'),
      manifestDigest: z.string().describe('Digest of the manifest its latest report was checked against.'),
    })
    .nullable()
    .describe('What its latest report says it runs; null before the first report.'),
  state: z.enum(HOST_STATES).describe('Its state.'),
  stateReasons: z.array(z.string()).describe('Why, in words (e.g. "2 critical findings").'),
  stateSince: Time.describe('When it entered that state.'),
  enrolledAt: Time.describe('When it first enrolled.'),
  lastSeenAt: Time.describe('Its latest report or heartbeat.'),
  lastReportAt: TimeOrNull.describe('Its latest report.'),
  lastHeartbeatAt: TimeOrNull.describe('Its latest heartbeat.'),
  driftSince: TimeOrNull.describe('Since when it has drifted without a break; null when clean.'),
  summary: SummarySchema.nullable().describe("Its latest report's findings by severity."),
})

export const HostListSchema = z.object({
  hosts: z.array(HostViewSchema).describe('The hosts that match, in id order.'),
  next: z.string().optional().describe('There when more hosts match: pass it as `cursor` for the next page.'),
})

const ExplainedDrift = z.object({
  item: DriftItemSchema.describe('The package or configuration change.'),
  files: z.array(DriftItemSchema).describe('The file changes it explains.'),
})

export const HostDetailSchema = z.object({
  host: HostViewSchema.describe('The host, as the listing shows it.'),
  facts: HostFactsSchema.nullable().optional().describe('What the host is, as its latest report said.'),
  drift: z
    .object({
      packages: z.array(ExplainedDrift).describe('Package changes, each with the file changes it explains.'),
      files: z.array(DriftItemSchema).describe('File changes no package or configuration change explains.'),
      config: z
        .array(ExplainedDrift)
        .describe('Configuration changes, each with the file changes it explains.'),
    })
    .nullable()
    .describe("The latest report's drift, grouped; null before the first report."),
  latestReport: z
    .object({
      reportId: z.string().describe('Its id.'),
      mode: z.enum(['full', 'quick']).describe('Full or quick scan.'),
      startedAt: Time.describe('When the scan began.'),
      durationMs: z.number().describe('How long it took.'),
    })
    .nullable()
    .describe('The latest report; null before the first.'),
  states: z
    .array(
      z.object({
        from: z.enum(HOST_STATES).nullable().describe('The state left; null at enrolment.'),
        to: z.enum(HOST_STATES).describe('The state entered.'),
        reasons: z.array(z.string()).describe('Why.'),
        at: Time.describe('When.'),
      }),
    )
    .describe('Every state transition, oldest first.'),
  reports: z
    .array(
      z.object({
        reportId: z.string().describe('Its id.'),
        receivedAt: Time.describe('When the collector received it.'),
        startedAt: Time.describe('When its scan began.'),
        mode: z.enum(['full', 'quick']).describe('Full or quick scan.'),
        summary: SummarySchema.describe('Its findings by severity.'),
      }),
    )
    .describe('Recent reports, newest first (at most 20).'),
})

export const ImageViewSchema = z.object({
  id: z.string().describe('Image id.'),
  version: z.string().describe('Image version.'),
  manifestDigest: z.string().describe('The manifest hosts of this version are held to.'),
  publicKeys: z.array(z.string()).describe('Trusted ed25519 public keys (PEM).'),
  signedBy: z.string().nullable().describe('The keyId whose signature verified; null when unsigned.'),
  registeredAt: Time.describe('When it was registered.'),
})

export const ImageListSchema = z.object({
  images: z.array(ImageViewSchema).describe('Every registered image version.'),
})

const ReplacementState = z.enum(REPLACEMENT_STATES_ORDERED)

export const ReplacementViewSchema = z.object({
  id: z.string().describe("The replacement's id."),
  hostId: z.string().describe('The host replaced.'),
  hostname: z.string().nullable().describe('Its host name, when the collector still knows it.'),
  group: z.string().describe('Its replacement group (the `groupLabel` label).'),
  state: ReplacementState.describe('pending, waiting, dispatched, completed, failed or cancelled.'),
  reason: z.string().describe('Why it is in that state.'),
  waitingFor: z
    .enum(['window', 'budget', 'cooldown', 'approval'])
    .nullable()
    .describe('What a waiting replacement waits for.'),
  trigger: z.enum(['snowflake', 'manual']).describe('Who asked: the snowflake rules, or an operator.'),
  requestedBy: z.string().nullable().describe('The admin token name that asked, for a manual one.'),
  approvedBy: z.string().nullable().describe('The admin token name that approved it.'),
  approvedAt: TimeOrNull.describe('When.'),
  dryRun: z.boolean().describe('Recorded and alerted, but no executor run.'),
  executor: z.string().nullable().describe('The executor that carried it out.'),
  output: z.string().nullable().describe("What the executor answered (its output's end)."),
  createdAt: Time.describe('When it was created.'),
  updatedAt: Time.describe('Its latest change.'),
  dispatchedAt: TimeOrNull.describe('When the executor was called.'),
  finishedAt: TimeOrNull.describe('When it ended.'),
  events: z
    .array(
      z.object({
        from: ReplacementState.nullable().describe('The state left.'),
        to: ReplacementState.describe('The state entered.'),
        reason: z.string().describe('Why.'),
        actor: z.string().describe('Who: the scheduler, or an admin token name.'),
        at: Time.describe('When.'),
      }),
    )
    .optional()
    .describe('Every change, with who made it; in the detail view only.'),
})

export const ReplacementQueueSchema = z.object({
  dryRun: z.boolean().describe('No executor runs: replacements are recorded and alerted only.'),
  replacements: z.array(ReplacementViewSchema).describe('The replacements that match.'),
  groups: z
    .array(
      z.object({
        group: z.string().describe('The group.'),
        hosts: z.number().describe('Its hosts.'),
        inService: z.number().describe('Hosts reporting and not being replaced.'),
        inFlight: z.number().describe('Replacements dispatched and not finished.'),
        maxConcurrent: z.number().describe('The budget: at most this many in flight.'),
        minHealthyPercent: z.number().describe('The budget: at least this share in service.'),
        budgetLeft: z.number().describe('How many more may be dispatched now by the budget alone.'),
        lastDispatchedAt: TimeOrNull.describe('The latest dispatch in the group.'),
      }),
    )
    .describe("Each group's budget."),
  window: z
    .object({
      open: z.boolean().describe('Whether a maintenance window is open now (always, with none configured).'),
      openUntil: TimeOrNull.describe('When the open window closes.'),
      nextOpening: TimeOrNull.describe('When the next one opens.'),
      windows: z.string().describe('The windows configured, in words.'),
    })
    .describe('The maintenance windows.'),
  lease: z
    .object({
      holder: z.string().describe('The collector that schedules.'),
      acquiredAt: Time.describe('Since when.'),
      expiresAt: Time.describe('Until when, unless renewed.'),
      ageMs: z.number().describe('How long it has held it.'),
    })
    .nullable()
    .describe("The scheduler's lease among collectors sharing a database."),
})

// --- The table --------------------------------------------------------------------------------

/** Who may call a route: how the caller proves it (docs/api.md, "Who may call what"). */
export type RouteAuth = 'none' | 'enrolment secret' | 'agent token' | 'admin token' | 'page session'

export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT'
  /** Fastify's syntax: `/v1/hosts/:id`. */
  path: string
  auth: RouteAuth
  /** What it is for, in a sentence. */
  what: string
  params?: z.ZodType
  query?: z.ZodType
  body?: z.ZodType
  /** The success statuses and what each means. */
  answers: Record<number, string>
  /** The JSON a success carries; none for the fleet page's HTML. */
  response?: z.ZodType
  /** The refusals particular to the route; every route may also answer 400, 413, 415 and 503. */
  errors: ErrorCode[]
  /** A route of the fleet page, for people: HTML, and not an API (its markup may change). */
  page?: true
}

export const ROUTES: readonly RouteSpec[] = [
  {
    method: 'POST',
    path: '/v1/enroll',
    auth: 'enrolment secret',
    what: 'Enrols a host, once per host life: the agent trades the enrolment secret for a host token.',
    body: EnrollRequestSchema,
    answers: { 201: 'enrolled', 200: 'enrolled before: a new token, and the old one stops working at once' },
    response: EnrollResponseSchema,
    errors: ['INPUT_INVALID', 'UNAUTHENTICATED'],
  },
  {
    method: 'POST',
    path: '/v1/reports',
    auth: 'agent token',
    what: "Delivers a host's drift report; the collector judges the host by it.",
    body: ReportSchema,
    answers: { 201: 'stored', 200: 'a retry of the same `reportId`, stored once' },
    response: ReportAcceptedSchema,
    errors: ['INPUT_INVALID', 'UNAUTHENTICATED', 'FORBIDDEN', 'CONFLICT'],
  },
  {
    method: 'POST',
    path: '/v1/heartbeats',
    auth: 'agent token',
    what: 'Keeps a host from going stale between scans, and tells the agent its state.',
    body: HeartbeatRequestSchema,
    answers: { 200: 'recorded' },
    response: HeartbeatAcceptedSchema,
    errors: ['INPUT_INVALID', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND'],
  },
  {
    method: 'GET',
    path: '/v1/hosts',
    auth: 'admin token',
    what: 'Lists the hosts a page at a time, in id order, filtered by state, image and labels.',
    query: HostsQuerySchema,
    answers: { 200: 'the hosts' },
    response: HostListSchema,
    errors: ['INPUT_INVALID', 'UNAUTHENTICATED', 'FORBIDDEN'],
  },
  {
    method: 'GET',
    path: '/v1/hosts/:id',
    auth: 'admin token',
    what: 'One host: its latest drift grouped by package and configuration, its state history and recent reports.',
    params: IdParamsSchema,
    answers: { 200: 'the host' },
    response: HostDetailSchema,
    errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND'],
  },
  {
    method: 'POST',
    path: '/v1/hosts/:id/replace',
    auth: 'admin token',
    what: 'Asks for a host to be replaced, whatever its state; the budget, windows and approval still apply.',
    params: IdParamsSchema,
    answers: { 201: 'a replacement created', 200: 'the host already had an open replacement: that one' },
    response: ReplacementViewSchema,
    errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT'],
  },
  {
    method: 'GET',
    path: '/v1/images',
    auth: 'admin token',
    what: 'Lists the registered image versions and the manifests their hosts are held to.',
    answers: { 200: 'the images' },
    response: ImageListSchema,
    errors: ['UNAUTHENTICATED', 'FORBIDDEN'],
  },
  {
    method: 'PUT',
    path: '/v1/images/:id/:version',
    auth: 'admin token',
    what: "Registers the manifest an image version is held to. With `publicKeys`, `signature` (the manifest's `.sig`) must verify over `manifestDigest` with one of them.",
    params: ImageParamsSchema,
    body: ImageRegistrationSchema,
    answers: { 201: 'registered', 200: 'registered again: replaced' },
    response: ImageViewSchema,
    errors: ['INPUT_INVALID', 'UNAUTHENTICATED', 'FORBIDDEN', 'INTEGRITY'],
  },
  {
    method: 'GET',
    path: '/v1/replacements',
    auth: 'admin token',
    what: "The replacement queue: the replacements, each group's budget, the windows and who schedules.",
    query: ReplacementsQuerySchema,
    answers: { 200: 'the queue' },
    response: ReplacementQueueSchema,
    errors: ['INPUT_INVALID', 'UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND'],
  },
  {
    method: 'GET',
    path: '/v1/replacements/:id',
    auth: 'admin token',
    what: 'One replacement, with every change and who made it.',
    params: IdParamsSchema,
    answers: { 200: 'the replacement' },
    response: ReplacementViewSchema,
    errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND'],
  },
  {
    method: 'POST',
    path: '/v1/replacements/:id/approve',
    auth: 'admin token',
    what: 'Approves a replacement that waits for approval (collector.yaml `replacement.approval`).',
    params: IdParamsSchema,
    answers: { 200: 'approved' },
    response: ReplacementViewSchema,
    errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT'],
  },
  {
    method: 'POST',
    path: '/v1/replacements/:id/cancel',
    auth: 'admin token',
    what: 'Cancels a replacement that has not been dispatched.',
    params: IdParamsSchema,
    answers: { 200: 'cancelled' },
    response: ReplacementViewSchema,
    errors: ['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'CONFLICT'],
  },
  {
    method: 'GET',
    path: '/healthz',
    auth: 'none',
    what: 'Liveness: the process is up.',
    answers: { 200: 'up' },
    response: HealthSchema,
    errors: [],
  },
  {
    method: 'GET',
    path: '/readyz',
    auth: 'none',
    what: 'Readiness: the store answers.',
    answers: { 200: 'ready' },
    response: HealthSchema,
    errors: ['IO'],
  },
  {
    method: 'GET',
    path: '/',
    auth: 'page session',
    what: 'The fleet page: hosts by state with counts (`?state=snowflake` filters; at most 200 hosts listed per state, the rest counted), the replacement queue with budgets and windows, recent alerts. Without a session: a redirect (303) to `/login`.',
    answers: { 200: 'the page', 303: 'not signed in: to /login' },
    errors: [],
    page: true,
  },
  {
    method: 'GET',
    path: '/hosts/:id',
    auth: 'page session',
    what: 'One host: state and why, image, labels, drift grouped by package and by configuration namespace with severities, state history.',
    params: IdParamsSchema,
    answers: { 200: 'the page', 303: 'not signed in: to /login' },
    errors: ['NOT_FOUND'],
    page: true,
  },
  {
    method: 'GET',
    path: '/login',
    auth: 'none',
    what: 'The sign-in form; it starts a session that is not yet signed in, for its CSRF token.',
    answers: { 200: 'the form', 303: 'signed in already: to /' },
    errors: [],
    page: true,
  },
  {
    method: 'POST',
    path: '/login',
    auth: 'none',
    what: 'Signs in: the form posts `token` (one of `adminTokens`) and its CSRF token; the answer sets a signed session cookie. After 5 failures in a minute from one address: 429 with `Retry-After`.',
    answers: { 303: 'signed in: to /' },
    errors: ['UNAUTHENTICATED', 'FORBIDDEN'],
    page: true,
  },
  {
    method: 'POST',
    path: '/logout',
    auth: 'page session',
    what: 'Clears the session cookie in this browser; the form carries its CSRF token.',
    answers: { 303: 'signed out: to /login' },
    errors: ['FORBIDDEN'],
    page: true,
  },
  {
    method: 'GET',
    path: '/static/page.css',
    auth: 'none',
    what: "The fleet page's one stylesheet.",
    answers: { 200: 'the stylesheet' },
    errors: [],
    page: true,
  },
  {
    method: 'GET',
    path: '/favicon.ico',
    auth: 'none',
    what: 'Nothing: browsers ask for it on every page, and an empty answer keeps a 404 out of the logs.',
    answers: { 204: 'no content' },
    errors: [],
    page: true,
  },
]

// The answers' schemas and the types the collector builds its answers with must agree: a field
// added to one and not the other fails the type check here.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false
const agree: [
  Same<z.output<typeof HostViewSchema>, HostView>,
  Same<z.output<typeof HostListSchema>, HostsPageView>,
  Same<z.output<typeof HostDetailSchema>, HostDetailView>,
  Same<z.output<typeof ImageViewSchema>, ImageView>,
  Same<z.output<typeof ReplacementViewSchema>, ReplacementView>,
  Same<z.output<typeof ReplacementQueueSchema>, ReplacementQueueView>,
  Same<z.output<typeof EnrollResponseSchema>, EnrollResponse>,
  Same<z.output<typeof ApiErrorSchema>, ApiError>,
] = [true, true, true, true, true, true, true, true]
void agree
