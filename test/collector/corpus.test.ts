import { request } from 'undici'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type RunningCollector, startCollector } from '../../src/collector/server.js'
import { CollectorConfigSchema } from '../../src/config/collector.js'
import { tempDir } from '../helpers/cli.js'
import { ADMIN_TOKEN, DIGEST_A_FOR_IMAGES, ENROLL_SECRET } from '../helpers/collector.js'
import { makeReport } from '../helpers/reports.js'
import { hasPostgres, postgresSchema } from '../helpers/stores.js'

/**
 * A seeded mutation corpus of the HTTP API: valid enrol, report, heartbeat and image requests,
 * each mutated by one class of hostile change. Every mutant must get a 4xx in the one error
 * shape, store nothing, and leave the collector serving. A failure names its class, so a new
 * class of defect reads as such. Seeded: the same corpus every run; bounded: a few hundred
 * requests per store.
 */

const SEED = 0x5eed_0010
const PER_CLASS = 10

/** mulberry32: small, seeded, good enough to pick mutations. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type Path = (string | number)[]
type Kind = 'enroll' | 'report' | 'heartbeat' | 'image'

interface Mutant {
  kind: Kind
  mutation: string
  detail: string
  /** The raw body, or a JSON value sent as it is serialized. */
  body: string | Buffer
  path?: string
}

/** Places where any value or key is accepted (labels have their own grammar and class). */
const FREE_FORM = new Set(['expected', 'actual'])

function paths(value: Json, path: Path = []): { path: Path; value: Json }[] {
  if (path.length > 0 && FREE_FORM.has(String(path.at(-1)))) return []
  const here = [{ path, value }]
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => paths(v, [...path, i]))]
  if (value !== null && typeof value === 'object')
    return [...here, ...Object.entries(value).flatMap(([k, v]) => paths(v, [...path, k]))]
  return here
}

function setAt(root: Json, path: Path, value: Json): Json {
  const copy = structuredClone(root)
  if (path.length === 0) return value
  let node = copy as Record<string | number, Json>
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, Json>
  node[path.at(-1) as string | number] = value
  return copy
}

const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T

/** Strings that only a path (a file subject) may hold; in a name, each is refused. */
const NAME_FIELDS: Record<Kind, Path[]> = {
  enroll: [
    ['host', 'hostname'],
    ['host', 'id'],
  ],
  report: [
    ['host', 'hostname'],
    ['host', 'id'],
    ['image', 'id'],
    ['image', 'version'],
    ['scan', 'probes', 0, 'name'],
  ],
  heartbeat: [['hostId']],
  image: [['manifestDigest']],
}

const CONTROLS = ['\u0000', '\u0007', '\u001b[2J', '\r', '\n', '\u007f', '\u009b', '\u0085']
const LONE = ['\ud800', '\udbff', '\udc00', '\udc7f', '\udd00', '\udfff']
const WRONG_TYPES: Json[] = [null, 0, -1, 1.5, true, '', 'x', [], {}, [[]], { a: {} }]

/** Every mutation class, each a function from a valid body to a mutant (or undefined when it does not apply). */
const CLASSES: Record<
  string,
  (kind: Kind, valid: Json, rand: () => number) => Omit<Mutant, 'kind' | 'mutation'> | undefined
