import { loadPolicy } from '../../config/load.js'
import { EXIT } from '../../errors.js'
import { verifyPackages } from '../../probes/packages/registry.js'
import { resolveRoot } from '../../scan/root.js'
import { displayText } from '../../util/display.js'
import type { CommandOutput } from '../output.js'

/** `packages verify`: every package-owned file against the package manager's digests. */
export async function packagesVerifyCommand(options: {
  root: string
  conffiles: boolean
}): Promise<CommandOutput> {
  const rootDir = resolveRoot(options.root)
  const started = performance.now()
  const { findings, errors, unverified } = await verifyPackages(
    { rootDir, live: rootDir === '/' },
    loadPolicy().packages,
    {
      conffiles: options.conffiles,
    },
  )
  const durationMs = Math.round(performance.now() - started)
  return {
    exitCode: findings.length > 0 ? EXIT.drift : EXIT.clean,
    json: { root: rootDir, findings, errors, unverified, durationMs },
    text: (style) => {
      const lines: string[] = []
      const bySubject = new Map<string, typeof findings>()
      for (const f of findings) bySubject.set(f.subject, [...(bySubject.get(f.subject) ?? []), f])
      for (const [subject, list] of [...bySubject].sort(([a], [b]) => (a < b ? -1 : 1))) {
        lines.push(style.bold(displayText(subject)))
        for (const f of list)
          lines.push(
            `  ${style.red(f.kind.padEnd(8))} ${displayText(f.path)}${f.conffile ? style.dim(' (conffile)') : ''}`,
          )
      }
      for (const e of errors)
        lines.push(
          style.yellow(
            `could not check ${displayText(e.path)} (${displayText(e.subject)}): ${displayText(e.message)}`,
          ),
        )
      for (const u of unverified) lines.push(style.yellow(`${u.manager} packages not verified: ${u.reason}`))
      const summary = findings.length
        ? style.red(`${findings.length} package files changed or missing in ${bySubject.size} packages`)
        : style.green('all package files match their packages')
      lines.push(`${lines.length ? '\n' : ''}${summary} · ${durationMs} ms`)
      return `${lines.join('\n')}\n`
    },
  }
}
