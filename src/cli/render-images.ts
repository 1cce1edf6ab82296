import type { ImageView } from '../protocol/api.js'
import type { Style } from './output.js'

/** Control characters shown, never acted on by the terminal (an image id comes from the wire). */
function printable(text: string): string {
  let out = ''
  for (const c of text) {
    const code = c.charCodeAt(0)
    out += code < 0x20 || (code >= 0x7f && code <= 0x9f) ? `\\x${code.toString(16).padStart(2, '0')}` : c
  }
  return out
}

/** `fleet image register` for people: what the collector now holds hosts of that image to. */
export function renderImageRegistered(image: ImageView, created: boolean, style: Style): string {
  const signed = image.signedBy ? `signed by key ${printable(image.signedBy)}` : style.dim('unsigned')
  return `${created ? 'registered' : 'updated'} ${style.bold(printable(`${image.id}@${image.version}`))}\n  digest  ${printable(image.manifestDigest)}\n  ${signed}\n`
}

/** `fleet images` for people: one row per registered image version. */
export function renderImages(images: readonly ImageView[], style: Style): string {
  if (images.length === 0) return `${style.dim('no images registered')}\n`
  const rows = [
    ['IMAGE', 'DIGEST', 'SIGNED BY', 'REGISTERED'],
    ...images.map((i) => [
      printable(`${i.id}@${i.version}`),
      printable(i.manifestDigest.slice(0, 19)),
      printable(i.signedBy ?? '-'),
      printable(i.registeredAt),
    ]),
  ]
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length))) ?? []
  return `${rows
    .map((r, n) => {
      const line = r
        .map((cell, c) => cell.padEnd(widths[c] ?? 0))
        .join('  ')
        .trimEnd()
      return n === 0 ? style.bold(line) : line
    })
    .join('\n')}\n`
}
