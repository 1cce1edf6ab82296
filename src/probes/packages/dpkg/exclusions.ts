// Files dpkg was told not to install (path-exclude) or that localepurge deleted: debsums does
// not count them as missing. Pure: the caller reads the configuration from the root.

/** A `path-exclude=` or `path-include=` rule from dpkg's configuration. */
export interface DpkgPathFilter {
  exclude: boolean
  pattern: RegExp
}

/**
 * The path filters in dpkg configuration text (dpkg.cfg, dpkg.cfg.d/*), parsed as
 * Dpkg::Conf does: `name=value` or `name value`, `#` comments, quotes around the value.
 * Minimal images use them to leave out documentation and locales.
 */
export function parseDpkgPathFilters(text: string): DpkgPathFilter[] {
  const filters: DpkgPathFilter[] = []
  for (const raw of text.split('\n')) {
    let line = raw.trim().replace(/\s+=\s+/, '=')
    if (!line.includes('=')) line = line.replace(/\s+/, '=')
    const match = /^(?:--)?path-(exclude|include)=(.+)$/.exec(line)
    if (!match) continue
    const value = (match[2] as string).replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1')
    filters.push({ exclude: match[1] === 'exclude', pattern: fnmatchPattern(value) })
  }
  return filters
}

/** True when the last filter matching `path` excludes it: dpkg did not install it. */
export function isExcludedByDpkg(path: string, filters: DpkgPathFilter[]): boolean {
  let excluded = false
  for (const filter of filters) if (filter.pattern.test(path)) excluded = filter.exclude
  return excluded
}

/**
 * fnmatch(3) without flags, as debsums calls it: `*` and `?` match `/` too, `[…]` is a
 * bracket expression (`!` or `^` negates), a backslash quotes the next character.
 */
function fnmatchPattern(glob: string): RegExp {
  let source = ''
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string
    if (c === '*') source += '.*'
    else if (c === '?') source += '.'
    else if (c === '\\' && i + 1 < glob.length) source += escapeRegExp(glob[++i] as string)
    else if (c === '[') {
      let j = i + 1
      if (glob[j] === '!' || glob[j] === '^') j++
      if (glob[j] === ']') j++
      const close = glob.indexOf(']', j)
      if (close === -1) {
        source += '\\['
        continue
      }
      let body = glob.slice(i + 1, close)
      const negated = body[0] === '!' || body[0] === '^'
      if (negated) body = body.slice(1)
      source += `[${negated ? '^' : ''}${body.replace(/[\\\][^]/g, '\\$&')}]`
      i = close
    } else source += escapeRegExp(c)
  }
  return new RegExp(`^${source}$`, 's')
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')
}

/*
 * localepurge deletes the translations of locales a host does not keep (/etc/locale.nopurge).
 * debsums leaves the files it deleted out of its missing files; these are the places it knows,
 * each with the path part that names the locale.
 */
const LOCALEPURGE_PLACES: { type: RegExp; locale: RegExp; group?: number }[] = [
  {
    type: /^usr\/share\/(?:man|locale|doc\/kde\/HTML)\//,
    locale: /^usr\/share\/(?:man|locale|doc\/kde\/HTML)\/([^/]+)\//,
  },
  { type: /^usr\/share\/gnome\/help\//, locale: /^usr\/share\/gnome\/help\/[^/]+\/([^/]+)\// },
  { type: /^usr\/share\/omf\//, locale: /^usr\/share\/omf\/([^/]+)\/\1-([^/]+)\.omf$/, group: 2 },
  { type: /^usr\/share\/tcltk\//, locale: /^usr\/share\/tcltk\/t[^/]+\/msgs\/([^/]+)\.msg$/ },
  { type: /^usr\/share\/aptitude\//, locale: /^usr\/share\/aptitude\/aptitude-defaults\.(.+)$/ },
  { type: /^usr\/share\/calendar\//, locale: /^usr\/share\/calendar\/(\w{2}_.+)$/ },
  { type: /^usr\/share\/cups\/templates\//, locale: /^usr\/share\/cups\/templates\/([^/]+)\// },
  { type: /^usr\/share\/cups\/locale\//, locale: /^usr\/share\/cups\/locale\/([^/]+)/ },
  { type: /^usr\/share\/cups\/doc-root\//, locale: /^usr\/share\/cups\/doc-root\/([^/]+)\// },
  { type: /^usr\/share\/help\//, locale: /^usr\/share\/help\/([^/]+)$/ },
  {
    type: /^usr\/share\/vim\/vim[^/]+\/lang\//,
    locale: /^usr\/share\/vim\/vim[^/]+\/lang\/([^/]+)\/LC_MESSAGES\/vim\.mo$/,
  },
  { type: /^usr\/share\/X11\/locale\//, locale: /^usr\/share\/X11\/locale\/([^/]+)\// },
]

/** The locales /etc/locale.nopurge keeps: every line that starts with a word character. */
export function parseLocaleNopurge(text: string): Set<string> {
  const keep = new Set<string>()
  for (const line of text.split('\n')) if (/^\w/.test(line)) keep.add(line.trimEnd())
  return keep
}

/** True when localepurge would have deleted `path` (absolute), given the locales kept. */
export function isLocalepurgeFile(path: string, keep: Set<string>): boolean {
  const relative = path.slice(1)
  const place = LOCALEPURGE_PLACES.find((p) => p.type.test(relative))
  const locale = place?.locale.exec(relative)?.[place.group ?? 1]
  return locale !== undefined && locale !== '' && !keep.has(locale)
}
