import picomatch from 'picomatch'
import type { FileAttribute, Policy, Severity } from './policy.js'

// dotAll: a file name may hold a newline, and a glob must match it like any other character,
// or such a file is never recorded and hides from every scan.
const GLOB_OPTIONS = { dot: true, flags: 's' } as const

/**
 * A policy's file globs compiled once. Pure: the walker asks it what to record and where to
 * descend, the comparison asks it how much a change matters.
 */
export class PathMatcher {
  readonly walkStarts: string[]
  readonly defaultAttributes: ReadonlySet<FileAttribute>
  /** True when some rule overrides attributes, so attributes must be looked up per path. */
  readonly attributesVary: boolean
  private readonly included: (path: string) => boolean
  private readonly excluded: (path: string) => boolean
  private readonly includeSegments: string[][]
  private readonly rules: {
    test: (path: string) => boolean
    severity: Severity
    attributes?: Set<FileAttribute>
  }[]
  private readonly defaultSeverity: Severity
  private readonly segmentMatchers = new Map<string, (segment: string) => boolean>()

  constructor(policy: Policy['files']) {
    this.included = anyOf(policy.include)
    this.excluded = anyOf(policy.exclude)
    this.includeSegments = policy.include.map((glob) => glob.split('/').slice(1))
    this.walkStarts = walkStarts(policy.include)
    this.defaultAttributes = new Set(policy.defaultAttributes)
    this.defaultSeverity = policy.defaultSeverity
    this.rules = policy.rules.map((rule) => ({
      test: anyOf(rule.match),
      severity: rule.severity,
      ...(rule.attributes ? { attributes: new Set(rule.attributes) } : {}),
    }))
    this.attributesVary = policy.rules.some((rule) => rule.attributes !== undefined)
  }

  /** Whether a path is recorded: matched by an include glob and by no exclude glob. */
  records(path: string): boolean {
    return this.included(path) && !this.excluded(path)
  }

  isExcluded(path: string): boolean {
    return this.excluded(path)
  }

  /** Whether anything below a directory could be recorded, so the walk must descend. */
  mayContain(dir: string): boolean {
    const segments = dir === '/' ? [] : dir.split('/').slice(1)
    return this.includeSegments.some((glob) => this.prefixCanMatch(glob, 0, segments, 0))
  }

  severityOf(path: string): Severity {
    for (const rule of this.rules) if (rule.test(path)) return rule.severity
    return this.defaultSeverity
  }

  attributesOf(path: string): ReadonlySet<FileAttribute> {
    if (!this.attributesVary) return this.defaultAttributes
    for (const rule of this.rules) if (rule.test(path)) return rule.attributes ?? this.defaultAttributes
    return this.defaultAttributes
  }

  private prefixCanMatch(glob: string[], gi: number, dir: string[], di: number): boolean {
    if (di === dir.length) return true
    const segment = glob[gi]
    if (segment === undefined) return false
    if (segment === '**')
      return this.prefixCanMatch(glob, gi + 1, dir, di) || this.prefixCanMatch(glob, gi, dir, di + 1)
    if (!this.segmentMatches(segment, dir[di] as string)) return false
    return this.prefixCanMatch(glob, gi + 1, dir, di + 1)
  }

  private segmentMatches(pattern: string, segment: string): boolean {
    let test = this.segmentMatchers.get(pattern)
    if (!test) {
      test = picomatch(pattern, GLOB_OPTIONS)
      this.segmentMatchers.set(pattern, test)
    }
    return test(segment)
  }
}

function anyOf(globs: readonly string[]): (path: string) => boolean {
  if (globs.length === 0) return () => false
  // One alternation is several times faster than testing each glob in turn.
  const sources = globs.map((glob) => picomatch.makeRe(glob, GLOB_OPTIONS).source)
  const re = new RegExp(sources.map((s) => `(?:${s})`).join('|'), GLOB_OPTIONS.flags)
  return (path) => re.test(path)
}

/** The directories the walk starts from: each include glob's static prefix, nested ones dropped. */
function walkStarts(globs: readonly string[]): string[] {
  const bases = globs.map((glob) => {
    const { base, isGlob } = picomatch.scan(glob)
    const dir = isGlob ? base : glob
    return dir === '' ? '/' : dir
  })
  const unique = [...new Set(bases)].sort()
  return unique.filter((dir) => !unique.some((other) => other !== dir && isBelow(dir, other)))
}

function isBelow(path: string, dir: string): boolean {
  return dir === '/' || path.startsWith(`${dir}/`)
}
