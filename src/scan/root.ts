import { readFileSync, realpathSync, statSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { DriftwatchError, errnoCode } from '../errors.js'

/** Resolves and checks the root every host read goes through (`--root`, default `/`). */
export function resolveRoot(root: string): string {
  let real: string
  try {
    real = realpathSync(root)
  } catch (error) {
    throw new DriftwatchError(
      'NOT_FOUND',
      `--root ${root}: ${errnoCode(error) === 'ENOENT' ? 'no such directory' : `cannot open (${errnoCode(error)})`}`,
      {
        hint: 'pass the directory that holds the image or host file system (default /)',
      },
    )
  }
  if (!statSync(real).isDirectory()) {
    throw new DriftwatchError('USAGE', `--root ${root}: not a directory`, {
      hint: 'pass the directory that holds the image or host file system',
    })
  }
  return real
}

/** The host as it names itself: machine id and hostname read inside the root. */
export function hostIdentity(rootDir: string): { id: string; hostname: string } {
  const read = (path: string) => {
    try {
      return readFileSync(join(rootDir, path), 'utf8').trim()
    } catch {
      return ''
    }
  }
  const id = read('etc/machine-id') || read('var/lib/dbus/machine-id')
  const name = rootDir === '/' ? hostname() : read('etc/hostname')
  return { id: id || `unknown:${name || 'host'}`, hostname: name || 'unknown' }
}
