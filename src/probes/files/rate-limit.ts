// A limit on the bytes per second the walk's workers read to hash, for hosts whose disks must
// not be kept busy by an audit (agent.yaml: scan.hashBytesPerSecond). One token bucket shared
// by every worker thread, in shared memory.

/** The bucket as it crosses to the workers: its shared state and its rate. */
export interface SharedByteLimit {
  state: SharedArrayBuffer
  bytesPerSecond: number
}

/** A clock in microseconds that every thread of the process reads alike, and a way to wait. */
export interface LimitClock {
  nowMicros(): number
  sleepMs(ms: number): void
}

// Atomics.wait on a word nobody wakes: a worker thread sleeps without spinning.
const sleeper = new Int32Array(new SharedArrayBuffer(4))
const realClock: LimitClock = {
  nowMicros: () => Math.round((performance.timeOrigin + performance.now()) * 1000),
  sleepMs: (ms) => {
    Atomics.wait(sleeper, 0, 0, ms)
  },
}

/** A bucket of `bytesPerSecond` tokens a second, full at first, to be shared with `ByteRateLimit`. */
export function sharedByteLimit(bytesPerSecond: number): SharedByteLimit {
  return { state: new SharedArrayBuffer(8), bytesPerSecond }
}

/**
 * The token bucket: it holds at most a second's worth of bytes and fills at `bytesPerSecond`.
 * Bytes are paid for once read (a hash call says how many it read only when it is done), so a
 * file larger than the bucket is read at disk speed and the thread that read it then waits
 * until the bucket has made up for it: over any stretch longer than that file, the rate holds.
 *
 * Kept as one number, the time at which the bucket will be full again (the generic cell rate
 * algorithm's form of a token bucket), so that threads update it with one compare-and-swap.
 */
export class ByteRateLimit {
  readonly #fullAt: BigInt64Array
  readonly #microsPerByte: number
  readonly #capacityMicros: number
  readonly #clock: LimitClock

  constructor(shared: SharedByteLimit, clock: LimitClock = realClock) {
    if (!(shared.bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be positive')
    this.#fullAt = new BigInt64Array(shared.state)
    this.#microsPerByte = 1_000_000 / shared.bytesPerSecond
    this.#capacityMicros = 1_000_000
    this.#clock = clock
  }

  /**
   * Takes `bytes` from the bucket and returns how many milliseconds the caller must wait
   * before it reads more (0 while the bucket is not empty).
   */
  take(bytes: number): number {
    if (bytes <= 0) return 0
    const cost = BigInt(Math.ceil(bytes * this.#microsPerByte))
    for (;;) {
      const now = BigInt(this.#clock.nowMicros())
      const seen = Atomics.load(this.#fullAt, 0)
      // A bucket full since long ago is full now, not fuller.
      const next = (seen > now ? seen : now) + cost
      if (Atomics.compareExchange(this.#fullAt, 0, seen, next) !== seen) continue
      // Empty once the bucket is due full more than its capacity from now.
      const debt = Number(next - now) - this.#capacityMicros
      return debt > 0 ? Math.ceil(debt / 1000) : 0
    }
  }

  /** Takes `bytes`, and waits as long as the bucket says; returns the milliseconds waited. */
  pay(bytes: number): number {
    const wait = this.take(bytes)
    if (wait > 0) this.#clock.sleepMs(wait)
    return wait
  }
}
