/** Failed sign-ins allowed per client address within the window. */
export const FAILED_SIGN_INS = 5
export const FAILED_SIGN_IN_WINDOW_MS = 60_000
/** Addresses remembered at once; past it the ones remembered first are forgotten, so memory stays bounded. */
const MAX_ADDRESSES = 10_000

/**
 * Limits guessing of admin tokens on the sign-in form: after `limit` failures from one address
 * within `windowMs`, that address is refused (even with a right token, or the refusal would
 * tell a right guess from a wrong one) until its oldest failure leaves the window. A success
 * forgets the address's failures. Kept in this collector's memory: each collector behind a load
 * balancer counts apart, which multiplies the limit by their number and no more.
 */
export class SignInThrottle {
  readonly #failures = new Map<string, number[]>()

  constructor(
    readonly limit = FAILED_SIGN_INS,
    readonly windowMs = FAILED_SIGN_IN_WINDOW_MS,
  ) {}

  /** How long this address must wait before it may try again, in ms; 0 when it may now. */
  waitMs(address: string, now: number): number {
    const recent = this.#recent(address, now)
    const oldest = recent[0]
    return recent.length >= this.limit && oldest !== undefined ? oldest + this.windowMs - now : 0
  }

  failed(address: string, now: number): void {
    const recent = [...this.#recent(address, now), now].slice(-this.limit)
    // Deleted first, so that the address moves to the end of the Map's order: the newest.
    this.#failures.delete(address)
    this.#failures.set(address, recent)
    for (const oldest of this.#failures.keys()) {
      if (this.#failures.size <= MAX_ADDRESSES) break
      this.#failures.delete(oldest)
    }
  }

  succeeded(address: string): void {
    this.#failures.delete(address)
  }

  #recent(address: string, now: number): number[] {
    return (this.#failures.get(address) ?? []).filter((at) => at > now - this.windowMs)
  }
}
