/**
 * Where the parts of a JSON document are, without parsing it: the structure only (strings,
 * brackets, commas), followed byte by byte. Used on a manifest's bytes only after their digest
 * (and signature) were checked (see io.ts): to take the image, policy, packages and
 * configuration without parsing tens of megabytes of file entries, and to parse those a slice
 * at a time. Every part a caller uses is then parsed by JSON.parse, which validates it; any
 * doubt here (an unexpected byte, unbalanced brackets) answers null, and the caller parses
 * the whole document instead.
 */

const QUOTE = 0x22
const BACKSLASH = 0x5c
const OPEN_BRACE = 0x7b
const CLOSE_BRACE = 0x7d
const OPEN_BRACKET = 0x5b
const CLOSE_BRACKET = 0x5d
const COMMA = 0x2c
const COLON = 0x3a

/** One top-level member of an object: its key's span (quotes included) and its value's; an array value's element count, else -1. */
export interface OutlineMember {
  keyStart: number
  keyEnd: number
  valueStart: number
  valueEnd: number
  count: number
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09
}

/**
 * The index after the string that starts with the quote at `i`, or -1. The next quote is
 * found by indexOf (memchr): most of a manifest's bytes are in strings.
 */
function skipString(d: Uint8Array, i: number): number {
  let k = i + 1
  for (;;) {
    const q = d.indexOf(QUOTE, k)
    if (q < 0) return -1
    // A quote ends the string unless an odd number of backslashes escapes it.
    let slashes = 0
    while (d[q - 1 - slashes] === BACKSLASH) slashes++
    if ((slashes & 1) === 0) return q + 1
    k = q + 1
  }
}

function skipSpace(d: Uint8Array, i: number, end: number): number {
  while (i < end && isSpace(d[i] as number)) i++
  return i
}

/**
 * The index after the value that starts at `i` (no leading space), or -1; `counted[0]` gets
 * an array's element count. Brackets are matched with a stack of what is open.
 */
function skipValue(d: Uint8Array, i: number, end: number, counted?: number[]): number {
  const c = d[i]
  if (c === QUOTE) return skipString(d, i)
  if (c !== OPEN_BRACE && c !== OPEN_BRACKET) {
    // A number, true, false or null: up to the next delimiter.
    let k = i
    while (k < end) {
      const b = d[k] as number
      if (b === COMMA || b === CLOSE_BRACE || b === CLOSE_BRACKET || isSpace(b)) break
      if (b === QUOTE || b === OPEN_BRACE || b === OPEN_BRACKET || b === COLON) return -1
      k++
    }
    return k > i ? k : -1
  }
  // Brackets are counted, not matched: a mismatch inside is left to JSON.parse of the part.
  let depth = 1
  let commas = 0
  let any = false
  for (let k = i + 1; k < end; k++) {
    const b = d[k] as number
    if (b === QUOTE) {
      k = skipString(d, k) - 1
      if (k < 0) return -1
      if (depth === 1) any = true
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      if (depth === 1) any = true
      depth++
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      if (--depth === 0) {
        if (counted) counted[0] = c === OPEN_BRACKET ? (any ? commas + 1 : 0) : -1
        return k + 1
      }
    } else if (b === COMMA) {
      if (depth === 1) commas++
    } else if (depth === 1 && !isSpace(b) && b !== COLON) {
      any = true
    }
  }
  return -1
}

/** The top-level members of a document that is one object, or null when it is not. */
export function outlineObject(d: Uint8Array): OutlineMember[] | null {
  let i = skipSpace(d, 0, d.length)
  if (d[i] !== OPEN_BRACE) return null
  const members: OutlineMember[] = []
  i = skipSpace(d, i + 1, d.length)
  if (d[i] === CLOSE_BRACE) return skipSpace(d, i + 1, d.length) === d.length ? members : null
  for (;;) {
    if (d[i] !== QUOTE) return null
    const keyStart = i
    const keyEnd = skipString(d, i)
    if (keyEnd < 0) return null
    i = skipSpace(d, keyEnd, d.length)
    if (d[i] !== COLON) return null
    const valueStart = skipSpace(d, i + 1, d.length)
    const counted = [-1]
    const valueEnd = skipValue(d, valueStart, d.length, counted)
    if (valueEnd < 0) return null
    members.push({
      keyStart,
      keyEnd,
      valueStart,
      valueEnd,
      count: d[valueStart] === OPEN_BRACKET ? (counted[0] as number) : -1,
    })
    i = skipSpace(d, valueEnd, d.length)
    if (d[i] === CLOSE_BRACE) return skipSpace(d, i + 1, d.length) === d.length ? members : null
    if (d[i] !== COMMA) return null
    i = skipSpace(d, i + 1, d.length)
  }
}

/**
 * Where each element of the array at d[start, end) is: (start, end) pairs, or null when
 * d[start, end) is not one array.
 */
export function arrayElements(d: Uint8Array, start: number, end: number): Float64Array | null {
  if (d[start] !== OPEN_BRACKET || d[end - 1] !== CLOSE_BRACKET) return null
  let spans = new Float64Array(1024)
  let n = 0
  let depth = 0
  let elementStart = -1
  for (let k = start + 1; k < end - 1; k++) {
    const b = d[k] as number
    if (depth === 0 && elementStart < 0 && !isSpace(b)) {
      if (b === COMMA) return null
      elementStart = k
    }
    if (b === QUOTE) {
      k = skipString(d, k) - 1
      if (k < 0 || k >= end - 1) return null
    } else if (b === OPEN_BRACE || b === OPEN_BRACKET) {
      depth++
    } else if (b === CLOSE_BRACE || b === CLOSE_BRACKET) {
      if (--depth < 0) return null
    } else if (b === COMMA && depth === 0) {
      if (n + 2 > spans.length) spans = grow(spans)
      spans[n++] = elementStart
      spans[n++] = trimEnd(d, elementStart, k)
      elementStart = -1
    }
  }
  if (depth !== 0) return null
  if (elementStart >= 0) {
    if (n + 2 > spans.length) spans = grow(spans)
    spans[n++] = elementStart
    spans[n++] = trimEnd(d, elementStart, end - 1)
  } else if (n > 0) {
    return null
  }
  return spans.slice(0, n)
}

function grow(spans: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const grown = new Float64Array(spans.length * 2)
  grown.set(spans)
  return grown
}

/** The end of d[start, end) without trailing space. */
function trimEnd(d: Uint8Array, start: number, end: number): number {
  while (end > start && isSpace(d[end - 1] as number)) end--
  return end
}
