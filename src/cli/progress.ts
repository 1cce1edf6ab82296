import type { WalkProgress } from '../probes/files/walk.js'
import { formatBytes, formatCount } from './output.js'

/**
 * Progress on stderr (files, bytes, rate), redrawn at most ten times a second, only when
 * stderr is a terminal and the output is for people: never in pipes, logs or JSON mode.
 */
export function progressReporter(
  enabled: boolean,
): { update: (p: WalkProgress) => void; done: () => void } | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined
  const started = performance.now()
  let last = 0
  let shown = false
  return {
    update(p) {
      const now = performance.now()
      if (now - last < 100) return
      last = now
      const seconds = (now - started) / 1000
      const rate = seconds > 0 ? formatBytes(p.bytesHashed / seconds) : '0 B'
      process.stderr.write(
        `\r\u001b[K  ${formatCount(p.files)} files  ${formatBytes(p.bytesHashed)} hashed  ${rate}/s`,
      )
      shown = true
    },
    done() {
      if (shown) process.stderr.write('\r\u001b[K')
    },
  }
}
