import { createHash } from 'node:crypto'

/**
 * Canonical JSON: object keys sorted by code unit, no insignificant whitespace, arrays in
 * their given order (a manifest sorts its entries before it is written). Two manifests with
 * the same content have the same bytes, so the digest names the content.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (value === undefined) throw new Error('canonicalJson: undefined has no JSON form')
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new Error('canonicalJson: non-finite number')
    return JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    let out = '['
    for (let i = 0; i < value.length; i++) out += (i ? ',' : '') + canonicalJson(value[i])
    return `${out}]`
  }
  const record = value as Record<string, unknown>
  const keys = Object.keys(record).sort()
  let out = '{'
  let first = true
  for (const key of keys) {
    const member = record[key]
    if (member === undefined) continue
    out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(member)}`
    first = false
  }
  return `${out}}`
}

export function sha256Digest(text: string | Buffer): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`
}

/** `sha256:<hex>` of a value's canonical JSON. */
export function digestOf(value: unknown): string {
  return sha256Digest(canonicalJson(value))
}
