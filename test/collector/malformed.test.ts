import { gzipSync } from 'node:zlib'
import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { tempDir } from '../helpers/cli.js'
import { ADMIN_TOKEN, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'

const BODY_LIMIT = 64 * 1024

interface Malformed {
  name: string
  method?: 'POST' | 'PUT' | 'GET'
  path?: string
  /** The raw body; a string is sent as UTF-8. */
  body: string | Buffer
  headers?: Record<string, string>
}

/**
 * A generated corpus of malformed requests, each of which the collector must refuse with a
 * 4xx and a JSON error, storing nothing: broken JSON, wrong types and unknown fields at every
 * place of a report, oversized and gzip-bomb bodies, deep nesting, NUL characters, invalid
 * UTF-8, absurd lengths and numbers, wrong media types and encodings, and the same for the
 * other routes.
 */
function corpus(hostId: string): Malformed[] {
  const valid = makeReport({ hostId, findings: 8 })
  const validText = JSON.stringify(valid)
  const cases: Malformed[] = []

  // Truncated JSON at 200 places, and single bytes that break the syntax.
  for (let i = 0; i < 200; i++) {
    const at = Math.floor(((i + 0.5) * validText.length) / 200)
    cases.push({ name: `truncated at ${at}`, body: validText.slice(0, at) })
  }
  for (const [i, junk] of ['{', '}', '[', ']', ',', ':', '"', '\\', 'x', '\u0001'].entries()) {
    for (let k = 0; k < 10; k++) {
      const at = Math.floor(((k * 10 + i + 0.5) * validText.length) / 100)
      const body = validText.slice(0, at) + junk + validText.slice(at)
      if (!isJson(body)) cases.push({ name: `junk ${JSON.stringify(junk)} at ${at}`, body })
    }
  }
  for (const body of [
    '',
    ' ',
    'null',
    'true',
    '0',
    '"report"',
    '[]',
    '{}',
    '[{}]',
    'NaN',
    '{"a":1}{"b":2}',
  ]) {
    cases.push({ name: `not a report: ${JSON.stringify(body)}`, body })
  }

  // Every leaf and object of the report, given a value of each wrong type or removed.
  const wrongValues: unknown[] = [
    null,
    17,
    -1,
    1.5,
    'text',
    '',
    true,
    [],
    {},
    [1, 2],
    { nested: { deeper: 1 } },
  ]
  for (const path of leafPaths(valid)) {
    for (const wrong of wrongValues) {
      const original = path.reduce<unknown>(
        (node, key) => (node as Record<string | number, unknown>)[key],
        valid,
      )
      const mutated = setAt(structuredClone(valid), path, wrong)
      if (mutated !== undefined && !acceptedAnyway(path, original, wrong)) {
        cases.push({ name: `${path.join('.')} = ${JSON.stringify(wrong)}`, body: JSON.stringify(mutated) })
      }
    }
    if (!optionalPath(path)) {
      cases.push({
        name: `${path.join('.')} removed`,
        body: JSON.stringify(removeAt(structuredClone(valid), path)),
      })
    }
  }
  // An unknown field in every object.
  for (const path of objectPaths(valid)) {
    const mutated = structuredClone(valid) as unknown as Record<string, unknown>
    const target = path.reduce<Record<string, unknown>>(
      (node, key) => node[key] as Record<string, unknown>,
      mutated,
    )
    if (path.at(-1) === 'labels' || path.at(-2) === 'expected' || path.at(-2) === 'actual') continue
    if (path.at(-1) === 'expected' || path.at(-1) === 'actual') continue
    target.surprise = 1
    cases.push({ name: `unknown field in ${path.join('.') || 'report'}`, body: JSON.stringify(mutated) })
  }

  // Deep nesting where the schema takes any value, in arrays and objects.
  for (const depth of [40, 100, 1000, 10_000]) {
    const deep = `${'['.repeat(depth)}1${']'.repeat(depth)}`
    cases.push({
      name: `expected nested ${depth} deep`,
      body: validText.replace('"expected":{', `"expected":{"x":${deep},`),
    })
    const objects = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`
    cases.push({
      name: `actual nested ${depth} objects deep`,
      body: validText.replace('"actual":{', `"actual":{"x":${objects},`),
    })
  }

  // NUL characters, escaped and raw, in values and keys.
  for (const field of ['subject', 'hostname', 'version', 'name']) {
    const at = validText.indexOf(`"${field}":"`) + field.length + 4
    cases.push({
      name: `escaped NUL in ${field}`,
      body: `${validText.slice(0, at)}\\u0000${validText.slice(at)}`,
    })
    cases.push({ name: `raw NUL in ${field}`, body: `${validText.slice(0, at)}\u0000${validText.slice(at)}` })
  }
  cases.push({ name: 'NUL in a key', body: validText.replace('"labels":{', '"labels":{"gr\\u0000oup":"x",') })
  cases.push({
    name: 'NUL in expected',
    body: validText.replace('"expected":{', '"expected":{"x":"a\\u0000b",'),
  })

  // Invalid UTF-8 inside a string.
  for (const bytes of [[0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]]) {
    const at = validText.indexOf('"/usr/bin/') + 2
    cases.push({
      name: `invalid UTF-8 ${bytes.map((b) => b.toString(16)).join(' ')}`,
      body: Buffer.concat([
        Buffer.from(validText.slice(0, at)),
        Buffer.from(bytes),
        Buffer.from(validText.slice(at)),
      ]),
    })
  }

  // Absurd lengths and numbers.
  for (const [name, value] of [
    [
      'subject of 5,000 characters',
      { ...valid, drift: [{ ...valid.drift[0], subject: `/${'a'.repeat(5000)}` }] },
    ],
    ['hostname of 300 characters', { ...valid, host: { ...valid.host, hostname: 'h'.repeat(300) } }],
    [
      'label value of 1,000 characters',
      { ...valid, host: { ...valid.host, labels: { group: 'g'.repeat(1000) } } },
    ],
    ['image id of 300 characters', { ...valid, image: { ...valid.image, id: 'i'.repeat(300) } }],
    ['33 attributes', { ...valid, drift: [{ ...valid.drift[2], attributes: Array(33).fill('sha256') }] }],
    ['65 probes', { ...valid, scan: { ...valid.scan, probes: Array(65).fill(valid.scan.probes[0]) } }],
  ] as const) {
    cases.push({ name, body: JSON.stringify(value) })
  }
  for (const number of ['1e309', '-1e309', '-5', '1.5']) {
    cases.push({
      name: `scan.files = ${number}`,
      body: validText.replace('"files":117346', `"files":${number}`),
    })
  }

  // Bodies over the limit: plain, announced by Content-Length, and a gzip bomb.
  const big = JSON.stringify({ ...valid, drift: Array(2000).fill(valid.drift[2]) })
  cases.push({ name: 'body over the limit', body: big })
  cases.push({
    name: 'gzip bomb',
    body: gzipSync(Buffer.alloc(50 * 1024 * 1024, 0x20)),
    headers: { 'content-encoding': 'gzip' },
  })
  cases.push({
    name: 'gzip over the limit once undone',
    body: gzipSync(big),
    headers: { 'content-encoding': 'gzip' },
  })

  // Media types and encodings.
  cases.push({ name: 'gzip header, plain body', body: validText, headers: { 'content-encoding': 'gzip' } })
  cases.push({
    name: 'corrupt gzip',
    body: gzipSync(validText).subarray(0, 40),
    headers: { 'content-encoding': 'gzip' },
  })
  cases.push({ name: 'brotli', body: validText, headers: { 'content-encoding': 'br' } })
  for (const type of [
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/xml',
  ]) {
    cases.push({ name: `Content-Type ${type}`, body: validText, headers: { 'content-type': type } })
  }

  // A report for another host, and malformed UUIDs and digests.
  cases.push({
    name: 'report for another host',
    body: JSON.stringify({ ...valid, host: { ...valid.host, id: 'someone-else' } }),
  })
  for (const reportId of [
    '1',
    'not-a-uuid',
    `${valid.reportId}x`,
    valid.reportId.toUpperCase().replace(/-/g, ''),
  ]) {
    cases.push({ name: `reportId ${reportId}`, body: JSON.stringify({ ...valid, reportId }) })
  }
  for (const digest of ['sha256:abc', `md5:${'a'.repeat(32)}`, `sha256:${'A'.repeat(64)}`]) {
    cases.push({
      name: `manifestDigest ${digest}`,
      body: JSON.stringify({ ...valid, image: { ...valid.image, manifestDigest: digest } }),
    })
  }

  // The other routes.
  const enroll = { secret: ENROLL_SECRET, host: { id: 'new-host', hostname: 'new' } }
  for (const [name, body] of [
    ['host id with a slash', { ...enroll, host: { ...enroll.host, id: 'a/b' } }],
    ['host id empty', { ...enroll, host: { ...enroll.host, id: '' } }],
    ['host id with a space', { ...enroll, host: { ...enroll.host, id: 'a b' } }],
    ['unknown field', { ...enroll, extra: true }],
    ['no secret', { host: enroll.host }],
    ['secret of 2,000 characters', { ...enroll, secret: 's'.repeat(2000) }],
    ['NUL in hostname', { ...enroll, host: { ...enroll.host, hostname: 'a\u0000b' } }],
    ['labels not strings', { ...enroll, host: { ...enroll.host, labels: { a: 1 } } }],
  ] as const) {
    cases.push({ name: `enroll: ${name}`, path: '/v1/enroll', body: JSON.stringify(body) })
  }
  cases.push({ name: 'enroll: truncated', path: '/v1/enroll', body: JSON.stringify(enroll).slice(0, 30) })
  for (const [name, body] of [
    ['other host', { hostId: 'someone-else' }],
    ['unknown field', { hostId, cpu: 3 }],
    ['hostId a number', { hostId: 7 }],
    ['not JSON', '{hostId'],
  ] as const) {
    cases.push({
      name: `heartbeat: ${name}`,
      path: '/v1/heartbeats',
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
  }
  for (const [name, path, body] of [
    ['bad digest', '/v1/images/web/1', { manifestDigest: 'sha256:xyz' }],
    ['unknown field', '/v1/images/web/1', { manifestDigest: `sha256:${'a'.repeat(64)}`, owner: 'me' }],
    ['version with a space', '/v1/images/web/1%202', { manifestDigest: `sha256:${'a'.repeat(64)}` }],
    ['keys not strings', '/v1/images/web/1', { manifestDigest: `sha256:${'a'.repeat(64)}`, publicKeys: [1] }],
  ] as const) {
    cases.push({ name: `image: ${name}`, method: 'PUT', path, body: JSON.stringify(body) })
  }
  return cases
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

type Path = (string | number)[]

function leafPaths(value: unknown, path: Path = []): Path[] {
  // Free-form values: anything is accepted there, so they are no place for a wrong type.
  if (path.at(-1) === 'expected' || path.at(-1) === 'actual' || path.at(-1) === 'labels') return []
  if (typeof value !== 'object' || value === null) return [path]
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value)
  return [path, ...entries.flatMap(([key, child]) => leafPaths(child, [...path, key]))].filter(
    (p) => p.length > 0,
  )
}

function objectPaths(value: unknown, path: Path = []): Path[] {
  if (typeof value !== 'object' || value === null) return []
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value)
  const children = entries.flatMap(([key, child]) => objectPaths(child, [...path, key]))
  return Array.isArray(value) ? children : [path, ...children]
}

function setAt(root: unknown, path: Path, value: unknown): unknown {
  let node = root as Record<string | number, unknown>
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>
  const last = path.at(-1) as string | number
  if (JSON.stringify(node[last]) === JSON.stringify(value)) return undefined
  node[last] = value
  return root
}

function removeAt(root: unknown, path: Path): unknown {
  let node = root as Record<string | number, unknown>
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>
  const last = path.at(-1) as string | number
  if (Array.isArray(node)) node.splice(last as number, 1)
  else delete node[last]
  return root
}

/** Places where the schema accepts the value: an array element removed or an optional field. */
function optionalPath(path: Path): boolean {
  const last = path.at(-1)
  return (
    typeof last === 'number' ||
    ['labels', 'attributes', 'expected', 'actual', 'package', 'error', 'errors', 'errorCount'].includes(
      String(last),
    )
  )
}

/**
 * Wrong values that are in fact valid: another string where the field takes free text, a
 * non-negative number where any is fine, an empty list where none is allowed.
 */
function acceptedAnyway(path: Path, original: unknown, value: unknown): boolean {
  const last = String(path.at(-1))
  if (typeof original === 'string' && typeof value === 'string') return value !== '' || last === 'hostname'
  if (['durationMs', 'bytesHashed'].includes(last) && typeof value === 'number' && value >= 0) return true
  if (last === 'files') return Number.isInteger(value) && (value as number) >= 0
  return Array.isArray(original) && Array.isArray(value) && value.length === 0
}

describe('a running collector refuses a corpus of malformed requests and keeps serving', () => {
  let collector: RunningCollector
  const dir = tempDir()
  let token = ''
  const hostId = 'corpus-host'

  beforeAll(async () => {
    collector = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: `sqlite://${dir.path}/collector.db`,
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
        bodyLimit: BODY_LIMIT,
      }),
    )
    const response = await request(`${collector.url}/v1/enroll`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ secret: ENROLL_SECRET, host: { id: hostId, hostname: 'corpus' } }),
    })
    token = ((await response.body.json()) as { token: string }).token
  })
  afterAll(async () => {
    await collector.stop()
    dir.cleanup()
  })

  test('at least 1,000 malformed requests, each answered 4xx with a JSON error; nothing stored', async () => {
    const cases = corpus(hostId)
    expect(cases.length).toBeGreaterThanOrEqual(1000)
    const answers: { name: string; status: number; body: string }[] = []
    const queue = [...cases]
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let item = queue.shift(); item; item = queue.shift()) {
          const response = await request(`${collector.url}${item.path ?? '/v1/reports'}`, {
            method: item.method ?? 'POST',
            headers: {
              authorization: `Bearer ${item.path === '/v1/images/web/1' || item.method === 'PUT' ? ADMIN_TOKEN : token}`,
              'content-type': 'application/json',
              ...item.headers,
            },
            body: item.body,
          })
          answers.push({ name: item.name, status: response.statusCode, body: await response.body.text() })
        }
      }),
    )
    const wrong = answers.filter((a) => a.status < 400 || a.status >= 500)
    expect(wrong.map((a) => `${a.name}: ${a.status} ${a.body.slice(0, 200)}`)).toEqual([])
    for (const answer of answers) {
      const error = JSON.parse(answer.body) as { code: string; message: string }
      expect(typeof error.code, answer.name).toBe('string')
      expect(error.message.length, answer.name).toBeGreaterThan(0)
    }

    expect(await collector.store.reportHistory(hostId, 10)).toEqual([])
    expect((await collector.store.listHosts()).map((h) => h.id)).toEqual([hostId])
    expect(await collector.store.listImages()).toEqual([])
  })

  test('afterwards it still serves: health, a valid report, the fleet', async () => {
    expect((await request(`${collector.url}/healthz`)).statusCode).toBe(200)
    const report = makeReport({ hostId, findings: 4 })
    const response = await request(`${collector.url}/v1/reports`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(report),
    })
    expect(response.statusCode).toBe(201)
    await response.body.dump()
    expect((await collector.store.reportHistory(hostId, 10)).map((r) => r.reportId)).toEqual([
      report.reportId,
    ])
  })
})
