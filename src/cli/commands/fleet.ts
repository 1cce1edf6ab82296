import { readFileSync } from 'node:fs'
import { request } from 'undici'
import { DriftwatchError, EXIT, errnoCode } from '../../errors.js'
import { REPLACEMENT_STATES_ORDERED } from '../../fleet/replacements.js'
import { HOST_STATES, type HostState } from '../../fleet/states.js'
import { readManifest } from '../../manifest/io.js'
import { loadPublicKey, signatureFileFor, verifySignatureFile } from '../../manifest/signature.js'
import type {
  ApiError,
  HostDetailView,
  HostsPageView,
  HostView,
  ImageRegistration,
  ImageView,
  ReplacementQueueView,
  ReplacementView,
} from '../../protocol/api.js'
import { DEFAULT_COLLECTOR, HOSTS_PAGE_DEFAULT, HOSTS_PAGE_MAX } from '../../protocol/api.js'
import type { CommandOutput } from '../output.js'
import { renderHostDetail, renderHosts, renderReplacement, renderReplacementQueue } from '../render-fleet.js'
import { renderImageRegistered, renderImages } from '../render-images.js'

/** Where the collector listens when neither --collector nor DRIFTWATCH_COLLECTOR says otherwise. */
/** One request, from connecting to the last byte of the answer. */
const TIMEOUT_MS = 10_000

const TOKEN_HINT =
  "set DRIFTWATCH_ADMIN_TOKEN to one of the collector's adminTokens (collector.yaml); --token works too but shows in ps"

/** How a fleet command reaches the collector; unset fields come from the environment. */
export interface CollectorOptions {
  collector?: string
  token?: string
}

/**
 * `driftwatch fleet hosts`: the hosts the collector knows, filtered by state, image and labels.
 * One page by default (a fleet may hold 100,000 hosts; an operator reads the first ones, and
 * the text says how to go on); `--cursor` goes on from a page's `next`; `--all` follows every
 * `next` and lists them all, for scripts (`--format json`).
 */
export async function fleetHostsCommand(
  options: CollectorOptions & {
    state?: string
    image?: string
    labels?: readonly string[]
    limit?: string
    cursor?: string
    all?: boolean
  },
): Promise<CommandOutput> {
  const query = new URLSearchParams()
  if (options.state !== undefined) query.append('state', parseState(options.state))
  if (options.image !== undefined) query.append('image', options.image)
  for (const label of options.labels ?? []) query.append('label', parseLabel(label))
  const limit = options.limit === undefined ? undefined : parseLimit(options.limit)
  // --all reads in the largest pages: fewer round trips for the same hosts.
  query.set('limit', String(limit ?? (options.all ? HOSTS_PAGE_MAX : HOSTS_PAGE_DEFAULT)))
  const client = collectorClient(options)
  const hosts: HostView[] = []
  let cursor = options.cursor
  let page: HostsPageView
  do {
    if (cursor !== undefined) query.set('cursor', cursor)
    page = asHostsPage(await client.get('v1/hosts', query), client.url)
    hosts.push(...page.hosts)
    cursor = page.next
  } while (options.all && cursor !== undefined)
  const now = new Date()
  const next = options.all ? undefined : page.next
  const json: HostsPageView = next === undefined ? { hosts } : { hosts, next }
  return { exitCode: EXIT.clean, json, text: (style) => renderHosts(hosts, style, now, next) }
}

function asHostsPage(body: unknown, url: string): HostsPageView {
  if (
    !isObject(body) ||
    !Array.isArray(body.hosts) ||
    !(body.next === undefined || typeof body.next === 'string')
  )
    throw notAnAnswer(url, 'a page of hosts')
  return body as unknown as HostsPageView
}

function parseLimit(text: string): number {
  if (!/^[0-9]{1,7}$/.test(text) || Number(text) < 1 || Number(text) > HOSTS_PAGE_MAX) {
    throw new DriftwatchError(
      'USAGE',
      `--limit ${text}: expected a whole number of hosts from 1 to ${HOSTS_PAGE_MAX}`,
      {
        hint: `pages hold ${HOSTS_PAGE_DEFAULT} hosts unless --limit says; --all lists every host`,
      },
    )
  }
  return Number(text)
}

