import { ANY_ARCH, ANY_VERSION } from '../drift/packages.js'
import type { PackageManager, PackageRecord } from '../manifest/schema.js'

/** A package URL (https://github.com/package-url/purl-spec), its parts percent-decoded. */
export interface Purl {
  type: string
  namespace?: string
  name: string
  version?: string
  qualifiers: Record<string, string>
  subpath?: string
}

/**
 * Parses a package URL as the purl specification's "how to parse" says: subpath after `#`,
 * qualifiers after `?`, the `pkg:` scheme, the type, the version after the last `@`, the name
 * as the last path segment. Undefined for a string that is not a package URL.
 */
export function parsePurl(text: string): Purl | undefined {
  let rest = text
  let subpath: string | undefined
  const hash = rest.indexOf('#')
  if (hash !== -1) {
    subpath = rest.slice(hash + 1).replace(/^\/+|\/+$/g, '')
    rest = rest.slice(0, hash)
  }
  const qualifiers: Record<string, string> = {}
  const question = rest.indexOf('?')
  if (question !== -1) {
    for (const pair of rest.slice(question + 1).split('&')) {
      const eq = pair.indexOf('=')
      if (eq <= 0) continue
      const value = decode(pair.slice(eq + 1))
      if (value === undefined) return undefined
      if (value !== '') qualifiers[pair.slice(0, eq).toLowerCase()] = value
    }
    rest = rest.slice(0, question)
  }
  const colon = rest.indexOf(':')
  if (colon === -1 || rest.slice(0, colon).toLowerCase() !== 'pkg') return undefined
  rest = rest.slice(colon + 1).replace(/^\/+/, '')
  const slash = rest.indexOf('/')
  if (slash <= 0) return undefined
  const type = rest.slice(0, slash).toLowerCase()
  rest = rest.slice(slash + 1).replace(/\/+$/, '')
  let version: string | undefined
  const at = rest.lastIndexOf('@')
  if (at !== -1) {
    version = decode(rest.slice(at + 1))
    if (version === undefined) return undefined
    rest = rest.slice(0, at)
  }
  const lastSlash = rest.lastIndexOf('/')
  const name = decode(rest.slice(lastSlash + 1))
  const namespace = lastSlash === -1 ? undefined : decode(rest.slice(0, lastSlash))
  if (!name) return undefined
  return {
    type,
    ...(namespace ? { namespace } : {}),
    name,
    ...(version ? { version } : {}),
    qualifiers,
    ...(subpath ? { subpath } : {}),
  }
}

/**
 * The package a deb, rpm or apk purl names, its version as the package manager's database
 * spells it: Trivy puts a deb or rpm epoch in a qualifier, syft in the version itself.
 */
export function packageFromPurl(manager: PackageManager, purl: Purl): PackageRecord {
  let version = purl.version ?? ANY_VERSION
  const epoch = purl.qualifiers.epoch
  if (epoch !== undefined && manager !== 'apk' && purl.version !== undefined && !version.includes(':'))
    version = `${epoch}:${version}`
  return { manager, name: purl.name, arch: purl.qualifiers.arch ?? ANY_ARCH, version }
}

function decode(part: string): string | undefined {
  try {
    return decodeURIComponent(part)
  } catch {
    return undefined
  }
}