> = {
  'wrong type': (_kind, valid, rand) => {
    const target = pick(
      rand,
      paths(valid).filter((p) => p.path.length > 0),
    )
    const wrong = pick(
      rand,
      WRONG_TYPES.filter(
        (w) => typeof w !== typeof target.value || Array.isArray(w) !== Array.isArray(target.value),
      ),
    )
    // Optional numbers and free text accept other values of their type: only a change of type counts.
    return {
      detail: `${target.path.join('.')} = ${JSON.stringify(wrong)}`,
      body: JSON.stringify(setAt(valid, target.path, wrong)),
    }
  },
  'size: a string of 100,000 characters': (kind, valid, rand) => {
    const target = pick(rand, NAME_FIELDS[kind])
    return { detail: target.join('.'), body: JSON.stringify(setAt(valid, target, 'a'.repeat(100_000))) }
  },
  'size: 10,000 labels or probes': (kind, valid) => {
    if (kind === 'enroll') {
      const labels = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, 'v']))
      return { detail: 'host.labels', body: JSON.stringify(setAt(valid, ['host', 'labels'], labels)) }
    }
    if (kind === 'report') {
      const probes = Array.from({ length: 10_000 }, () => ({ name: 'files', ok: true, durationMs: 1 }))
      return { detail: 'scan.probes', body: JSON.stringify(setAt(valid, ['scan', 'probes'], probes)) }
    }
    if (kind === 'image') {
      return {
        detail: 'publicKeys',
        body: JSON.stringify(setAt(valid, ['publicKeys'], Array(10_000).fill('k'))),
      }
    }
    return undefined
  },
  'size: numbers past their range': (kind, valid, rand) => {
    if (kind !== 'report') return undefined
    const field = pick(rand, [
      ['scan', 'files'],
      ['summary', 'total'],
      ['scan', 'durationMs'],
    ] as Path[])
    const value = pick(rand, ['1e400', '-1', '-1e-300', '1.5'])
    const text = JSON.stringify(setAt(valid, field, 424242)).replace('424242', value)
    if (field[1] === 'durationMs' && value === '1.5') return undefined
    return { detail: `${field.join('.')} = ${value}`, body: text }
  },
  'encoding: invalid UTF-8': (_kind, valid, rand) => {
    const text = JSON.stringify(valid)
    const at = text.indexOf('":"') + 3 + Math.floor(rand() * 3)
    const bytes = pick(rand, [
      [0xff],
      [0xc3, 0x28],
      [0xed, 0xa0, 0x80],
      [0xc0, 0xaf],
      [0xf4, 0x90, 0x80, 0x80],
    ])
    return {
      detail: bytes.map((b) => b.toString(16)).join(' '),
      body: Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bytes), Buffer.from(text.slice(at))]),
    }
  },
  'encoding: a lone surrogate': (kind, valid, rand) => {
    const target = pick(rand, NAME_FIELDS[kind])
    const lone = pick(rand, [...LONE, '\udce9'])
    return {
      detail: `${target.join('.')} + U+${lone.charCodeAt(0).toString(16)}`,
      body: JSON.stringify(setAt(valid, target, `a${lone}b`)),
    }
  },
  'nesting: 40 to 10,000 levels': (_kind, valid, rand) => {
    const depth = pick(rand, [40, 200, 10_000])
    const deep = `${'['.repeat(depth)}1${']'.repeat(depth)}`
    const text = JSON.stringify(valid)
    return { detail: `${depth} deep`, body: `${text.slice(0, -1)},"deep":${deep}}` }
  },
  'unknown key': (_kind, valid, rand) => {
    const objects = paths(valid).filter(
      (p) =>
        p.value !== null &&
        typeof p.value === 'object' &&
        !Array.isArray(p.value) &&
        p.path.at(-1) !== 'labels',
    )
    const target = pick(rand, objects)
    const key = pick(rand, ['surprise', 'hostID', 'Schema', 'report', 'admin', 'token'])
    return {
      detail: `${[...target.path, key].join('.')}`,
      body: JSON.stringify(setAt(valid, [...target.path, key], 1)),
    }
  },
  'prototype key': (_kind, valid, rand) => {
    const objects = paths(valid).filter(
      (p) => p.value !== null && typeof p.value === 'object' && !Array.isArray(p.value),
    )
    const target = pick(rand, objects)
    const key = pick(rand, ['__proto__', '__proto__', 'constructor', 'prototype'])
    // constructor and prototype are fine label names; everywhere else they are unknown keys.
    if (key !== '__proto__' && target.path.at(-1) === 'labels') return undefined
    const marker = '"__marker__":1'
    const text = JSON.stringify(setAt(valid, [...target.path, '__marker__'], 1))
    return {
      detail: `${[...target.path, key].join('.')}`,
      body: text.replace(marker, `"${key}":{"polluted":true,"isAdmin":true}`),
    }
  },
  'control characters in a name': (kind, valid, rand) => {
    const target = pick(rand, NAME_FIELDS[kind])
    const control = pick(rand, CONTROLS)
    return {
      detail: `${target.join('.')} + ${JSON.stringify(control)}`,
      body: JSON.stringify(setAt(valid, target, `web${control}7`)),
    }
  },
  'labels off the grammar': (kind, valid, rand) => {
    if (kind !== 'enroll' && kind !== 'report') return undefined
    const labels = pick(rand, [
      { 'a b': 'x' },
      { group: 'a b' },
      { '': 'x' },
      { 'UPPER.example.com/x': 'y' },
      { group: `${'g'.repeat(64)}` },
      { 'x/': 'y' },
      { group: 'web\u001b[2J' },
      { group: 1 },
      { group: ['web'] },
    ] as Json[])
    return { detail: JSON.stringify(labels), body: JSON.stringify(setAt(valid, ['host', 'labels'], labels)) }
  },
  'far dates': (kind, valid, rand) => {
    if (kind !== 'report') return undefined
    const date = pick(rand, [
      '9999-12-31T23:59:59.999Z',
      '+275760-09-13T00:00:00.000Z',
      '2999-01-01T00:00:00Z',
      new Date(Date.now() + 86_400_000).toISOString(),
      '2026-13-45T25:61:00Z',
      'yesterday',
      '1e12',
    ])
    return { detail: date, body: JSON.stringify(setAt(valid, ['scan', 'startedAt'], date)) }
  },
}

function corpus(valid: Record<Kind, Json>, rand: () => number): Mutant[] {
  const mutants: Mutant[] = []
  for (const [mutation, make] of Object.entries(CLASSES)) {
    for (const kind of Object.keys(valid) as Kind[]) {
      for (let i = 0; i < PER_CLASS; i++) {
        const made = make(kind, valid[kind], rand)
        if (made && made.body !== JSON.stringify(valid[kind])) mutants.push({ kind, mutation, ...made })
      }
    }
  }
  return mutants
}

