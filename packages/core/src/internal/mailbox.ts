/**
 * A bounded, selective mailbox: the routing primitive of connections.
 *
 * `take` can wait for the first item matching a predicate while other items stay queued, which
 * `Queue` cannot do. An offer that finds the mailbox full returns an Effect that waits for room,
 * so a slow reader slows the socket reader instead of growing memory or dropping items.
 *
 * Items may carry a cost in bytes (an estimate of the memory they hold): queued items count
 * against the mailbox's `ByteBudget` until they are taken, so that what a connection holds is
 * bounded in bytes, not only in items.
 */
import * as Arr from "effect/Array"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type { ByteBudget } from "./budget.js"

interface Waiter<A, E> {
  readonly match: (item: A) => boolean
  readonly deferred: Deferred.Deferred<A, E>
  delivered: boolean
  item: A | undefined
}

const all = () => true

export class Mailbox<A, E> {
  private buffer: Array<A> = []
  private costs: Array<number> = []
  private bytes = 0
  private waiters: Array<Waiter<A, E>> = []
  private spaceWaiters: Array<Deferred.Deferred<void>> = []
  private terminal: { readonly error: E } | undefined

  constructor(
    /** The most items queued before an offer waits (or, dropping, the oldest goes). */
    readonly capacity: number,
    /** What queued items count against, if anything. */
    private readonly budget?: ByteBudget | undefined
  ) {}

  /** Items queued now. */
  get size(): number {
    return this.buffer.length
  }

  private push(item: A, cost: number): void {
    this.buffer.push(item)
    this.costs.push(cost)
    this.bytes += cost
    this.budget?.take(cost)
  }

  private remove(index: number): A {
    const [item] = this.buffer.splice(index, 1) as [A]
    const [cost] = this.costs.splice(index, 1) as [number]
    this.bytes -= cost
    this.budget?.give(cost)
    return item
  }

  /**
   * Delivers an item to the first waiter it matches, or queues it, returning `undefined`; when
   * the mailbox is full, returns an Effect that waits for room and then offers it. An ended
   * mailbox discards the item.
   */
  offerNow(item: A, cost = 0): Effect.Effect<void> | undefined {
    if (this.terminal !== undefined || this.deliver(item)) return undefined
    if (this.buffer.length < this.capacity) {
      this.push(item, cost)
      return undefined
    }
    return Effect.andThen(
      this.room(),
      Effect.suspend(() => this.offerNow(item, cost) ?? Effect.void)
    )
  }

  /**
   * Delivers or queues an item if it can now: `true` when it was delivered, queued or discarded
   * (the mailbox has ended), `false` when the mailbox is full.
   */
  tryOffer(item: A, cost = 0): boolean {
    if (this.terminal !== undefined || this.deliver(item)) return true
    if (this.buffer.length >= this.capacity) return false
    this.push(item, cost)
    return true
  }

  /** Completes once the mailbox has room (or has ended), offering nothing. */
  room(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.terminal !== undefined || this.buffer.length < this.capacity) return Effect.void
      const space = Deferred.makeUnsafe<void>()
      this.spaceWaiters.push(space)
      return Deferred.await(space)
    })
  }

  /**
   * Delivers or queues an item without waiting. Then, while more than `capacity` items or more
   * than `maxBytes` of cost are queued, drops the oldest (the newest always stays). Returns how
   * many were dropped.
   */
  offerDroppingOldest(item: A, cost: number, maxBytes: number): number {
    if (this.terminal !== undefined || this.deliver(item)) return 0
    this.push(item, cost)
    let dropped = 0
    while (this.buffer.length > this.capacity || (this.bytes > maxBytes && this.buffer.length > 1)) {
      this.remove(0)
      dropped++
    }
    return dropped
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
        const item = this.remove(index)
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
            if (waiter.delivered) {
              this.buffer.unshift(waiter.item as A)
              this.costs.unshift(0)
            } else this.waiters = this.waiters.filter((w) => w !== waiter)
          })
        )
      )
    })
  }

  /** Every queued item (at least one), waiting for one; fails once the mailbox has ended and is empty. */
  takeAll(): Effect.Effect<readonly [A, ...Array<A>], E> {
    return Effect.suspend(() => {
      const items = this.drain()
      if (Arr.isArrayNonEmpty(items)) return Effect.succeed(items)
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
    if (items.length === 0) return []
    this.buffer = []
    this.costs = []
    this.budget?.give(this.bytes)
    this.bytes = 0
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

  /** Ends the mailbox and discards what it holds: nobody will take it. */
  discard(error: E): void {
    this.end(error)
    this.drain()
  }

  /** Fails every waiting take with `error` without ending the mailbox. */
  failWaiters(error: E): void {
    for (const waiter of this.waiters) Deferred.doneUnsafe(waiter.deferred, Effect.fail(error))
    this.waiters = []
  }
}