/** `driftwatch fleet host ID`: one host, its state and why, its latest drift and its history. */
export async function fleetHostCommand(options: CollectorOptions & { id: string }): Promise<CommandOutput> {
  if (options.id === '') {
    throw new DriftwatchError('USAGE', 'fleet host: the host id is empty', {
      hint: 'driftwatch fleet hosts lists the ids of the hosts',
    })
  }
  const client = collectorClient(options)
  const body = await client.get(`v1/hosts/${encodeURIComponent(options.id)}`, undefined, {
    notFound: () =>
      new DriftwatchError('NOT_FOUND', `host ${options.id} is not known to the collector at ${client.url}`, {
        hint: 'driftwatch fleet hosts lists the hosts it knows; a host appears once its agent has enrolled',
      }),
  })
  if (!isObject(body) || !isObject(body.host)) throw notAnAnswer(client.url, 'a host')
  const detail = body as unknown as HostDetailView
  const now = new Date()
  return { exitCode: EXIT.clean, json: body, text: (style) => renderHostDetail(detail, style, now) }
}

/**
 * `driftwatch fleet image register MANIFEST [--key PUB]`: tells the collector which manifest
 * the hosts of that image version must run (PUT /v1/images/:id/:version), with the signature
 * and key when given, so the image bake needs no curl. The signature is checked here first.
 */
export async function fleetImageRegisterCommand(
  options: CollectorOptions & { manifest: string; key?: string },
): Promise<CommandOutput> {
  const { manifest, digest } = readManifest(options.manifest)
  const registration: ImageRegistration = { manifestDigest: digest, publicKeys: [] }
  if (options.key) {
    const sigFile = signatureFileFor(options.manifest)
    registration.signature = verifySignatureFile(sigFile, digest, loadPublicKey(options.key))
    registration.publicKeys = [readFileSync(options.key, 'utf8')]
  }
  const { id, version } = manifest.image
  const client = collectorClient(options)
  const { status, body } = await client.send(
    'PUT',
    `v1/images/${encodeURIComponent(id)}/${encodeURIComponent(version)}`,
    registration,
  )
  if (!isObject(body) || typeof body.manifestDigest !== 'string') throw notAnAnswer(client.url, 'an image')
  const image = body as unknown as ImageView
  return {
    exitCode: EXIT.clean,
    json: body,
    text: (style) => renderImageRegistered(image, status === 201, style),
  }
}

/** `driftwatch fleet images`: the image versions registered, with their digests and signers. */
export async function fleetImagesCommand(options: CollectorOptions): Promise<CommandOutput> {
  const client = collectorClient(options)
  const body = await client.get('v1/images')
  if (!isObject(body) || !Array.isArray(body.images)) throw notAnAnswer(client.url, 'a list of images')
  const images = body.images as ImageView[]
  return { exitCode: EXIT.clean, json: body, text: (style) => renderImages(images, style) }
}

/** `driftwatch fleet replacements`: the queue, each group's budget, the windows and the scheduler. */
export async function fleetReplacementsCommand(
  options: CollectorOptions & { states?: readonly string[]; host?: string },
): Promise<CommandOutput> {
  const query = new URLSearchParams()
  for (const state of options.states ?? []) {
    if (!REPLACEMENT_STATES_ORDERED.some((s) => s === state)) {
      throw new DriftwatchError('USAGE', `--state ${state}: not a replacement state`, {
        hint: `use one of ${REPLACEMENT_STATES_ORDERED.join(', ')}`,
      })
    }
    query.append('state', state)
  }
  if (options.host !== undefined) query.append('host', options.host)
  const client = collectorClient(options)
  const body = await client.get('v1/replacements', query)
  if (!isObject(body) || !Array.isArray(body.replacements))
    throw notAnAnswer(client.url, 'the replacement queue')
  const queue = body as unknown as ReplacementQueueView
  const now = new Date()
  return { exitCode: EXIT.clean, json: body, text: (style) => renderReplacementQueue(queue, style, now) }
}

/** `driftwatch fleet approve ID` / `fleet cancel ID`: an operator's decision on one replacement. */
export async function fleetDecideCommand(
  options: CollectorOptions & { id: string; action: 'approve' | 'cancel' },
): Promise<CommandOutput> {
  if (options.id === '') {
    throw new DriftwatchError('USAGE', `fleet ${options.action}: the replacement id is empty`, {
      hint: 'driftwatch fleet replacements --format json lists the ids',
    })
  }
  const client = collectorClient(options)
  const body = await client.post(`v1/replacements/${encodeURIComponent(options.id)}/${options.action}`, {
    notFound: () =>
      new DriftwatchError(
        'NOT_FOUND',
        `replacement ${options.id} is not known to the collector at ${client.url}`,
        {
          hint: 'driftwatch fleet replacements --format json lists the full ids',
        },
      ),
  })
  return replacementOutput(client.url, body)
}

