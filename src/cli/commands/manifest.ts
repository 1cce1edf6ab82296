import { existsSync } from 'node:fs'
import { loadPolicy } from '../../config/load.js'
import { compareFiles, severityRank, summarize } from '../../drift/compare.js'
import { compareConfig } from '../../drift/config.js'
import { attributeFileChanges, comparePackages } from '../../drift/packages.js'
import { DriftwatchError, EXIT } from '../../errors.js'
import { encodeManifest, readManifest, writeSignedManifest } from '../../manifest/io.js'
import { type ConfigEntry, ImageRefSchema, isConfigChoice } from '../../manifest/schema.js'
import { loadPrivateKey, loadPublicKey, signatureFileFor } from '../../manifest/signature.js'
import { resolveRoot } from '../../scan/root.js'
import { captureManifest, isDeclared } from '../../scan/run.js'
import { displayText } from '../../util/display.js'
import { type CommandOutput, formatBytes, formatCount } from '../output.js'
import { progressReporter } from '../progress.js'
import { renderDrift } from '../render.js'

export function parseImage(value: string): { id: string; version: string } {
  const at = value.lastIndexOf('@')
  const ref = { id: value.slice(0, at), version: value.slice(at + 1) }
  const ok = at > 0 && ImageRefSchema.pick({ id: true, version: true }).safeParse(ref).success
  if (!ok) {
    throw new DriftwatchError('USAGE', `--image ${value}: expected ID@VERSION`, {
      hint: 'for example --image web-base@2026.11.27-1',
    })
  }
  return ref
}

export async function captureCommand(options: {
  image: string
  root: string
  policy?: string
  out?: string
  sign?: string
  progress: boolean
}): Promise<CommandOutput> {
  const image = parseImage(options.image)
  if (options.sign && !options.out) {
    throw new DriftwatchError(
      'USAGE',
      '--sign needs --out: the signature is written next to the manifest as FILE.sig',
      {
        hint: 'add --out manifest.json.gz',
      },
    )
  }
  const privateKey = options.sign ? loadPrivateKey(options.sign) : undefined
  const rootDir = resolveRoot(options.root)
  const policy = options.policy ? loadPolicy(options.policy) : loadPolicy()
  const progress = progressReporter(options.progress)
  const captured = await captureManifest({
    rootDir,
    policy,
    image,
    ...(progress ? { onProgress: progress.update } : {}),
  })
  progress?.done()
  const summary = {
    image: `${image.id}@${image.version}`,
    files: captured.files,
    bytesHashed: captured.bytesHashed,
    errors: captured.errors,
  }
  if (!options.out) {
    // Without --out the manifest itself is the one document on stdout.
    const bytes = encodeManifest(captured.manifest)
    return { exitCode: EXIT.clean, json: null, text: () => '', raw: bytes }
  }
  const { digest, signatureFile } = writeSignedManifest(options.out, captured.manifest, privateKey)
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
        `${style.green('captured')} ${summary.image}: ${formatCount(captured.files)} files, ${formatBytes(captured.bytesHashed)} hashed`,
        `  manifest  ${options.out}`,
        `  digest    ${digest}`,
      ]
      if (signatureFile) lines.push(`  signature ${signatureFile}`)
      for (const e of captured.errors.slice(0, 20))
        lines.push(style.yellow(`  could not read ${displayText(e.subject)}: ${displayText(e.message)}`))
      return `${lines.join('\n')}\n`
    },
  }
}

export function verifyCommand(options: { file: string; key?: string }): CommandOutput {
  const sigFile = signatureFileFor(options.file)
  // The signature is checked over the manifest's bytes before they are parsed.
  const key = options.key ? { publicKey: loadPublicKey(options.key), signatureFile: sigFile } : undefined
  const { manifest, digest, signature } = readManifest(options.file, key)
  const signedBy = signature?.keyId
  return {
    exitCode: EXIT.clean,
    json: {
      valid: true,
      image: manifest.image,
      digest,
      signature: signedBy ? { keyId: signedBy, verified: true } : null,
    },
    text: (style) =>
      `${style.green('valid')} ${displayText(`${manifest.image.id}@${manifest.image.version}`)} ${digest}` +
      (signedBy
        ? `\n  signature verified (key ${signedBy})\n`
        : existsSync(sigFile)
          ? '\n  signature present, not checked: pass --key PUBFILE\n'
          : '\n  unsigned\n'),
  }
}

