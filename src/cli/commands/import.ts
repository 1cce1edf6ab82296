import { basename } from 'node:path'
import { loadPolicy, readTextFile } from '../../config/load.js'
import { DriftwatchError, EXIT } from '../../errors.js'
import { fromCycloneDx } from '../../import/cyclonedx.js'
import {
  type DeclaredContent,
  type DeclaredFormat,
  declaredManifest,
  requireSomething,
} from '../../import/declared.js'
import { fromGoss } from '../../import/goss.js'
import { encodeManifest, writeSignedManifest } from '../../manifest/io.js'
import type { PackageManager } from '../../manifest/schema.js'
import { loadPrivateKey } from '../../manifest/signature.js'
import { detectPackageManagers } from '../../probes/packages/registry.js'
import type { CommandOutput } from '../output.js'
import { parseImage } from './manifest.js'

const FORMATS: readonly DeclaredFormat[] = ['goss', 'cyclonedx']
const MANAGERS: readonly PackageManager[] = ['deb', 'rpm', 'apk']

/**
 * `manifest import`: a Goss file or a CycloneDX SBOM becomes a declared manifest, which
 * leaves unchecked what it does not state. Written like a captured one (and signed with --sign).
 */
export function importCommand(options: {
  from: string
  file: string
  image: string
  manager?: string
  /** The root the package manager is detected from when --manager does not name it. */
  root?: string
  policy?: string
  out?: string
  sign?: string
  now?: () => Date
}): CommandOutput {
  const from = FORMATS.find((f) => f === options.from)
  if (!from) {
    throw new DriftwatchError('USAGE', `--from ${options.from}: expected goss or cyclonedx`, {
      hint: 'use --from goss for a Goss YAML file, --from cyclonedx for a CycloneDX JSON SBOM',
    })
  }
  const manager = options.manager === undefined ? undefined : MANAGERS.find((m) => m === options.manager)
  if (options.manager !== undefined && (!manager || from !== 'goss')) {
    throw new DriftwatchError(
      'USAGE',
      from === 'goss'
        ? `--manager ${options.manager}: expected deb, rpm or apk`
        : '--manager applies to --from goss only: a CycloneDX purl names its own package type',
      {
        hint: from === 'goss' ? 'the package manager Goss checked, as its --package flag' : 'drop --manager',
      },
    )
  }
  const image = parseImage(options.image)
  if (options.sign && !options.out) {
    throw new DriftwatchError(
      'USAGE',
      '--sign needs --out: the signature is written next to the manifest as FILE.sig',
      { hint: 'add --out manifest.json' },
    )
  }
  const privateKey = options.sign ? loadPrivateKey(options.sign) : undefined
  const policy = options.policy ? loadPolicy(options.policy) : loadPolicy()
  const text = readTextFile(options.file)
  const content =
    from === 'goss'
      ? fromGoss(text, options.file, { manager: manager ?? detectedManager(options.root ?? '/', text) })
      : fromCycloneDx(text, options.file)
  requireSomething(content, options.file)
  const manifest = declaredManifest(content, {
    image,
    policy,
    source: { from, file: basename(options.file) },
    now: (options.now ?? (() => new Date()))(),
  })
  const summary = {
    image: `${image.id}@${image.version}`,
    from,
    files: content.files.length,
    absent: content.absent.length,
    packages: content.packages.length,
    config: content.config.length,
    unchecked: content.unchecked,
    skipped: { total: total(content.skipped), ...content.skipped },
  }
  if (!options.out) {
    // The manifest itself is the one document on stdout; what was left out is a log line.
    const notes = notesOf(content)
    if (notes.length) process.stderr.write(`driftwatch: ${notes.join('; ')}\n`)
    return { exitCode: EXIT.clean, json: null, text: () => '', raw: encodeManifest(manifest) }
  }
  const { digest, signatureFile } = writeSignedManifest(options.out, manifest, privateKey)
  return {
    exitCode: EXIT.clean,
    json: {
      ...summary,
      manifest: options.out,
      digest,
      ...(signatureFile ? { signature: signatureFile } : {}),
    },
    text: (style) => {
      const lines = [
        `${style.green('imported')} ${summary.image} from ${basename(options.file)} (${from}): ${[
          plural(summary.files, 'file'),
          ...(summary.absent ? [plural(summary.absent, 'absent path')] : []),
          plural(summary.packages, 'package'),
          plural(summary.config, 'config key'),
        ].join(', ')}`,
        `  manifest  ${options.out}`,
        `  digest    ${digest}`,
      ]
      if (signatureFile) lines.push(`  signature ${signatureFile}`)
      for (const note of notesOf(content)) lines.push(style.yellow(`  ${note}`))
      return `${lines.join('\n')}\n`
    },
  }
}

/**
 * The package manager Goss's package entries are for, detected from the root as Goss detects
 * it on the host; only asked when the file has package entries.
 */
function detectedManager(root: string, text: string): PackageManager {
  const found = detectPackageManagers(root)
  if (found.length === 1) return found[0] as PackageManager
  if (!/^package:/m.test(text) && !/"package"\s*:/.test(text)) return 'deb'
  throw new DriftwatchError(
    'USAGE',
    found.length === 0
      ? `--root ${root}: no dpkg, rpm or apk database to tell which package manager the Goss package entries are for`
      : `--root ${root}: holds the databases of ${found.join(', ')}: which one do the Goss package entries mean?`,
    { hint: 'say it with --manager deb|rpm|apk, or give the image root with --root DIR' },
  )
}

/** What the manifest does not carry, in a few words: skipped entries and unchecked attributes. */
function notesOf(content: DeclaredContent): string[] {
  const notes: string[] = []
  const skipped = total(content.skipped)
  if (skipped)
    notes.push(`skipped ${skipped === 1 ? '1 entry' : `${skipped} entries`} (${listCounts(content.skipped)})`)
  if (total(content.unchecked)) notes.push(`left unchecked: ${listCounts(content.unchecked)}`)
  return notes
}

function listCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([what, n]) => `${n} ${what}`)
    .join(', ')
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`
}

function total(counts: Record<string, number>): number {
  return Object.values(counts).reduce((sum, n) => sum + n, 0)
}
