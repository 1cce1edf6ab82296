import type { Policy } from '../config/policy.js'
import { DriftwatchError } from '../errors.js'
import {
  type FileEntry,
  MANIFEST_SCHEMA,
  type Manifest,
  type ManifestConfigEntry,
  type PackageRecord,
  packageSubject,
} from '../manifest/schema.js'
import { compareCodeUnits } from '../util/compare.js'

/*
 * Declared manifests: a description written by hand (a Goss file, a CycloneDX SBOM) turned
 * into manifest entries. Pure: text in, entries out. What the description does not state is
 * left out of the entries, and a declared manifest leaves unchecked what its entries leave out
 * (see isDeclared in scan/run.ts). What it states but a manifest cannot check (a file owner
 * by name, whether a service runs) is counted in `unchecked`, so the import can say so.
 */

/** What a description declares, ready to become a manifest's entries. */
export interface DeclaredContent {
  files: FileEntry[]
  packages: PackageRecord[]
  config: ManifestConfigEntry[]
  /** Paths that must not exist (Goss `exists: false`): on a host, each is drift. */
  absent: string[]
  /** Stated attributes a manifest cannot check, counted by `<resource>.<attribute>`. */
  unchecked: Record<string, number>
  /** Entries of the description left out, counted by reason (a CycloneDX npm package, …). */
  skipped: Record<string, number>
}

export type DeclaredFormat = 'goss' | 'cyclonedx'

/**
 * Refuses a description from which nothing checkable came: a manifest of it would scan any
 * root clean, which is worse than no manifest at all.
 */
export function requireSomething(content: DeclaredContent, source: string): void {
  if (content.files.length + content.absent.length + content.packages.length + content.config.length > 0)
    return
  const skipped = Object.entries(content.skipped)
    .sort(([a], [b]) => compareCodeUnits(a, b))
    .map(([what, n]) => `${n} ${what}`)
  throw new DriftwatchError(
    'INPUT_INVALID',
    `${source}: nothing driftwatch can check${skipped.length ? ` (skipped: ${skipped.join(', ')})` : ''}`,
    {
      hint: 'a declared manifest needs packages, files, services, users, groups or kernel parameters it can compare',
    },
  )
}

/**
 * The policy of a declared manifest: the given one, watching exactly the declared paths (and
 * those that must be absent), none excluded. A scan then reads only those files: every other
 * file would read as "added", and a path the user names is one they want checked.
 */
export function declaredPolicy(policy: Policy, content: Pick<DeclaredContent, 'files' | 'absent'>): Policy {
  const paths = [...new Set([...content.files.map((f) => f.path), ...content.absent])].sort()
  return {
    ...policy,
    files: {
      ...policy.files,
      // A policy must include something: with no paths stated, everything, all of it excluded.
      include: paths.length ? paths.map(literalGlob) : ['/**'],
      exclude: paths.length ? [] : ['/**'],
    },
  }
}

/**
 * A glob that matches exactly one path. A segment with glob characters is escaped inside an
 * `@( )` group: still a glob, so the walk starts at the static part before it rather than at
 * a path with backslashes in it.
 */
export function literalGlob(path: string): string {
  return path
    .split('/')
    .map((segment) =>
      /[\\*?[\]{}()!+@|]/.test(segment) ? `@(${segment.replace(/[\\*?[\]{}()!+@|,]/g, '\\$&')})` : segment,
    )
    .join('/')
}

/** A declared manifest: the image, the policy narrowed to the declared paths, the entries. */
export function declaredManifest(
  content: DeclaredContent,
  options: {
    image: { id: string; version: string }
    policy: Policy
    source: { from: DeclaredFormat; file: string }
    now: Date
  },
): Manifest {
  return {
    schema: MANIFEST_SCHEMA,
    image: {
      ...options.image,
      capturedAt: options.now.toISOString(),
      source: { declared: true, ...options.source },
    },
    policy: declaredPolicy(options.policy, content),
    files: content.files,
    packages: content.packages,
    config: content.config,
  }
}

export function emptyContent(): DeclaredContent {
  return { files: [], packages: [], config: [], absent: [], unchecked: {}, skipped: {} }
}

export function sortContent(content: DeclaredContent): DeclaredContent {
  content.files.sort((a, b) => compareCodeUnits(a.path, b.path))
  content.packages.sort(
    (a, b) =>
      compareCodeUnits(packageSubject(a), packageSubject(b)) || compareCodeUnits(a.version, b.version),
  )
  content.config.sort((a, b) => compareCodeUnits(a.key, b.key))
  content.absent.sort(compareCodeUnits)
  return content
}

export function invalid(
  source: string,
  where: string,
  what: string,
  options: { hint: string },
): DriftwatchError {
  return new DriftwatchError('INPUT_INVALID', `${source}: ${where}: ${what}`, options)
}

export function count(counts: Record<string, number>, what: string): void {
  counts[what] = (counts[what] ?? 0) + 1
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function isEmptyList(value: unknown): boolean {
  return Array.isArray(value) && value.length === 0
}

/** How a value reads in a message; a mapping where a value belongs is a Goss matcher. */
export function shown(input: unknown): string {
  if (input === undefined || input === null) return 'nothing'
  if (Array.isArray(input)) return `a list ${JSON.stringify(input)}`
  if (typeof input === 'object') return `a Goss matcher ${JSON.stringify(input)}`
  return JSON.stringify(input)
}