export function showCommand(options: { file: string }): CommandOutput {
  const { manifest, digest } = readManifest(options.file)
  const files = manifest.files
  const byType: Record<string, number> = {}
  let bytes = 0
  for (const f of files) {
    byType[f.type ?? 'unstated'] = (byType[f.type ?? 'unstated'] ?? 0) + 1
    bytes += f.size ?? 0
  }
  const privileged = files
    .filter((f) => f.mode !== undefined && (Number.parseInt(f.mode, 8) & 0o6000) !== 0)
    .map((f) => f.path)
  const withCaps = files.filter((f) => f.caps).map((f) => ({ path: f.path, caps: f.caps }))
  const info = {
    image: manifest.image,
    digest,
    declared: isDeclared(manifest),
    signature: existsSync(signatureFileFor(options.file)) ? signatureFileFor(options.file) : null,
    files: { total: files.length, byType, bytes, setuidOrSetgid: privileged, capabilities: withCaps },
    packages: manifest.packages.length,
    config: manifest.config.length,
    policy: {
      include: manifest.policy.files.include,
      exclude: manifest.policy.files.exclude.length,
      rules: manifest.policy.files.rules.length,
    },
  }
  return {
    exitCode: EXIT.clean,
    json: info,
    text: (style) => {
      const lines = [
        style.bold(displayText(`${manifest.image.id}@${manifest.image.version}`)) +
          style.dim(` captured ${displayText(manifest.image.capturedAt)}`),
        `  digest     ${digest}`,
        `  signature  ${displayText(info.signature ?? 'none')}`,
        `  files      ${formatCount(files.length)} (${Object.entries(byType)
          .map(([t, n]) => `${formatCount(n)} ${displayText(t)}`)
          .join(', ')}), ${formatBytes(bytes)}`,
        `  setuid/gid ${privileged.length}${privileged.length ? `: ${privileged.slice(0, 10).map(displayText).join(' ')}${privileged.length > 10 ? ' …' : ''}` : ''}`,
        `  caps       ${withCaps.length}${
          withCaps.length
            ? `: ${withCaps
                .map((c) => displayText(`${c.path} ${c.caps}`))
                .slice(0, 10)
                .join(', ')}`
            : ''
        }`,
        `  packages   ${manifest.packages.length}`,
        `  config     ${manifest.config.length}`,
        `  policy     watches ${manifest.policy.files.include.map(displayText).join(' ')}`,
      ]
      return `${lines.join('\n')}\n`
    },
  }
}

export function diffCommand(options: { old: string; new: string }): CommandOutput {
  const before = readManifest(options.old)
  const after = readManifest(options.new)
  // The comparison a scan makes, with the new image in the place of the host: packages,
  // files and configuration, file changes a package change explains named with it.
  const complete = !isDeclared(before.manifest) && !isDeclared(after.manifest)
  const policy = before.manifest.policy
  const drift = [
    ...comparePackages(before.manifest.packages, after.manifest.packages, policy.packages.severity, {
      complete,
    }),
    ...compareFiles(before.manifest.files, after.manifest.files, policy, { complete }),
    // The new image stands where a host's observed values would: a declared "one of" states
    // no value of its own, so it has none to compare.
    ...compareConfig(
      before.manifest.config,
      after.manifest.config.filter((entry): entry is ConfigEntry => !isConfigChoice(entry)),
      policy.config,
      { complete },
    ),
  ]
  if (drift.some((item) => item.kind === 'package')) {
    const owners = (files: readonly { path: string; package?: string }[]) =>
      new Map(files.flatMap((f) => (f.package ? [[f.path, f.package] as const] : [])))
    attributeFileChanges(drift, {
      observed: owners(after.manifest.files),
      expected: owners(before.manifest.files),
    })
  }
  drift.sort(
    (a, b) => severityRank(a.severity) - severityRank(b.severity) || (a.subject < b.subject ? -1 : 1),
  )
  const summary = summarize(drift)
  return {
    exitCode: drift.length ? EXIT.drift : EXIT.clean,
    json: {
      old: { image: before.manifest.image, digest: before.digest },
      new: { image: after.manifest.image, digest: after.digest },
      drift,
      summary,
    },
    text: (style) => {
      const head = displayText(
        `${before.manifest.image.id}@${before.manifest.image.version} -> ${after.manifest.image.id}@${after.manifest.image.version}`,
      )
      const tail = drift.length ? `${drift.length} differences` : 'no differences'
      return `${[style.bold(head), ...renderDrift(drift, style), '', tail].join('\n')}\n`
    },
  }
}
