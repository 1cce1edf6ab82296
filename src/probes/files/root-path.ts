import { toFsPath } from '../../util/pathname.js'

/** The real path of `path` (absolute inside the root) under the root directory `rootDir`. */
export function joinRoot(rootDir: string, path: string): string | Buffer {
  const inside = toFsPath(path)
  if (rootDir === '/') return inside
  if (typeof inside === 'string') return rootDir + inside
  return Buffer.concat([Buffer.from(rootDir), inside])
}
