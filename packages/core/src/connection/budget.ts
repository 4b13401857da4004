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
  /** Waiting for the budget to be below its limit. */
  private waiting: Array<Deferred.Deferred<void>> = []
  /** Waiting to acquire a number of bytes. */
  private acquiring: Array<{ readonly bytes: number; readonly room: Deferred.Deferred<void> }> = []

  /** Whether {@link detach} has given this budget's bytes back to the parent. */
  private detached = false

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
    if (!this.detached) this.parent?.take(bytes)
  }

  /** Gives back `bytes`, waking those waiting for room. */
  give(bytes: number): void {
    if (bytes === 0) return
    this.held -= bytes
    if (!this.detached) this.parent?.give(bytes)
    if (this.waiting.length > 0 && this.held < this.limit) this.wake()
    if (this.acquiring.length > 0) this.wakeAcquiring()
  }

  private wake(): void {
    const waiting = this.waiting
    this.waiting = []
    for (const room of waiting) Deferred.doneUnsafe(room, Effect.void)
  }

  /** Wakes those waiting to acquire that fit now; they check again, with the parent. */
  private wakeAcquiring(): void {
    const still: Array<{ readonly bytes: number; readonly room: Deferred.Deferred<void> }> = []
    for (const waiter of this.acquiring) {
      if (this.fits(waiter.bytes)) Deferred.doneUnsafe(waiter.room, Effect.void)
      else still.push(waiter)
    }
    this.acquiring = still
  }

  /** Whether {@link acquire} would take `bytes` at once, here and in the parent. */
  fitsNow(bytes: number): boolean {
    return this.fits(bytes) && (this.parent === undefined || this.parent.fits(bytes))
  }

  /** Whether `bytes` more fit: within the limit, or alone (nothing is held). */
  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limit
  }

  /**
   * Waits until `bytes` more fit in this budget and in its parent (within the limit, or alone
   * where nothing is held, so that one item larger than the limit still goes), then takes them.
   * Give them back with {@link give}.
   */
  acquire(bytes: number): Effect.Effect<void> {
    return Effect.suspend(() => {
      const parent = this.parent
      if (this.fits(bytes) && (parent === undefined || parent.fits(bytes))) {
        this.take(bytes)
        return Effect.void
      }
      const waiter = { bytes, room: Deferred.makeUnsafe<void>() }
      const budget: ByteBudget = !this.fits(bytes) || parent === undefined ? this : parent
      budget.acquiring.push(waiter)
      return Deferred.await(waiter.room).pipe(
        // an interrupted wait leaves no waiter behind (a server's total outlives its connections)
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            budget.acquiring = budget.acquiring.filter((other) => other !== waiter)
          })
        ),
        Effect.andThen(this.acquire(bytes))
      )
    })
  }

  /**
   * The connection is gone: whatever it still holds (a packet half received, fields nobody
   * took) is given back to the parent at once, and later gives stay here, so a server's total
   * never keeps the bytes of a closed connection.
   */
  detach(): void {
    if (this.detached) return
    this.detached = true
    this.parent?.give(this.held)
  }

  /** Completes once neither this budget nor its parent is full. */
  readonly room: Effect.Effect<void> = Effect.suspend(() => {
    if (!this.full) return Effect.void
    const room = Deferred.makeUnsafe<void>()
    const budget: ByteBudget = this.held >= this.limit || this.parent === undefined ? this : this.parent
    budget.waiting.push(room)
    return Deferred.await(room).pipe(
      // as in acquire: an interrupted wait leaves no waiter in a total that outlives it
      Effect.onInterrupt(() =>
        Effect.sync(() => {
          budget.waiting = budget.waiting.filter((other) => other !== room)
        })
      ),
      Effect.andThen(this.room)
    )
  })
}
