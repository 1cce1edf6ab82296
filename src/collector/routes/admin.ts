import { createPublicKey, type KeyObject } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { z } from 'zod'
import { DriftwatchError } from '../../errors.js'
import type { ImageRecord } from '../../fleet/states.js'
import { keyIdOf, signatureVerifies } from '../../manifest/signature.js'
import {
  HOSTS_PAGE_DEFAULT,
  type HostsPageView,
  ImageRegistrationSchema,
  labelKeyProblem,
  labelValueProblem,
} from '../../protocol/api.js'
import { HostsQuerySchema, IdParamsSchema, ImageParamsSchema } from '../../protocol/routes.js'
import { parseWith, type RouteContext, requireAdmin } from '../app.js'
import { hostDetailView, hostView, imageView } from '../views.js'

/** Reports kept in a host's detail view. */
const DETAIL_REPORTS = 20

/** The routes operators call with an admin token: read the fleet, register images. */
export function adminRoutes(context: RouteContext) {
  return async (app: FastifyInstance) => {
    app.addHook('preHandler', async (request) => {
      requireAdmin(request)
    })

    // A page of hosts (HOSTS_PAGE_DEFAULT unless `limit` says, at most HOSTS_PAGE_MAX), filtered in SQL.
    app.get('/v1/hosts', async (request): Promise<HostsPageView> => {
      const query = parseWith(HostsQuerySchema, request.query, 'query')
      // No prototype: a key is only a key, `__proto__` included (and that one is refused below).
      const labels = Object.create(null) as Record<string, string>
      for (const pair of [query.label ?? []].flat()) {
        const at = pair.indexOf('=')
        if (at <= 0) {
          throw new DriftwatchError('INPUT_INVALID', `query.label: "${pair}" is not key=value`, {
            hint: 'write it as ?label=group=web-prod',
          })
        }
        const [key, value] = [pair.slice(0, at), pair.slice(at + 1)]
        const problem = labelKeyProblem(key) ?? labelValueProblem(value)
        if (problem) {
          throw new DriftwatchError('INPUT_INVALID', `query.label: "${pair}": ${problem}`, {
            hint: 'labels follow the Kubernetes label syntax (README, API)',
          })
        }
        labels[key] = value
      }
      const page = await context.store.pageHosts({
        filter: {
          ...(query.state ? { states: [query.state].flat() } : {}),
          ...(query.image ? { imageId: query.image } : {}),
          ...(Object.keys(labels).length ? { labels } : {}),
        },
        limit: query.limit ?? HOSTS_PAGE_DEFAULT,
        ...(query.cursor === undefined ? {} : { after: query.cursor }),
      })
      return { hosts: page.hosts.map(hostView), ...(page.next === undefined ? {} : { next: page.next }) }
    })

    app.get('/v1/hosts/:id', async (request) => {
      const { id } = parseWith(IdParamsSchema, request.params, 'path')
      const host = await context.store.getHost(id)
      if (!host) {
        throw new DriftwatchError('NOT_FOUND', `host ${id}: not enrolled`, {
          hint: 'GET /v1/hosts lists the hosts this collector knows',
        })
      }
      const [latest, states, reports] = await Promise.all([
        context.store.latestReport(id),
        context.store.stateHistory(id),
        context.store.reportHistory(id, DETAIL_REPORTS),
      ])
      return hostDetailView(host, latest, states, reports)
    })

    app.get('/v1/images', async () => ({ images: (await context.store.listImages()).map(imageView) }))

    app.put('/v1/images/:id/:version', async (request, reply) => {
      const { id, version } = parseWith(ImageParamsSchema, request.params, 'path')
      const body = parseWith(ImageRegistrationSchema, request.body, 'body')
      const image: ImageRecord = {
        id,
        version,
        manifestDigest: body.manifestDigest,
        publicKeys: body.publicKeys,
        signedBy: checkSignature(body),
        registeredAt: context.clock(),
      }
      const { created } = await context.store.putImage(image)
      request.log.info({ image: `${id}@${version}`, digest: image.manifestDigest }, 'image registered')
      return reply.code(created ? 201 : 200).send(imageView(image))
    })
  }
}

/**
 * With trusted keys, a registration must carry the manifest's signature, over this digest,
 * by one of them: the collector then holds hosts to a manifest the image's signers vouched for.
 * Returns the keyId that verified, or null for an unsigned registration.
 */
function checkSignature(body: z.output<typeof ImageRegistrationSchema>): string | null {
  if (body.publicKeys.length === 0) {
    if (body.signature) {
      throw new DriftwatchError(
        'INPUT_INVALID',
        'body.signature: given without publicKeys to check it with',
        {
          hint: 'add the signing public key (PREFIX.pub) to publicKeys',
        },
      )
    }
    return null
  }
  const keys = body.publicKeys.map((pem, index): KeyObject => {
    try {
      const key = createPublicKey(pem)
      if (key.asymmetricKeyType === 'ed25519') return key
    } catch {}
    throw new DriftwatchError(
      'INPUT_INVALID',
      `body.publicKeys[${index}]: not an ed25519 public key in PEM`,
      {
        hint: 'send the contents of the PREFIX.pub that `driftwatch keygen` wrote',
      },
    )
  })
  if (!body.signature) {
    throw new DriftwatchError('INTEGRITY', 'body.signature: missing, and publicKeys were given', {
      hint: 'send the manifest signature (FILE.sig) that `manifest capture --sign` wrote',
    })
  }
  for (const key of keys) {
    if (signatureVerifies(body.signature, body.manifestDigest, key)) return keyIdOf(key)
  }
  throw new DriftwatchError(
    'INTEGRITY',
    `body.signature: does not verify ${body.manifestDigest} with any of the ${keys.length} public keys`,
    { hint: 'register the digest of the manifest that was signed, with the key that signed it' },
  )
}
