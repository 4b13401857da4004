/**
 * A memory budget in bytes: what a connection (or a whole server) holds, counted as it is taken
 * and given back, and a way to wait until there is room. A connection's budget may have a
 * parent (its server's total), which every byte also counts against.
 *
 * Counting is synchronous and costs nothing on the hot path beyond two additions; only a
 * reader that finds the budget full waits, which is backpressure to the peer.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"

export class ByteBudget {
  private held = 0
  private waiting: Array<Deferred.Deferred<void>> = []

  constructor(
    /** The bytes held beyond which {@link full} is true. */
    readonly limit: number,
    /** A budget every byte of this one also counts against (a server's total). */
    readonly parent?: ByteBudget | undefined
  ) {}

  /** Bytes held now. */
  get used(): number {
    return this.held
  }

  /** Whether this budget, or its parent, holds its limit or more. */
  get full(): boolean {
    return this.held >= this.limit || this.parent?.full === true
  }

  /** Counts `bytes` as held. Never waits: callers check {@link full} before taking more. */
  take(bytes: number): void {
    this.held += bytes
    this.parent?.take(bytes)
  }

  /** Gives back `bytes`, waking those waiting for room. */
  give(bytes: number): void {
    if (bytes === 0) return
    this.held -= bytes
    this.parent?.give(bytes)
    if (this.waiting.length > 0 && this.held < this.limit) this.wake()
  }

  private wake(): void {
    const waiting = this.waiting
    this.waiting = []
    for (const room of waiting) Deferred.doneUnsafe(room, Effect.void)
  }

  /** Completes once neither this budget nor its parent is full. */
  readonly room: Effect.Effect<void> = Effect.suspend(() => {
    if (!this.full) return Effect.void
    const room = Deferred.makeUnsafe<void>()
    if (this.held >= this.limit) this.waiting.push(room)
    else this.parent?.waiting.push(room)
    return Effect.andThen(Deferred.await(room), this.room)
  })
}
