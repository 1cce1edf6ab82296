import type { FastifyInstance } from 'fastify'
import { formatSpan } from '../../config/duration.js'
import { DriftwatchError } from '../../errors.js'
import { EnrollRequestSchema, type EnrollResponse, HeartbeatRequestSchema } from '../../protocol/api.js'
import { ReportSchema } from '../../protocol/report.js'
import { parseWith, type RouteContext, requireHost } from '../app.js'
import { hashSecret, newHostToken, SecretSet } from '../auth.js'

/** The routes agents call: enrol once, then report and beat with the host token. */
export function agentRoutes(context: RouteContext) {
  const enrollSecret = new SecretSet([context.enrollSecret])
  return async (app: FastifyInstance) => {
    app.post('/v1/enroll', async (request, reply) => {
      const body = parseWith(EnrollRequestSchema, request.body, 'body')
      if (!enrollSecret.has(body.secret)) {
        throw new DriftwatchError('UNAUTHENTICATED', 'body.secret: not the enrolment secret', {
          hint: 'use enrollSecret from collector.yaml (agent.yaml: collector.enrollSecret)',
        })
      }
      const token = newHostToken()
      const { created } = await context.store.enrollHost({
        hostId: body.host.id,
        hostname: body.host.hostname,
        labels: body.host.labels,
        ...(body.host.facts ? { facts: body.host.facts } : {}),
        tokenHash: hashSecret(token),
        at: context.clock(),
      })
      request.log.info({ hostId: body.host.id, rotated: !created }, 'host enrolled')
      const response: EnrollResponse = { hostId: body.host.id, token, rotated: !created }
      return reply.code(created ? 201 : 200).send(response)
    })

    app.post('/v1/reports', async (request, reply) => {
      const { hostId, tokenHash } = requireHost(request)
      const report = parseWith(ReportSchema, request.body, 'report')
      if (report.host.id !== hostId) {
        throw new DriftwatchError(
          'FORBIDDEN',
          `report.host.id: "${report.host.id}" is not the host this token belongs to`,
          { hint: 'a host token reports for its own host only' },
        )
      }
      const receivedAt = context.clock()
      const ahead = Date.parse(report.scan.startedAt) - receivedAt.getTime()
      if (ahead > context.clockSkew) {
        context.refusals.futureScanStart++
        throw new DriftwatchError(
          'INPUT_INVALID',
          `report.scan.startedAt: ${report.scan.startedAt} is ${formatSpan(ahead)} ahead of the collector's clock (${receivedAt.toISOString()}); at most ${formatSpan(context.clockSkew)} is allowed`,
          { hint: "set the host's clock (NTP), or raise clockSkew in collector.yaml" },
        )
      }
      const { duplicate, ownerId, host } = await context.store.ingestReport(
        { hostId, tokenHash, report, receivedAt, historyLimit: context.reportHistory },
        context.judge,
      )
      if (duplicate && ownerId !== hostId) {
        throw new DriftwatchError(
          'CONFLICT',
          `report.reportId: ${report.reportId} was already used by another host`,
          {
            hint: 'every report needs a fresh random UUID',
          },
        )
      }
      return reply
        .code(duplicate ? 200 : 201)
        .send({ reportId: report.reportId, duplicate, state: host.state, reasons: host.stateReasons })
    })

    app.post('/v1/heartbeats', async (request) => {
      const { hostId, tokenHash } = requireHost(request)
      const body = parseWith(HeartbeatRequestSchema, request.body ?? {}, 'body')
      if (body.hostId !== hostId) {
        throw new DriftwatchError(
          'FORBIDDEN',
          `body.hostId: "${body.hostId}" is not the host this token belongs to`,
          {
            hint: 'a host token speaks for its own host only',
          },
        )
      }
      const host = await context.store.recordHeartbeat(hostId, context.clock(), context.judge, tokenHash)
      if (!host)
        throw new DriftwatchError('NOT_FOUND', `host ${hostId}: not enrolled`, { hint: 'enrol again' })
      return { state: host.state }
    })
  }
}
