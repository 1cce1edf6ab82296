import type { ImageView } from '../protocol/api.js'
import { displayText } from '../util/display.js'
import type { Style } from './output.js'

/** `fleet image register` for people: what the collector now holds hosts of that image to. */
export function renderImageRegistered(image: ImageView, created: boolean, style: Style): string {
  const signed = image.signedBy ? `signed by key ${displayText(image.signedBy)}` : style.dim('unsigned')
  return `${created ? 'registered' : 'updated'} ${style.bold(displayText(`${image.id}@${image.version}`))}\n  digest  ${displayText(image.manifestDigest)}\n  ${signed}\n`
}

/** `fleet images` for people: one row per registered image version. */
export function renderImages(images: readonly ImageView[], style: Style): string {
  if (images.length === 0) return `${style.dim('no images registered')}\n`
  const rows = [
    ['IMAGE', 'DIGEST', 'SIGNED BY', 'REGISTERED'],
    ...images.map((i) => [
      displayText(`${i.id}@${i.version}`),
      displayText(i.manifestDigest.slice(0, 19)),
      displayText(i.signedBy ?? '-'),
      displayText(i.registeredAt),
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
