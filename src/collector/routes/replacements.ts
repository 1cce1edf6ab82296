import type { FastifyInstance } from 'fastify'
import { DriftwatchError } from '../../errors.js'
import { IdParamsSchema, ReplacementsQuerySchema } from '../../protocol/routes.js'
import { parseWith, type RouteContext, requireAdmin } from '../app.js'
import { replacementQueue, replacementView } from '../replacement/queue.js'
import type { ReplacementScheduler } from '../replacement/scheduler.js'

/**
 * The replacement queue and the operators' actions on it: approve, cancel, replace a host.
 * Every action is recorded with the name of the admin token that took it.
 */
export function replacementRoutes(context: RouteContext) {
  return async (app: FastifyInstance) => {
    const scheduler = (): ReplacementScheduler => {
      if (!context.scheduler) {
        throw new DriftwatchError('NOT_FOUND', 'this collector runs no replacement scheduler', {
          hint: 'replacements are scheduled by `driftwatch collector`; see replacement in collector.yaml',
        })
      }
      return context.scheduler
    }

    app.get('/v1/replacements', async (request) => {
      requireAdmin(request)
      const query = parseWith(ReplacementsQuerySchema, request.query, 'query')
      return replacementQueue(context.store, scheduler(), context.clock(), {
        ...(query.state ? { states: [query.state].flat() } : {}),
        ...(query.host ? { hostId: query.host } : {}),
      })
    })

    app.get('/v1/replacements/:id', async (request) => {
      requireAdmin(request)
      const { id } = parseWith(IdParamsSchema, request.params, 'path')
      const found = await context.store.replacements.get(id)
      if (!found) {
        throw new DriftwatchError('NOT_FOUND', `replacement ${id}: no such replacement`, {
          hint: 'GET /v1/replacements lists them',
        })
      }
      const host = await context.store.getHost(found.hostId)
      return replacementView(found, host?.hostname ?? null, await context.store.replacements.events(id))
    })

    app.post('/v1/replacements/:id/approve', async (request) => {
      const actor = requireAdmin(request)
      const { id } = parseWith(IdParamsSchema, request.params, 'path')
      const changed = await scheduler().approve(id, actor, context.clock())
      request.log.info({ replacement: id, actor }, 'replacement approved')
      return replacementView(changed, (await context.store.getHost(changed.hostId))?.hostname ?? null)
    })

    app.post('/v1/replacements/:id/cancel', async (request) => {
      const actor = requireAdmin(request)
      const { id } = parseWith(IdParamsSchema, request.params, 'path')
      const changed = await scheduler().cancel(id, actor, context.clock())
      request.log.info({ replacement: id, actor }, 'replacement cancelled')
      return replacementView(changed, (await context.store.getHost(changed.hostId))?.hostname ?? null)
    })

    app.post('/v1/hosts/:id/replace', async (request, reply) => {
      const actor = requireAdmin(request)
      const { id } = parseWith(IdParamsSchema, request.params, 'path')
      const { created, replacement } = await scheduler().replaceHost(id, actor, context.clock())
      request.log.info({ host: id, replacement: replacement.id, actor, created }, 'replacement asked for')
      return reply
        .code(created ? 201 : 200)
        .send(replacementView(replacement, (await context.store.getHost(id))?.hostname ?? null))
    })
  }
}
