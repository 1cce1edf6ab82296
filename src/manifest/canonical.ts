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

/**
 * `canonicalJson` of a file entry, written out member by member: a walk writes one for each of
 * a hundred thousand entries, and sorting each one's keys would cost more than the rest.
 * The members in code unit order: caps, gid, mode, mtime, package, path, sha256, size,
 * target, type, uid, xattrs.
 */
export function fileEntryJson(e: {
  path: string
  type?: string
  mode?: string
  uid?: number
  gid?: number
  size?: number
  sha256?: string
  target?: string
  caps?: string
  xattrs?: Record<string, string>
  mtime?: string
  package?: string
}): string {
  let out = '{'
  if (e.caps !== undefined) out += `"caps":${JSON.stringify(e.caps)},`
  if (e.gid !== undefined) out += `"gid":${number(e.gid)},`
  if (e.mode !== undefined) out += `"mode":${JSON.stringify(e.mode)},`
  if (e.mtime !== undefined) out += `"mtime":${JSON.stringify(e.mtime)},`
  if (e.package !== undefined) out += `"package":${JSON.stringify(e.package)},`
  out += `"path":${JSON.stringify(e.path)}`
  if (e.sha256 !== undefined) out += `,"sha256":${JSON.stringify(e.sha256)}`
  if (e.size !== undefined) out += `,"size":${number(e.size)}`
  if (e.target !== undefined) out += `,"target":${JSON.stringify(e.target)}`
  if (e.type !== undefined) out += `,"type":${JSON.stringify(e.type)}`
  if (e.uid !== undefined) out += `,"uid":${number(e.uid)}`
  if (e.xattrs !== undefined) out += `,"xattrs":${canonicalJson(e.xattrs)}`
  return `${out}}`
}

function number(value: number): string {
  if (!Number.isFinite(value)) throw new Error('canonicalJson: non-finite number')
  return JSON.stringify(value)
}
