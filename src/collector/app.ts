import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify'
import type { Logger } from 'pino'
import type { z } from 'zod'
import { DEFAULT_CLOCK_SKEW_MS } from '../config/collector.js'
import { formatPath, zodIssueMessage } from '../config/load.js'
import { DriftwatchError, type ErrorCode } from '../errors.js'
import type { Judge } from '../fleet/states.js'
import type { ApiError } from '../protocol/api.js'
import type { Store } from '../store/types.js'
import { type CollectorMetrics, instrumentCollectorApp } from '../telemetry/collector-metrics.js'
import { type AdminToken, AdminTokens, bearerToken, hashSecret, sameHash } from './auth.js'
import { gunzipLimited, parseJsonBody, tooLarge } from './body.js'
import { type FleetPageData, fleetPageData } from './page/data.js'
import { fleetPageRoutes } from './page/routes.js'
import type { ReplacementScheduler } from './replacement/scheduler.js'
import { adminRoutes } from './routes/admin.js'
import { agentRoutes } from './routes/agent.js'
import { replacementRoutes } from './routes/replacements.js'

export interface AppDeps {
  store: Store
  /** Applied to every host the collector touches; see judge.ts. */
  judge: Judge
  enrollSecret: string
  /** Bare tokens, or `{ name, token }`: the name is recorded with the actions taken with it. */
  adminTokens: readonly AdminToken[]
  /** Largest body accepted, after gzip is undone. */
  bodyLimit: number
  /** Reports kept per host. */
  reportHistory: number
  /** How far ahead of the collector's clock a scan may say it started (ms); further is refused. */
  clockSkew?: number
  clock?: () => Date
  /** Pino logger; none in tests. */
  logger?: Logger
  /** The replacement scheduler behind the /v1/replacements routes; none: they answer 404. */
  scheduler?: ReplacementScheduler
  /** Serve HTTPS with these PEM contents. */
  https?: { cert: string | Buffer; key: string | Buffer }
  /** The fleet page's replacement queue and alerts; without them it says there are none. */
  page?: Pick<FleetPageData, 'replacements' | 'recentAlerts'>
  /** OpenTelemetry instruments; none in tests that do not look at metrics. */
  metrics?: CollectorMetrics
  /** Client timeouts in ms (collector.yaml `timeouts`). */
  timeouts?: ClientTimeouts
}

export interface ClientTimeouts {
  /** Request line and headers. */
  headers: number
  /** The whole request, body included. */
  request: number
  /** A kept-alive connection without a request. */
  idle: number
}

const DEFAULT_TIMEOUTS: ClientTimeouts = { headers: 10_000, request: 30_000, idle: 5_000 }

/** Requests refused for what they say, counted since start (telemetry reads them). */
export interface RefusalCounters {
  /** Reports whose scan starts further ahead of the collector's clock than clockSkew allows. */
  futureScanStart: number
}

/** Who is asking: an operator, one host, or nobody known. */
export type Principal = { kind: 'admin'; name: string } | { kind: 'host'; hostId: string; tokenHash: string }

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal
  }
  interface FastifyInstance {
    refusals: RefusalCounters
  }
}

/** The HTTP status of each user-facing error code: the one place where the collector maps them. */
export const STATUS: Record<ErrorCode, number> = {
  USAGE: 400,
  CONFIG_INVALID: 400,
  INPUT_INVALID: 400,
  NOT_FOUND: 404,
  INTEGRITY: 422,
  IO: 503,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
}

/**
 * The collector's HTTP API as a value: every route, the body parsing, authentication and the
 * one error handler. It never listens; the `collector` command does, and tests call `inject()`.
 */