/** `driftwatch fleet replace HOST`: asks for a replacement of the host, whatever its state. */
export async function fleetReplaceCommand(
  options: CollectorOptions & { host: string },
): Promise<CommandOutput> {
  if (options.host === '') {
    throw new DriftwatchError('USAGE', 'fleet replace: the host id is empty', {
      hint: 'driftwatch fleet hosts lists the ids of the hosts',
    })
  }
  const client = collectorClient(options)
  const body = await client.post(`v1/hosts/${encodeURIComponent(options.host)}/replace`, {
    notFound: () =>
      new DriftwatchError(
        'NOT_FOUND',
        `host ${options.host} is not known to the collector at ${client.url}`,
        {
          hint: 'driftwatch fleet hosts lists the hosts it knows',
        },
      ),
  })
  return replacementOutput(client.url, body)
}

function replacementOutput(url: string, body: unknown): CommandOutput {
  if (!isObject(body) || typeof body.id !== 'string') throw notAnAnswer(url, 'a replacement')
  const replacement = body as unknown as ReplacementView
  const now = new Date()
  return { exitCode: EXIT.clean, json: body, text: (style) => renderReplacement(replacement, style, now) }
}

/** The collector's admin API: GETs, and the operators' POSTs; errors turned into DriftwatchErrors. */
export interface CollectorClient {
  /** The collector's URL as people should read it (no credentials, no trailing slash). */
  readonly url: string
  /** The parsed JSON answer of a 2xx; `notFound` names what a 404 means for this path. */
  get(path: string, query?: URLSearchParams, options?: { notFound?: () => DriftwatchError }): Promise<unknown>
  /** A JSON body sent; the 2xx status and its parsed answer. */
  send(method: 'PUT' | 'POST', path: string, body: unknown): Promise<{ status: number; body: unknown }>
  /** A POST without a body (an action), its answer as for get. */
  post(path: string, options?: { notFound?: () => DriftwatchError }): Promise<unknown>
}

export function collectorClient(
  options: CollectorOptions,
  env: NodeJS.ProcessEnv = process.env,
): CollectorClient {
  const base = collectorUrl(options.collector, env)
  const shown = `${base.origin}${base.pathname}`.replace(/\/+$/, '')
  const token = options.token || env.DRIFTWATCH_ADMIN_TOKEN || undefined
  const call = async (
    method: 'GET' | 'PUT' | 'POST',
    url: URL,
    body: unknown,
    notFound?: () => DriftwatchError,
  ): Promise<{ status: number; body: unknown }> => {
    let response: Awaited<ReturnType<typeof request>>
    let text: string
    try {
      response = await request(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
      })
      text = await response.body.text()
    } catch (error) {
      throw unreachable(shown, error)
    }
    if (response.statusCode >= 200 && response.statusCode < 300) {
      try {
        return { status: response.statusCode, body: JSON.parse(text) as unknown }
      } catch {
        throw notAnAnswer(shown, 'JSON')
      }
    }
    if (response.statusCode === 404 && notFound) throw notFound()
    throw collectorError(shown, response.statusCode, text, token !== undefined)
  }
  return {
    url: shown,
    async get(path, query, { notFound } = {}) {
      const url = new URL(path, base)
      if (query && query.size > 0) url.search = query.toString()
      return (await call('GET', url, undefined, notFound)).body
    },
    send: (method, path, body) => call(method, new URL(path, base), body),
    post: async (path, options) =>
      (await call('POST', new URL(path, base), undefined, options?.notFound)).body,
  }
}

/** --collector, else DRIFTWATCH_COLLECTOR, else the default; ends with "/" so API paths resolve under it. */
function collectorUrl(flag: string | undefined, env: NodeJS.ProcessEnv): URL {
  const [text, source] = flag
    ? [flag, `--collector ${flag}`]
    : env.DRIFTWATCH_COLLECTOR
      ? [env.DRIFTWATCH_COLLECTOR, `DRIFTWATCH_COLLECTOR=${env.DRIFTWATCH_COLLECTOR}`]
      : [DEFAULT_COLLECTOR, DEFAULT_COLLECTOR]
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {}
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    throw new DriftwatchError('USAGE', `${source}: expected an http(s) URL`, {
      hint: `write it as http://${text.replace(/^[a-z]+:\/\//i, '')}`,
    })
  }
  if (!url.pathname.endsWith('/')) url.pathname += '/'
  url.search = ''
  url.hash = ''
  return url
}

