import { type Dirent, lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { errnoCode } from '../errors.js'
import { compareCodeUnits } from '../util/compare.js'
import { joinRoot } from './files/root-path.js'

/*
 * Configuration probes follow symbolic links (Debian's /etc/os-release is one, systemd's
 * enablement is nothing but links), and an image folder is full of absolute ones. Following
 * them with the host's own path resolution would read the host's /usr/lib when the image's
 * link says /usr/lib: these helpers resolve links the way the kernel does inside a chroot at
 * the root instead (path_resolution(7)), so nothing is ever read from outside the root.
 */

/** What a link to /dev/null resolves to: the vendor's way to mask a unit or a drop-in file. */
export const DEV_NULL = '/dev/null'

// path_resolution(7): Linux gives up with ELOOP after 40 links in one lookup.
const MAX_SYMLINKS = 40

/** One directory entry, typed from lstat: a link is a link, whatever it points to. */
export interface RootDirEntry {
  name: string
  type: 'file' | 'dir' | 'symlink' | 'other'
}

/**
 * The absolute, link-free path inside the root that `path` names, following every link inside
 * the root: an absolute target starts again at the root and `..` stops at it. `/dev/null` is
 * returned as is, whether or not the root holds a /dev (an image folder usually does not).
 * Undefined when a component does not exist.
 */
export function resolveInRoot(rootDir: string, path: string): string | undefined {
  let pending = components(path)
  const resolved: string[] = []
  let links = 0
  while (pending.length > 0) {
    if (resolved.length === 0 && pending.length === 2 && pending[0] === 'dev' && pending[1] === 'null') {
      return DEV_NULL
    }
    const [part, ...rest] = pending as [string, ...string[]]
    pending = rest
    if (part === '.') continue
    if (part === '..') {
      resolved.pop()
      continue
    }
    const target = readLink(rootDir, `/${[...resolved, part].join('/')}`)
    if (target === null) return undefined
    if (target === undefined) {
      resolved.push(part)
      continue
    }
    links += 1
    if (links > MAX_SYMLINKS) {
      throw Object.assign(new Error(`${path}: too many levels of symbolic links`), { code: 'ELOOP' })
    }
    if (target.startsWith('/')) resolved.length = 0
    pending = [...components(target), ...pending]
  }
  return `/${resolved.join('/')}`
}

/**
 * The text of a file inside the root, its links followed inside the root; '' for a link to
 * /dev/null, undefined when it does not exist. Other errors (EACCES, EIO) throw.
 */
export function readRootTextConfined(rootDir: string, path: string): string | undefined {
  const resolved = resolveInRoot(rootDir, path)
  if (resolved === undefined) return undefined
  if (resolved === DEV_NULL) return ''
  try {
    return readRootText(rootDir, resolved)
  } catch (error) {
    // A directory where a file was expected reads as absent, like a missing file.
    if (errnoCode(error) === 'EISDIR') return undefined
    throw error
  }
}

/** Reads a text file inside the root; undefined when it does not exist. Other errors throw. */
export function readRootText(rootDir: string, path: string): string | undefined {
  try {
    return readFileSync(joinRoot(rootDir, path), 'utf8')
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
    throw error
  }
}

/** The entries of a directory inside the root, sorted by name; [] when it does not exist. */
export function listRootDir(rootDir: string, dir: string): RootDirEntry[] {
  const resolved = resolveInRoot(rootDir, dir)
  if (resolved === undefined || resolved === DEV_NULL) return []
  let dirents: Dirent[]
  try {
    dirents = readdirSync(joinRoot(rootDir, resolved), { withFileTypes: true, encoding: 'utf8' })
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'ENOENT' || code === 'ENOTDIR') return []
    throw error
  }
  return dirents
    .map((d): RootDirEntry => {
      const type = d.isSymbolicLink() ? 'symlink' : d.isDirectory() ? 'dir' : d.isFile() ? 'file' : 'other'
      return { name: d.name, type }
    })
    .sort((a, b) => compareCodeUnits(a.name, b.name))
}

function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '')
}

/** The link target at a link-free path; undefined when it is not a link, null when it is missing. */
function readLink(rootDir: string, path: string): string | undefined | null {
  const real = joinRoot(rootDir, path)
  try {
    if (!lstatSync(real).isSymbolicLink()) return undefined
    return readlinkSync(real, 'utf8')
  } catch (error) {
    const code = errnoCode(error)
    if (code === 'ENOENT' || code === 'ENOTDIR') return null
    throw error
  }
}