export function buildApp(deps: AppDeps): FastifyInstance {
  const timeouts = deps.timeouts ?? DEFAULT_TIMEOUTS
  // Node enforces headersTimeout and requestTimeout only when it checks its connections, every
  // 30 s by default: a stalled body would be answered up to 30 s late. Check often enough that
  // each limit holds within a second.
  const serverTimeouts = {
    headersTimeout: timeouts.headers,
    requestTimeout: timeouts.request,
    keepAliveTimeout: timeouts.idle,
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(timeouts.headers / 4))),
  }
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    ...(deps.https ? { https: { ...deps.https, ...serverTimeouts } } : { http: serverTimeouts }),
    bodyLimit: deps.bodyLimit,
    // Agents send small documents; a client that takes longer than this to send one is gone or hostile.
    requestTimeout: timeouts.request,
    keepAliveTimeout: timeouts.idle,
    // Host ids, image ids and versions are up to 256 characters (protocol/api.ts), percent-encoded.
    routerOptions: { maxParamLength: 768 },
    // Answered by the onRequest hook below, in the one error shape.
    return503OnClosing: false,
    // Errors raised before a route runs (a bad percent-encoding, …) get the one shape too.
    frameworkErrors: (error, _request, reply) => {
      const { status, body } = errorResponse(error, deps.bodyLimit)
      void (reply as unknown as FastifyReply).code(status).send(body)
    },
    // Requests Node's HTTP parser refuses, or that time out: answered on the raw socket.
    clientErrorHandler: answerClientError,
    // One line per request is noise at fleet scale; refusals and failures are logged by the error handler.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance
  if (deps.metrics) instrumentCollectorApp(app, deps.metrics, deps.https ? 'https' : 'http')
  const clock = deps.clock ?? (() => new Date())
  const adminTokens = new AdminTokens(deps.adminTokens)

  app.removeAllContentTypeParsers()
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer))
    } catch (error) {
      done(error as Error, undefined)
    }
  })
  app.addContentTypeParser('*', (request, _payload, done) => {
    done(
      new DriftwatchError(
        'UNSUPPORTED_MEDIA_TYPE',
        `body: Content-Type ${request.headers['content-type']} is not accepted`,
        { hint: 'send Content-Type: application/json' },
      ),
      undefined,
    )
  })

  app.addHook('preParsing', async (request, _reply, payload) => {
    const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase()
    if (encoding === 'identity') return payload
    if (encoding === 'gzip') return gunzipLimited(payload, deps.bodyLimit)
    throw new DriftwatchError(
      'UNSUPPORTED_MEDIA_TYPE',
      `body: Content-Encoding ${encoding} is not accepted`,
      {
        hint: 'send the body as is or gzip it',
      },
    )
  })

  // Who is asking, for every route that needs to know; routes then say who may.
  app.decorateRequest('principal', undefined)
  app.addHook('onRequest', async (request) => {
    const token = bearerToken(request.headers.authorization)
    if (token === undefined) return
    const hash = hashSecret(token)
    const admin = adminTokens.nameFor(hash)
    if (admin !== undefined) {
      request.principal = { kind: 'admin', name: admin }
      return
    }
    const found = await deps.store.hostForToken(hash)
    if (found && sameHash(found.tokenHash, hash))
      request.principal = { kind: 'host', hostId: found.hostId, tokenHash: found.tokenHash }
  })

  // Shutting down: answers still in flight close their connection, so that no keep-alive
  // socket holds the process open after the last request.
  let closing = false
  app.addHook('preClose', async () => {
    closing = true
  })
  app.addHook('onRequest', async () => {
    if (closing) {
      throw new DriftwatchError('IO', 'collector: shutting down', {
        hint: 'retry: another collector, or this one once restarted, will answer',
      })
    }
  })
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close')
  })

  app.setErrorHandler((error: FastifyError | DriftwatchError | Error, request, reply) => {
    const { status, body } = errorResponse(error, deps.bodyLimit)
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: body.code, status, url: request.url }, 'request refused')
    return reply.code(status).send(body)
  })
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      code: 'NOT_FOUND',
      message: `no route ${request.method} ${request.url.split('?')[0]}`,
      hint: 'see the README for the API routes',
    } satisfies ApiError),
  )

  app.get('/healthz', async () => ({ ok: true }))
  app.get('/readyz', async (_request, reply) => {
    try {
      await deps.store.ping()
      return { ok: true }
    } catch (error) {
      return reply.code(503).send({
        code: 'IO',
        message: `store: not answering (${(error as Error).message})`,
        hint: 'check the database named by store in collector.yaml',
      } satisfies ApiError)
    }
  })

  const refusals: RefusalCounters = { futureScanStart: 0 }
  app.decorate('refusals', refusals)
  const context: RouteContext = {
    ...deps,
    clock,
    clockSkew: deps.clockSkew ?? DEFAULT_CLOCK_SKEW_MS,
    refusals,
  }
  app.register(agentRoutes(context))
  app.register(adminRoutes(context))
  app.register(
    fleetPageRoutes({
      data: fleetPageData(deps.store, deps.page),
      adminTokens: deps.adminTokens,
      clock,
      tls: deps.https !== undefined,
    }),
  )
  app.register(replacementRoutes(context))
  return app
}

export type RouteContext = AppDeps & { clock: () => Date; clockSkew: number; refusals: RefusalCounters }

/** The principal a route needs, or a 401/403 that says why not. */
export function requireHost(request: FastifyRequest): { hostId: string; tokenHash: string } {
  const principal = request.principal
  if (!principal) throw unauthenticated(request)
  if (principal.kind !== 'host') {
    throw new DriftwatchError('FORBIDDEN', `${request.routeOptions.url}: only a host token may call this`, {
      hint: 'agents enrol with POST /v1/enroll and use the token it returns',
    })
  }
  return { hostId: principal.hostId, tokenHash: principal.tokenHash }
}

