import { createTask, type ScheduledTask } from 'node-cron'
import { formatSpan } from '../../config/duration.js'
import type { WindowConfig } from '../../config/replacement.js'

const MINUTE = 60_000
/** How far ahead the next opening is looked for. */
const LOOKAHEAD_MS = 8 * 86_400_000

/**
 * Maintenance windows: a window is open when its cron start fired (in its time zone) within
 * `duration` before now. Cron starts are minutes, so the minutes of that span are matched
 * with node-cron's own matcher. No windows: always open.
 */
export class MaintenanceWindows {
  readonly #windows: { config: WindowConfig; matcher: ScheduledTask }[]

  constructor(windows: readonly WindowConfig[]) {
    // createTask parses and matches; the task is never started.
    this.#windows = windows.map((config) => ({
      config,
      matcher: createTask(config.start, () => {}, { timezone: config.timezone }),
    }))
  }

  get always(): boolean {
    return this.#windows.length === 0
  }

  /** The open window's end, or undefined when none is open now. */
  openUntil(now: Date): Date | undefined {
    if (this.always) return new Date(8.64e15)
    let until: number | undefined
    const minute = Math.floor(now.getTime() / MINUTE) * MINUTE
    for (const { config, matcher } of this.#windows) {
      // A start at minute m opens [m, m + duration): the latest start within that span counts.
      for (let start = minute; start > now.getTime() - config.duration; start -= MINUTE) {
        if (matcher.match(new Date(start))) {
          const end = start + config.duration
          if (end > now.getTime()) until = Math.max(until ?? 0, end)
          break
        }
      }
    }
    return until === undefined ? undefined : new Date(until)
  }

  /** When the next window opens (now when one is open), or undefined within the next 8 days. */
  nextOpening(now: Date): Date | undefined {
    if (this.openUntil(now) !== undefined) return now
    const first = Math.ceil(now.getTime() / MINUTE) * MINUTE
    for (let at = first; at <= now.getTime() + LOOKAHEAD_MS; at += MINUTE) {
      const date = new Date(at)
      if (this.#windows.some(({ matcher }) => matcher.match(date))) return date
    }
    return undefined
  }

  /** The windows in words, for reasons: "0 2 * * * (UTC) for 2h". */
  describe(): string {
    return this.#windows
      .map(({ config }) => `${config.start} (${config.timezone}) for ${formatSpan(config.duration)}`)
      .join(', ')
  }

  /** Releases node-cron's registry entries of the matchers. */
  close(): void {
    for (const { matcher } of this.#windows) void matcher.destroy()
  }
}