const targets: { name: string; url: (dir: string) => { url: string; drop: () => Promise<void> } }[] = [
  { name: 'sqlite', url: (dir) => ({ url: `sqlite://${dir}/corpus.db`, drop: async () => {} }) },
]
if (await hasPostgres()) targets.push({ name: 'postgres', url: () => postgresSchema('dw_corpus') })

describe.each(targets)('a seeded mutation corpus against a collector on $name', ({ url }) => {
  const dir = tempDir()
  let collector: RunningCollector
  let drop: () => Promise<void>
  let token = ''
  const hostId = 'corpus-host'

  beforeAll(async () => {
    const target = url(dir.path)
    drop = target.drop
    collector = await startCollector(
      CollectorConfigSchema.parse({
        listen: '127.0.0.1:0',
        store: target.url,
        enrollSecret: ENROLL_SECRET,
        adminTokens: [ADMIN_TOKEN],
        bodyLimit: 1024 * 1024,
      }),
    )
    const response = await send(
      '/v1/enroll',
      'POST',
      JSON.stringify({ secret: ENROLL_SECRET, host: { id: hostId, hostname: 'corpus' } }),
    )
    token = (JSON.parse(response.body) as { token: string }).token
  })
  afterAll(async () => {
    await collector.stop()
    await drop()
    dir.cleanup()
  })

  async function send(path: string, method: 'POST' | 'PUT', body: string | Buffer, auth?: string) {
    const response = await request(`${collector.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      body,
    })
    return { status: response.statusCode, body: await response.body.text() }
  }

  const valid = (): Record<Kind, Json> => ({
    enroll: {
      secret: ENROLL_SECRET,
      host: {
        id: 'corpus-new',
        hostname: 'web-7',
        labels: { group: 'web-prod', 'team.example.com/owner': 'ops' },
      },
    },
    report: makeReport({ hostId, findings: 6 }) as unknown as Json,
    heartbeat: { hostId, agentVersion: '0.1.0' },
    image: { manifestDigest: DIGEST_A_FOR_IMAGES },
  })

  const route = (kind: Kind) =>
    ({
      enroll: { path: '/v1/enroll', method: 'POST' as const, auth: undefined },
      report: { path: '/v1/reports', method: 'POST' as const, auth: 'host' },
      heartbeat: { path: '/v1/heartbeats', method: 'POST' as const, auth: 'host' },
      image: { path: '/v1/images/web-base/1', method: 'PUT' as const, auth: 'admin' },
    })[kind]

  test('every mutant: a 4xx in the one error shape, nothing stored; then the collector still serves', async () => {
    const mutants = corpus(valid(), random(SEED))
    expect(mutants.length).toBeGreaterThan(250)
    const failures: string[] = []
    const queue = [...mutants]
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let m = queue.shift(); m; m = queue.shift()) {
          const { path, method, auth } = route(m.kind)
          const answer = await send(
            path,
            method,
            m.body,
            auth === 'admin' ? ADMIN_TOKEN : auth === 'host' ? token : undefined,
          )
          let shaped = false
          try {
            const error = JSON.parse(answer.body) as Record<string, unknown>
            shaped =
              ['code', 'message', 'hint'].every((k) => typeof error[k] === 'string') &&
              Object.keys(error).length === 3
          } catch {}
          if (answer.status < 400 || answer.status >= 500 || !shaped)
            failures.push(
              `${m.mutation} (${m.kind}: ${m.detail}): ${answer.status} ${answer.body.slice(0, 160)}`,
            )
        }
      }),
    )
    // Grouped by class, so a new class of defect is named as one.
    const byClass = new Map<string, string[]>()
    for (const f of failures)
      byClass.set(f.split(' (')[0] as string, [...(byClass.get(f.split(' (')[0] as string) ?? []), f])
    expect(
      [...byClass].map(([c, list]) => `${c}: ${list.length} accepted or unshaped, e.g. ${list[0]}`),
    ).toEqual([])

    // Nothing stored: no report, no heartbeat, no other host, no image.
    expect(await collector.store.reportHistory(hostId, 10)).toEqual([])
    expect((await collector.store.listHosts()).map((h) => h.id)).toEqual([hostId])
    expect((await collector.store.getHost(hostId))?.lastHeartbeatAt).toBeNull()
    expect(await collector.store.listImages()).toEqual([])
    expect(({} as Record<string, unknown>).polluted).toBeUndefined()

    // And it still serves every route with the valid requests.
    const ok = valid()
    for (const kind of ['report', 'heartbeat', 'image', 'enroll'] as const) {
      const { path, method, auth } = route(kind)
      const answer = await send(
        path,
        method,
        JSON.stringify(ok[kind]),
        auth === 'admin' ? ADMIN_TOKEN : auth === 'host' ? token : undefined,
      )
      expect(answer.status, `${kind}: ${answer.body}`).toBeLessThan(300)
    }
    expect((await collector.store.reportHistory(hostId, 10)).length).toBe(1)
  }, 60_000)
})
