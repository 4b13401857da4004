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
 *
 * Most mailboxes (a Response's) only ever hold one item, or hand it straight to a waiting take,
 * and thousands may be alive at once (a pipelining client's), each copied by every garbage
 * collection it lives through: so a mailbox holds its first item in a field of its own, makes
 * its arrays only for a second, and a waiting take is the fiber's own resume function, with no
 * `Deferred` in between.
 */
import * as Arr from "effect/Array"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type { ByteBudget } from "./budget.js"

// A take waiting for an item. Interrupting the take removes the waiter before anything can
// resume it (the interruption runs its cancel at once), so an item is either handed over (and
// the fiber runs on at once) or stays queued.
interface Waiter<A, E> {
  readonly match: (item: A) => boolean
  deliver(item: A): void
  fail(error: E): void
}

/** A waiting take: one object (methods, not closures), since one is made for every take that waits. */
class Waiting<A, E, B, E2> implements Waiter<A, E> {
  constructor(
    private readonly mailbox: Mailbox<A, E>,
    readonly match: (item: A) => boolean,
    private readonly resume: (effect: Effect.Effect<B, E2>) => void,
    private readonly delivered: (item: A) => Effect.Effect<B, E2>,
    private readonly failed: (error: E) => Effect.Effect<B, E2>,
    private readonly cancelled: (() => void) | undefined
  ) {}

  deliver(item: A): void {
    this.resume(this.delivered(item))
  }

  fail(error: E): void {
    this.resume(this.failed(error))
  }

  /** Runs if the take is interrupted while it waits. */
  get cancel(): Effect.Effect<void> {
    return Effect.sync(() => {
      // Still waiting: no item or end reached it (those resume the fiber, once).
      if (this.mailbox.unwait(this)) this.cancelled?.()
    })
  }
}

const all = () => true

// Shared by every mailbox until it needs arrays of its own.
const NONE: Array<never> = []

export class Mailbox<A, E> {
  /** The only item queued, while `hasOne`; the arrays hold none then. */
  private one: A | undefined = undefined
  private oneCost = 0
  private hasOne = false
  // Otherwise the queued items are buffer[head..]: taking the first moves `head` instead of
  // shifting the array, so a take costs the same however many items wait; the taken slots are
  // cut off now and then.
  private buffer: Array<A | undefined> = NONE
  private costs: Array<number> = NONE
  private head = 0
  private bytes = 0
  private waiters: Array<Waiter<A, E>> = NONE
  private spaceWaiters: Array<Deferred.Deferred<void>> = NONE
  private terminal: { readonly error: E } | undefined

  constructor(
    /** The most items queued before an offer waits (or, dropping, the oldest goes). */
    readonly capacity: number,
    /** What queued items count against, if anything. */
    private readonly budget?: ByteBudget | undefined
  ) {}

  /** Items queued now. */
  get size(): number {
    return this.hasOne ? 1 : this.buffer.length - this.head
  }

  private push(item: A, cost: number): void {
    this.bytes += cost
    this.budget?.take(cost)
    if (!this.hasOne && this.buffer.length === this.head) {
      this.one = item
      this.oneCost = cost
      this.hasOne = true
      return
    }
    if (this.buffer === NONE) {
      this.buffer = []
      this.costs = []
    }
    if (this.hasOne) {
      // a second item: both go into the arrays
      this.buffer.push(this.one)
      this.costs.push(this.oneCost)
      this.one = undefined
      this.hasOne = false
    }
    this.buffer.push(item)
    this.costs.push(cost)
  }

  /** Removes the item at `index` of the queue (0 is the oldest). */
  private remove(index: number): A {
    let item: A
    let cost: number
    if (this.hasOne) {
      item = this.one as A
      cost = this.oneCost
      this.one = undefined
      this.hasOne = false
    } else {
      const at = this.head + index
      item = this.buffer[at] as A
      cost = this.costs[at] ?? 0
      if (index === 0) {
        this.buffer[at] = undefined
        this.head++
        if (this.head === this.buffer.length) {
          // emptied: truncated in place, allocating nothing on a request's path
          this.buffer.length = 0
          this.costs.length = 0
          this.head = 0
        } else if (this.head >= 1024 && this.head * 2 >= this.buffer.length) {
          this.buffer = this.buffer.slice(this.head)
          this.costs = this.costs.slice(this.head)
          this.head = 0
        }
      } else {
        this.buffer.splice(at, 1)
        this.costs.splice(at, 1)
      }
    }
    this.bytes -= cost
    this.budget?.give(cost)
    return item
  }

  /** The index in the queue of the first item matching `match`, or -1. */
  private indexOf(match: (item: A) => boolean): number {
    if (this.hasOne) return match === all || match(this.one as A) ? 0 : -1
    const buffer = this.buffer
    if (match === all) return buffer.length > this.head ? 0 : -1
    for (let i = this.head; i < buffer.length; i++) {
      if (match(buffer[i] as A)) return i - this.head
    }
    return -1
  }

  /**
   * Delivers an item to the first waiter it matches, or queues it, returning `undefined`; when
   * the mailbox is full, returns an Effect that waits for room and then offers it. An ended
   * mailbox discards the item.
   */
  offerNow(item: A, cost = 0): Effect.Effect<void> | undefined {
    if (this.terminal !== undefined || this.deliver(item)) return undefined
    if (this.size < this.capacity) {
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
    if (this.size >= this.capacity) return false
    this.push(item, cost)
    return true
  }

  /** Completes once the mailbox has room (or has ended), offering nothing. */
  room(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.terminal !== undefined || this.size < this.capacity) return Effect.void
      const space = Deferred.makeUnsafe<void>()
      if (this.spaceWaiters === NONE) this.spaceWaiters = []
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
    while (this.size > this.capacity || (this.bytes > maxBytes && this.size > 1)) {
      this.remove(0)
      dropped++
    }
    return dropped
  }

  private deliver(item: A): boolean {
    const waiters = this.waiters
    for (let i = 0; i < waiters.length; i++) {
      const waiter = waiters[i] as Waiter<A, E>
      if (waiter.match(item)) {
        waiters.splice(i, 1)
        waiter.deliver(item)
        return true
      }
    }
    return false
  }

  /** The first queued item matching `match`, waiting for one; fails once the mailbox has ended and holds none. */
  take(match: (item: A) => boolean = all): Effect.Effect<A, E> {
    return this.takeAs(match, Effect.succeed)
  }

  /** {@link take}, the item given as `map` makes it: one Effect rather than a take and a flatMap. */
  takeAs<B, E2>(match: (item: A) => boolean, map: (item: A) => Effect.Effect<B, E2>): Effect.Effect<B, E | E2> {
    return Effect.suspend((): Effect.Effect<B, E | E2> => {
      const index = this.indexOf(match)
      if (index >= 0) {
        const item = this.remove(index)
        this.wakeOffer()
        return map(item)
      }
      if (this.terminal !== undefined) return Effect.fail(this.terminal.error)
      return this.wait<B, E | E2>(match, map, Effect.fail)
    })
  }

  /**
   * The first item as `map` makes it, waiting for one, then `after()`: once, whether the take
   * succeeds, fails (the mailbox has ended) or is interrupted. A request's one take, whose
   * Response is released with it, without an `ensuring` around it.
   */
  takeFirst<B, E2>(
    map: (item: A) => Effect.Effect<B, E2>,
    ended: (error: E) => Effect.Effect<B, E2>,
    after: () => void
  ): Effect.Effect<B, E2> {
    return Effect.suspend((): Effect.Effect<B, E2> => {
      if (this.size > 0) {
        const item = this.remove(0)
        this.wakeOffer()
        after()
        return map(item)
      }
      const terminal = this.terminal
      if (terminal !== undefined) {
        after()
        return ended(terminal.error)
      }
      return this.wait<B, E2>(
        all,
        (item) => {
          after()
          return map(item)
        },
        (error) => {
          after()
          return ended(error)
        },
        after
      )
    })
  }

  /**
   * Every queued item (at least one), waiting for one; once the mailbox has ended and is
   * empty, `ended` of its error. A Stream's pull, with no combinator around it.
   */
  pullAll<E2>(ended: (error: E) => Effect.Effect<never, E2>): Effect.Effect<readonly [A, ...Array<A>], E2> {
    return Effect.suspend((): Effect.Effect<readonly [A, ...Array<A>], E2> => {
      const items = this.drain()
      if (Arr.isArrayNonEmpty(items)) return Effect.succeed(items)
      if (this.terminal !== undefined) return ended(this.terminal.error)
      return this.wait(all, (item): Effect.Effect<readonly [A, ...Array<A>]> => Effect.succeed([item]), ended)
    })
  }

  /** Every queued item (at least one), waiting for one; fails once the mailbox has ended and is empty. */
  takeAll(): Effect.Effect<readonly [A, ...Array<A>], E> {
    return this.pullAll<E>(Effect.fail)
  }

  /**
   * Waits for an item: the fiber resumes with `delivered` of it, or `failed` of the error the
   * mailbox ends with; `cancelled` runs if the wait is interrupted first.
   */
  private wait<B, E2>(
    match: (item: A) => boolean,
    delivered: (item: A) => Effect.Effect<B, E2>,
    failed: (error: E) => Effect.Effect<B, E2>,
    cancelled?: () => void
  ): Effect.Effect<B, E2> {
    return Effect.callback<B, E2>((resume) => {
      const waiter = new Waiting(this, match, resume, delivered, failed, cancelled)
      if (this.waiters === NONE) this.waiters = []
      this.waiters.push(waiter)
      return waiter.cancel
    })
  }

  /** Stops waiting: `true` when the waiter was still waiting (no item or end reached it). */
  unwait(waiter: Waiter<A, E>): boolean {
    const index = this.waiters.indexOf(waiter)
    if (index < 0) return false
    this.waiters.splice(index, 1)
    return true
  }

  private wakeOffer() {
    while (this.spaceWaiters.length > 0 && this.size < this.capacity) {
      Deferred.doneUnsafe(this.spaceWaiters.shift() as Deferred.Deferred<void>, Effect.void)
    }
  }

  /** Takes every queued item now, without waiting. */
  drain(): Array<A> {
    let items: Array<A>
    if (this.hasOne) {
      items = [this.one as A]
      this.one = undefined
      this.hasOne = false
    } else {
      if (this.buffer.length === this.head) return []
      items = (this.head === 0 ? this.buffer : this.buffer.slice(this.head)) as Array<A>
      this.buffer = NONE
      this.costs = NONE
      this.head = 0
    }
    this.budget?.give(this.bytes)
    this.bytes = 0
    this.wakeOffer()
    return items
  }

  /** Ends the mailbox: waiting takes fail with `error`; queued items can still be taken. */
  end(error: E): void {
    if (this.terminal !== undefined) return
    this.terminal = { error }
    this.failWaiters(error)
    const spaceWaiters = this.spaceWaiters
    this.spaceWaiters = NONE
    for (const space of spaceWaiters) Deferred.doneUnsafe(space, Effect.void)
  }

  /** Ends the mailbox and discards what it holds: nobody will take it. */
  discard(error: E): void {
    this.end(error)
    this.drain()
  }

  /** Fails every waiting take with `error` without ending the mailbox. */
  failWaiters(error: E): void {
    const waiters = this.waiters
    if (waiters.length === 0) return
    this.waiters = NONE
    for (const waiter of waiters) waiter.fail(error)
  }
}

/** One Effect waiting for all of `waits` (offers that must wait), or `undefined` when there is nothing to wait for. */
export const allOf = (waits: Array<Effect.Effect<void>> | undefined): Effect.Effect<void> | undefined =>
  waits === undefined ? undefined : waits.length === 1 ? waits[0] : Effect.all(waits, { discard: true })
