/**
 * A bounded, selective mailbox: the routing primitive of connections.
 *
 * `take` can wait for the first item matching a predicate while other items stay queued, which
 * `Queue` cannot do; `offer` waits while the mailbox is full, so a slow reader slows the socket
 * reader instead of growing memory or dropping items.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"

interface Waiter<A, E> {
  readonly match: (item: A) => boolean
  readonly deferred: Deferred.Deferred<A, E>
  delivered: boolean
  item: A | undefined
}

const all = () => true

export class Mailbox<A, E> {
  private buffer: Array<A> = []
  private waiters: Array<Waiter<A, E>> = []
  private spaceWaiters: Array<Deferred.Deferred<void>> = []
  private terminal: { readonly error: E } | undefined

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.buffer.length
  }

  get isDone(): boolean {
    return this.terminal !== undefined
  }

  /**
   * Delivers an item to the first waiter it matches, or queues it; waits while the mailbox is
   * full. Returns `false` when the mailbox has ended (the item is discarded: nobody can take it).
   */
  offer(item: A): Effect.Effect<boolean> {
    return Effect.suspend(() => {
      if (this.terminal !== undefined) return Effect.succeed(false)
      if (this.deliver(item)) return Effect.succeed(true)
      if (this.buffer.length < this.capacity) {
        this.buffer.push(item)
        return Effect.succeed(true)
      }
      const space = Deferred.makeUnsafe<void>()
      this.spaceWaiters.push(space)
      return Effect.andThen(Deferred.await(space), this.offer(item))
    })
  }

  /**
   * Delivers or queues an item without waiting; when the mailbox is full, drops the oldest
   * queued item to make room and returns it.
   */
  offerDroppingOldest(item: A): A | undefined {
    if (this.terminal !== undefined || this.deliver(item)) return undefined
    this.buffer.push(item)
    return this.buffer.length > this.capacity ? this.buffer.shift() : undefined
  }

  /**
   * Delivers or queues an item now, returning `undefined`; when the mailbox is full, returns
   * an Effect that waits for room and then offers it. An ended mailbox discards the item.
   */
  offerNow(item: A): Effect.Effect<void> | undefined {
    if (this.terminal !== undefined || this.deliver(item)) return undefined
    if (this.buffer.length < this.capacity) {
      this.buffer.push(item)
      return undefined
    }
    const space = Deferred.makeUnsafe<void>()
    this.spaceWaiters.push(space)
    return Effect.andThen(
      Deferred.await(space),
      Effect.suspend(() => this.offerNow(item) ?? Effect.void)
    )
  }

  /** Like {@link offer}, without waiting: queues beyond the capacity if it must. */
  offerUnsafe(item: A): void {
    if (this.terminal !== undefined) return
    if (!this.deliver(item)) this.buffer.push(item)
  }

  private deliver(item: A): boolean {
    for (let i = 0; i < this.waiters.length; i++) {
      const waiter = this.waiters[i] as Waiter<A, E>
      if (waiter.match(item)) {
        this.waiters.splice(i, 1)
        waiter.delivered = true
        waiter.item = item
        Deferred.doneUnsafe(waiter.deferred, Effect.succeed(item))
        return true
      }
    }
    return false
  }

  /** The first queued item matching `match`, waiting for one; fails once the mailbox has ended and holds none. */
  take(match: (item: A) => boolean = all): Effect.Effect<A, E> {
    return Effect.suspend(() => {
      const index = match === all ? (this.buffer.length > 0 ? 0 : -1) : this.buffer.findIndex(match)
      if (index >= 0) {
        const [item] = this.buffer.splice(index, 1) as [A]
        this.wakeOffer()
        return Effect.succeed(item)
      }
      if (this.terminal !== undefined) return Effect.fail(this.terminal.error)
      const waiter: Waiter<A, E> = { match, deferred: Deferred.makeUnsafe<A, E>(), delivered: false, item: undefined }
      this.waiters.push(waiter)
      return Deferred.await(waiter.deferred).pipe(
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            // An item handed over at the moment of interruption goes back, so none is lost.
            if (waiter.delivered) this.buffer.unshift(waiter.item as A)
            else this.waiters = this.waiters.filter((w) => w !== waiter)
          })
        )
      )
    })
  }

  /** Every queued item (at least one), waiting for one; fails once the mailbox has ended and is empty. */
  takeAll(): Effect.Effect<readonly [A, ...Array<A>], E> {
    return Effect.suspend(() => {
      if (this.buffer.length > 0) {
        const items = this.buffer as unknown as readonly [A, ...Array<A>]
        this.buffer = []
        this.wakeOffer()
        return Effect.succeed(items)
      }
      return Effect.map(this.take(), (item): readonly [A, ...Array<A>] => [item])
    })
  }

  private wakeOffer() {
    while (this.spaceWaiters.length > 0 && this.buffer.length < this.capacity) {
      Deferred.doneUnsafe(this.spaceWaiters.shift() as Deferred.Deferred<void>, Effect.void)
    }
  }

  /** Takes every queued item now, without waiting. */
  drain(): Array<A> {
    const items = this.buffer
    this.buffer = []
    this.wakeOffer()
    return items
  }

  /** Ends the mailbox: waiting takes fail with `error`; queued items can still be taken. */
  end(error: E): void {
    if (this.terminal !== undefined) return
    this.terminal = { error }
    for (const waiter of this.waiters) Deferred.doneUnsafe(waiter.deferred, Effect.fail(error))
    this.waiters = []
    for (const space of this.spaceWaiters) Deferred.doneUnsafe(space, Effect.void)
    this.spaceWaiters = []
  }

  /** Fails every waiting take with `error` without ending the mailbox. */
  failWaiters(error: E): void {
    for (const waiter of this.waiters) Deferred.doneUnsafe(waiter.deferred, Effect.fail(error))
    this.waiters = []
  }

  get hasWaiters(): boolean {
    return this.waiters.length > 0
  }
}
