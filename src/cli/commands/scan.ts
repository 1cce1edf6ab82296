import { homedir } from 'node:os'
import { join } from 'node:path'
import { DriftwatchError, EXIT } from '../../errors.js'
import { openManifest } from '../../manifest/io.js'
import { loadPublicKey, signatureFileFor } from '../../manifest/signature.js'
import { startWalkers, type Walkers } from '../../probes/files/walkers.js'
import { resolveRoot } from '../../scan/root.js'
import { scanHost } from '../../scan/run.js'
import type { CommandOutput } from '../output.js'
import { progressReporter } from '../progress.js'
import { renderReport } from '../render.js'

/** Where quick scans keep their scan cache when --state-dir is not given. */
export function defaultStateDir(): string {
  if (process.env.DRIFTWATCH_STATE_DIR) return process.env.DRIFTWATCH_STATE_DIR
  if (process.getuid?.() === 0) return '/var/lib/driftwatch'
  return join(process.env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'driftwatch')
}

/** What the CLI starts before it loads this module: the walk's workers, and the manifest's bytes being read. */
export interface ScanHead {
  walkers: Walkers
  manifestBytes: Promise<Buffer>
}

export async function scanCommand(
  options: {
    manifest: string
    root: string
    mode: string
    key?: string
    stateDir?: string
    verifyPackages?: boolean
    progress: boolean
  },
  started?: ScanHead,
): Promise<CommandOutput> {
  // The walk workers boot on the other cores while this thread reads the manifest.
  const walkers = started?.walkers ?? startWalkers()
  let scanned: Awaited<ReturnType<typeof scanHost>>
  let rootDir = options.root
  const progress = progressReporter(options.progress)
  try {
    if (options.mode !== 'full' && options.mode !== 'quick') {
      throw new DriftwatchError('USAGE', `--mode ${options.mode}: expected full or quick`, {
        hint: 'full re-hashes every file; quick re-hashes only files whose stat changed',
      })
    }
    rootDir = resolveRoot(options.root)
    // The key is loaded before the manifest is opened: its signature is checked over the
    // bytes before anything parses them.
    const key = options.key
      ? { publicKey: loadPublicKey(options.key), signatureFile: signatureFileFor(options.manifest) }
      : undefined
    const manifest = openManifest(options.manifest, await started?.manifestBytes, key)
    const { digest } = manifest
    scanned = await scanHost({
      rootDir,
      manifest,
      manifestDigest: digest,
      mode: options.mode,
      walkers,
      verifyPackages: options.verifyPackages === true,
      // A one-off full scan leaves nothing behind unless asked; quick mode needs its cache.
      ...(options.stateDir || options.mode === 'quick'
        ? { stateDir: options.stateDir ?? defaultStateDir() }
        : {}),
      ...(progress ? { onProgress: progress.update } : {}),
    })
  } finally {
    progress?.done()
    await walkers.stop()
  }
  const { report, cache } = scanned
  // A discarded cache is never trusted, and costs a full re-hash: say so, on stderr.
  if (cache.startsWith('discarded')) {
    process.stderr.write(
      `driftwatch: the stat cache in ${options.stateDir ?? defaultStateDir()} was ${cache}; every file was read again\n`,
    )
  }
  return {
    exitCode: report.drift.length > 0 ? EXIT.drift : EXIT.clean,
    json: report,
    text: (style) => renderReport(report, style, rootDir),
  }
}
