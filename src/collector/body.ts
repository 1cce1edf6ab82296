import { type Readable, Transform } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { DriftwatchError } from '../errors.js'
import { isPathText, strayCodeUnit } from '../protocol/text.js'

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

/** Deeper than any document of the protocol needs (a report is about 5 levels; `expected` values add a few). */
export const MAX_JSON_DEPTH = 32

/**
 * Parses a request body as JSON and refuses what no protocol document holds: nesting deeper
 * than MAX_JSON_DEPTH, NUL characters in any string or key (PostgreSQL text cannot
 * store them, and no path, package or key contains one), and lone surrogates other than
 * PEP 383's escaped bytes (no store keeps them). Iterative, so a hostile document cannot
 * exhaust the stack.
 */
export function parseJsonBody(body: Buffer): unknown {
  let text: string
  try {
    text = utf8.decode(body)
  } catch {
    throw new DriftwatchError('INPUT_INVALID', 'body: not valid UTF-8', {
      hint: 'send JSON encoded as UTF-8; file names that are not UTF-8 are escaped by the agent',
    })
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new DriftwatchError('INPUT_INVALID', `body: not valid JSON (${(error as Error).message})`, {
      hint: 'send one JSON document, UTF-8 encoded, with Content-Type: application/json',
    })
  }
  const problem = findProblem(value)
  if (problem) throw problem
  return value
}

/**
 * Walks the document without recursion and without building paths (this runs on every
 * request); only when something is wrong is the walk repeated to name the place.
 */
function findProblem(root: unknown): DriftwatchError | undefined {
  const values: unknown[] = [root]
  const depths: number[] = [0]
  while (values.length > 0) {
    const node = values.pop()
    const depth = depths.pop() as number
    if (typeof node === 'string') {
      if (node.includes('\u0000')) return nulError(pathTo(root, (v) => v === node))
      if (!isPathText(node))
        return surrogateError(
          pathTo(root, (v) => v === node),
          node,
        )
      continue
    }
    if (typeof node !== 'object' || node === null) continue
    if (depth >= MAX_JSON_DEPTH) {
      return new DriftwatchError(
        'INPUT_INVALID',
        `${pathTo(root, (v) => v === node)}: nested deeper than ${MAX_JSON_DEPTH} levels`,
        { hint: 'send a driftwatch protocol v1 document' },
      )
    }
    if (Array.isArray(node)) {
      for (const child of node) {
        values.push(child)
        depths.push(depth + 1)
      }
      continue
    }
    for (const key in node) {
      if (key.includes('\u0000')) return nulError(pathTo(root, (v) => v === node))
      if (!isPathText(key)) return surrogateError(`${pathTo(root, (v) => v === node)} key`, key)
      // No protocol document has one, and code that copies objects could be led astray by it.
      if (key === '__proto__') {
        return new DriftwatchError(
          'INPUT_INVALID',
          `${pathTo(root, (v) => v === node)}: has a "__proto__" key`,
          {
            hint: 'no field of the protocol is named __proto__',
          },
        )
      }
      values.push((node as Record<string, unknown>)[key])
      depths.push(depth + 1)
    }
  }
  return undefined
}

/** The path (`body.drift[3].subject`) of the first value that matches, breadth first, within the depth limit. */
function pathTo(root: unknown, matches: (value: unknown) => boolean): string {
  const queue: { value: unknown; path: string; depth: number }[] = [{ value: root, path: 'body', depth: 0 }]
  for (let item = queue.shift(); item; item = queue.shift()) {
    if (matches(item.value)) return item.path
    if (typeof item.value !== 'object' || item.value === null || item.depth > MAX_JSON_DEPTH) continue
    for (const [key, child] of Object.entries(item.value)) {
      const path = Array.isArray(item.value) ? `${item.path}[${key}]` : `${item.path}.${key}`
      queue.push({ value: child, path, depth: item.depth + 1 })
    }
  }
  return 'body'
}

function surrogateError(path: string, text: string): DriftwatchError {
  return new DriftwatchError(
    'INPUT_INVALID',
    `${path}: holds a lone surrogate ${strayCodeUnit(text) ?? ''} that is no character`,
    {
      hint: 'send well-formed Unicode; a file name that is not UTF-8 carries its bytes as U+DC80..U+DCFF (PEP 383)',
    },
  )
}

function nulError(path: string): DriftwatchError {
  return new DriftwatchError('INPUT_INVALID', `${path}: contains a NUL character`, {
    hint: 'no field of the protocol may contain U+0000',
  })
}

/**
 * Undoes `Content-Encoding: gzip` while counting: more than `limit` bytes out is refused at
 * once, so a small gzip bomb costs no more than `limit` bytes of work. `receivedEncodedLength`
 * is what fastify compares with Content-Length and with its own limit.
 */
export function gunzipLimited(payload: Readable, limit: number): Readable {
  let produced = 0
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      produced += chunk.length
      if (produced > limit) callback(tooLarge(limit))
      else callback(null, chunk)
    },
  }) as Transform & { receivedEncodedLength: number }
  counter.receivedEncodedLength = 0
  payload.on('data', (chunk: Buffer) => {
    counter.receivedEncodedLength += chunk.length
  })
  const gunzip = createGunzip()
  gunzip.on('error', (error) =>
    counter.destroy(
      new DriftwatchError('INPUT_INVALID', `body: not valid gzip (${error.message})`, {
        hint: 'send Content-Encoding: gzip only with a gzip body',
      }),
    ),
  )
  payload.on('error', (error) => counter.destroy(error))
  counter.on('error', () => {
    gunzip.destroy()
  })
  payload.pipe(gunzip).pipe(counter)
  return counter
}

export function tooLarge(limit: number): DriftwatchError {
  return new DriftwatchError('PAYLOAD_TOO_LARGE', `body: larger than ${limit} bytes (after gzip is undone)`, {
    hint: 'split the report, or raise bodyLimit in collector.yaml',
  })
}
