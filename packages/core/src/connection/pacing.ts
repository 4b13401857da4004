/**
 * A connection's packet rate: a token bucket holding a second's worth of packets, filled at the
 * rate on the Clock. Each packet routed takes a token; one that finds none waits for it (the
 * reader paused meanwhile, which is backpressure to the peer).
 */
import type * as Clock from "effect/Clock"

export class PacketRate {
  private tokens: number
  /** Epoch millis (Clock) of the last fill. */
  private filledAt: number

  constructor(
    /** Packets per second, bursts up to a second's worth. */
    private readonly perSecond: number,
    private readonly clock: Clock.Clock
  ) {
    this.tokens = perSecond
    this.filledAt = clock.currentTimeMillisUnsafe()
  }

  /**
   * Takes a token for the next packet: `undefined` when there is one, else the milliseconds
   * until there is.
   */
  take(): number | undefined {
    const rate = this.perSecond
    const now = this.clock.currentTimeMillisUnsafe()
    if (now > this.filledAt) {
      this.tokens = Math.min(rate, this.tokens + ((now - this.filledAt) * rate) / 1000)
      this.filledAt = now
    }
    // the packet takes its token now, waiting (below zero) for it to be earned if need be
    this.tokens--
    if (this.tokens >= 0) return undefined
    return Math.max(1, Math.ceil((-this.tokens * 1000) / rate))
  }
}