/** Returns the admin token's name, recorded with what the request changes. */
export function requireAdmin(request: FastifyRequest): string {
  const principal = request.principal
  if (!principal) throw unauthenticated(request)
  if (principal.kind !== 'admin') {
    throw new DriftwatchError('FORBIDDEN', `${request.routeOptions.url}: only an admin token may call this`, {
      hint: 'a host token speaks for its host only; use one of adminTokens from collector.yaml',
    })
  }
  return principal.name
}

function unauthenticated(request: FastifyRequest): DriftwatchError {
  const given = request.headers.authorization !== undefined
  return new DriftwatchError(
    'UNAUTHENTICATED',
    given ? 'Authorization: the token is not valid' : 'Authorization: no bearer token',
    { hint: given ? 'a host that re-enrolled has a new token' : 'send Authorization: Bearer <token>' },
  )
}

/** Validates with a zod schema; the first problem becomes a 400 that names the field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, source: string): z.output<T> {
  const result = schema.safeParse(value)
  if (!result.success) {
    const issue = result.error.issues[0]
    const where = issue?.path.length ? `${source}.${formatPath(issue.path)}` : source
    throw new DriftwatchError('INPUT_INVALID', `${where}: ${issue ? zodIssueMessage(issue) : 'invalid'}`, {
      hint: 'see the protocol v1 schemas (src/protocol) for the accepted fields',
    })
  }
  return result.data
}

/** The hint of an error raised without one: every answer has a hint. */
const DEFAULT_HINT = 'see the README for the API (v1) and its error codes'

function errorResponse(error: unknown, bodyLimit: number): { status: number; body: Required<ApiError> } {
  if (error instanceof DriftwatchError) {
    return {
      status: STATUS[error.code],
      body: { code: error.code, message: error.message, hint: error.hint ?? DEFAULT_HINT },
    }
  }
  const fastifyCode = (error as FastifyError).code
  const statusCode = (error as FastifyError).statusCode
  if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') return errorResponse(tooLarge(bodyLimit), bodyLimit)
  if (fastifyCode === 'FST_ERR_BAD_URL') {
    return {
      status: 400,
      body: {
        code: 'INPUT_INVALID',
        message: 'url: not a valid percent-encoded path',
        hint: 'encode each byte of a path segment as %XX, and only UTF-8',
      },
    }
  }
  if (fastifyCode === 'FST_ERR_MAX_PARAM_LENGTH') {
    return {
      status: 414,
      body: {
        code: 'INPUT_INVALID',
        message: 'url: a path parameter is too long',
        hint: 'host ids, image ids and versions are at most 256 characters',
      },
    }
  }
  if (fastifyCode === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return {
      status: 415,
      body: {
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: 'body: no Content-Type',
        hint: 'send Content-Type: application/json',
      },
    }
  }
  if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
    return {
      status: statusCode,
      body: {
        code: 'INPUT_INVALID',
        message: `request: ${(error as Error).message}`,
        hint: 'see the protocol v1 schemas',
      },
    }
  }
  return {
    status: 500,
    body: {
      code: 'INTERNAL',
      message: 'internal error; the collector logged it',
      hint: 'retry later; if it persists, the collector log says why',
    },
  }
}

/** What Node's HTTP server reports before fastify sees a request, as a status and one error body. */
function clientErrorBody(error: NodeJS.ErrnoException): { status: number; body: Required<ApiError> } {
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    return {
      status: 431,
      body: {
        code: 'INPUT_INVALID',
        message: 'request: the URL and headers are larger than the collector accepts (16 KiB)',
        hint: 'send a shorter URL; filters take a few labels, not thousands',
      },
    }
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return {
      status: 408,
      body: {
        code: 'INPUT_INVALID',
        message: 'request: not received in time',
        hint: 'send the whole request within the timeouts of collector.yaml',
      },
    }
  }
  return {
    status: 400,
    body: {
      code: 'INPUT_INVALID',
      message: `request: not valid HTTP/1.1 (${error.code ?? 'parse error'})`,
      hint: 'send a well-formed HTTP/1.1 request',
    },
  }
}

/** Answers what the HTTP parser refused on the raw socket, in the one shape, and closes it. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  // A reset or destroyed socket has no one left to answer (Node's own handler does the same).
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  if (socket.writable) {
    const { status, body } = clientErrorBody(error)
    const text = JSON.stringify(body)
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(text)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${text}`,
    )
  }
  socket.destroy()
}