/** A 4xx/5xx answer, `{code, message, hint}` from the collector's one error handler when it is one. */
export function collectorError(
  url: string,
  status: number,
  body: string,
  withToken: boolean,
): DriftwatchError {
  const api = parseApiError(body)
  const said = api?.message ?? (body.trim().slice(0, 200) || `HTTP ${status}`)
  if (status === 401) {
    return withToken
      ? new DriftwatchError('USAGE', `the collector at ${url} refused the admin token: ${said}`, {
          hint: TOKEN_HINT,
        })
      : new DriftwatchError('USAGE', `the collector at ${url} wants an admin token`, { hint: TOKEN_HINT })
  }
  if (status === 403) {
    return new DriftwatchError(
      'USAGE',
      `the collector at ${url} does not let this token read the fleet: ${said}`,
      {
        hint: `a host's agent token reads nothing of the fleet; ${TOKEN_HINT}`,
      },
    )
  }
  if (status === 409) {
    return new DriftwatchError('CONFLICT', `the collector at ${url} refused: ${said}`, {
      ...(api?.hint ? { hint: api.hint } : {}),
    })
  }
  if (status === 400) {
    return new DriftwatchError('USAGE', `the collector at ${url} rejected the request: ${said}`, {
      ...(api?.hint ? { hint: api.hint } : {}),
    })
  }
  return new DriftwatchError('IO', `the collector at ${url} answered ${status}: ${said}`, {
    hint: api?.hint ?? (status === 404 ? 'is this the address of a driftwatch collector?' : 'see its logs'),
  })
}

function parseApiError(body: string): ApiError | undefined {
  try {
    const value: unknown = JSON.parse(body)
    if (
      typeof value === 'object' &&
      value !== null &&
      'message' in value &&
      typeof value.message === 'string'
    ) {
      const hint = 'hint' in value && typeof value.hint === 'string' ? value.hint : undefined
      const code = 'code' in value && typeof value.code === 'string' ? value.code : ''
      return { code, message: value.message, ...(hint ? { hint } : {}) }
    }
  } catch {}
  return undefined
}

function unreachable(url: string, error: unknown): DriftwatchError {
  const code = errnoCode(error)
  const tls = code !== undefined && /CERT|SELF_SIGNED|ERR_TLS|ERR_SSL/.test(code)
  return new DriftwatchError('IO', `cannot reach the collector at ${url}: ${whyUnreachable(error)}`, {
    hint: tls
      ? "set NODE_EXTRA_CA_CERTS to the file of the CA that signed the collector's certificate"
      : `is the collector running there? point --collector or DRIFTWATCH_COLLECTOR at its address (default ${DEFAULT_COLLECTOR})`,
    cause: error,
  })
}

function whyUnreachable(error: unknown): string {
  const code = errnoCode(error) ?? ''
  if (error instanceof Error && error.name === 'TimeoutError')
    return `no answer within ${TIMEOUT_MS / 1000} s`
  if (code === 'ETIMEDOUT' || /^UND_ERR_.*TIMEOUT$/.test(code))
    return `no answer within ${TIMEOUT_MS / 1000} s`
  if (code === 'ECONNREFUSED') return 'connection refused'
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown host name'
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'the connection was closed'
  return error instanceof Error ? error.message : String(error)
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function notAnAnswer(url: string, what: string): DriftwatchError {
  return new DriftwatchError('INPUT_INVALID', `the collector at ${url} did not answer with ${what}`, {
    hint: 'is --collector (or DRIFTWATCH_COLLECTOR) the address of a driftwatch collector of this version?',
  })
}

function parseState(text: string): HostState {
  const state = HOST_STATES.find((s) => s === text)
  if (!state) {
    throw new DriftwatchError('USAGE', `--state ${text}: not a host state`, {
      hint: `use one of ${HOST_STATES.join(', ')}`,
    })
  }
  return state
}

/** `k=v` as the API takes it; the value may hold "=" itself. */
function parseLabel(text: string): string {
  const at = text.indexOf('=')
  if (at <= 0) {
    throw new DriftwatchError('USAGE', `--label ${text}: expected key=value`, {
      hint: 'e.g. --label group=web-prod; repeat --label to require several',
    })
  }
  return text
}
