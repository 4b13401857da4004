/**
 * The connection's writer: a queue of outgoing bytes handed to the link (the socket) without a
 * fiber. The first write of a burst goes to the socket at once, on the writer's stack, and
 * ends the burst in a microtask: what else is written in the same synchronous run (a
 * pipelining fiber's sends, a handler's replies to one packet) goes to the socket in one batch,
 * one system call, when the burst ends, before the event loop turns. So a request/reply
 * exchange waits for nothing, and a fiber sending many packets in a row pays one system call
 * for most of them.
 *
 * The queue is bounded in bytes: a writer waits while the bytes queued exceed the limit (one
 * write always goes through on an empty queue, however large), or while the server's total is
 * full. What is outstanding, queued or in the socket's hands until the socket has passed it on,
 * counts against a byte budget (with a server's total as its parent), and {@link Outbox.reserve}
 * lets a handler wait for room in that budget before it even generates a reply: so a slow
 * reader of large replies holds one of them. A writer whose write would wait whatever its size
 * waits before encoding ({@link Outbox.full}, {@link Outbox.room}), so a large reply is not
 * encoded ahead only to be held.
 *
 * Bytes go to the socket in slices of at most {@link SLICE_BYTES}; while the socket holds
 * bytes it has not passed on, the next slice waits for it to drain, and `writingSince` is when
 * it started holding them: so a peer that reads slowly but steadily is told from one that
 * stopped reading, however large the reply.
 */
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { ConnectionClosed, ConnectionDefect, type ConnectionError, type NetworkError } from "../ConnectionError.js"
import { ByteBudget } from "./budget.js"
import type { Link } from "./link.js"
import type { Telemetry } from "./telemetry.js"

/**
 * The most bytes handed to the socket in one write: a peer that takes a slice within the stall
 * timeout is making progress. 256 KiB in 60 s is 4.4 kB/s.
 */
export const SLICE_BYTES = 256 * 1024

/** What the writer needs to know of the connection it writes for. */
export interface Peer {
  readonly remote: string
  readonly ended: ConnectionError | undefined
  readonly annotations: Record<string, string>
}

type WriteError = NetworkError | ConnectionClosed | ConnectionDefect

export class Outbox {
  /** Epoch millis (Clock) of the last bytes queued. */
  lastSent = 0
  /** Epoch millis (Clock) since which the socket holds bytes it has not passed on, or `undefined`. */
  writingSince: number | undefined
  private chunks: Array<Uint8Array> = []
  /** Bytes queued, not yet handed to the link. */
  private heldBytes = 0
  /** Bytes handed to the link that it may not have passed on yet: outstanding until it drains. */
  private inLink = 0
  /** A burst of writes is under way: its first went out, the rest wait for its end (a microtask). */
  private burst = false
  /** The link holds bytes it has not passed on: the next slice waits for it to drain. */
  private linkFull = false
  /** Writers waiting for room. */
  private waiting: Array<Deferred.Deferred<void>> = []
  /** Waiting for everything queued to be handed on and the link drained (closing). */
  private settleWaiters: Array<() => void> = []
  private failure: NetworkError | ConnectionDefect | undefined
  private closing = false
  /** Called once, when the writer breaks. */
  private brokenListener: ((error: ConnectionError) => void) | undefined

  /** What is outstanding: queued, or handed to the socket and not yet passed on by it. */
  readonly outstanding: ByteBudget

  constructor(
    private readonly peer: Peer,
    private readonly link: Link,
    private readonly clock: Clock.Clock,
    /** The most bytes held before writers wait. */
    private readonly limitBytes: number,
    /** A budget every outstanding byte also counts against: a server's total. */
    total: ByteBudget | undefined,
    private readonly telemetry: Telemetry,
    /** Runs an Effect in a fiber of the connection's scope (the log line of a writer's defect). */
    private readonly spawn: (effect: Effect.Effect<void>) => void
  ) {
    this.outstanding = new ByteBudget(limitBytes, total)
  }

  /**
   * Counts `bytes` as outstanding for the life of the current scope, once they fit (see
   * `ByteBudget.acquire`): a handler reserves a reply's size before it generates the reply, so
   * replies are made only as fast as the socket drains.
   */
  reserve(bytes: number): Effect.Effect<void, never, Scope.Scope> {
    const outstanding = this.outstanding
    const acquire = Effect.suspend(() => {
      if (!outstanding.fitsNow(bytes)) this.telemetry.budgetWait("reserve")
      return outstanding.acquire(bytes)
    })
    // interruptible: a handler waiting for a client that never reads must not hold up a shutdown
    return Effect.acquireRelease(acquire, () => Effect.sync(() => outstanding.give(bytes)), { interruptible: true })
  }

  /**
   * Queues bytes (the CONNECT tunnel's text, or an encoded packet) for the link. Waits while
   * the queue holds more than its limit; fails once a write has failed or the connection has
   * ended.
   */
  write(bytes: Uint8Array): Effect.Effect<void, WriteError> {
    return Effect.suspend(() => this.offerNow(bytes) ?? Effect.void)
  }

  /**
   * Queues bytes now: `undefined` when they are queued, an Effect when the writer must wait
   * first, or for the failure. `now`: the Clock's time, when the caller has just read it (a
   * packet's timestamp).
   */
  offerNow(bytes: Uint8Array, now?: number): Effect.Effect<void, WriteError> | undefined {
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.peer.ended !== undefined || this.closing) {
      return Effect.fail(new ConnectionClosed({ detail: "the connection is closed", remote: this.peer.remote }))
    }
    if (this.mustWait(bytes.length)) {
      this.telemetry.budgetWait("write")
      const room = Deferred.makeUnsafe<void>()
      this.waiting.push(room)
      return Effect.andThen(Deferred.await(room), this.write(bytes))
    }
    this.chunks.push(bytes)
    this.heldBytes += bytes.length
    this.outstanding.take(bytes.length)
    this.lastSent = now ?? this.clock.currentTimeMillisUnsafe()
    if (!this.burst && !this.linkFull) {
      // The first write of a burst goes out at once, on the writer's stack: a request waits
      // for nothing. The rest of the burst (what is written before the microtask runs) goes
      // in one batch. A microtask, not a fiber: the end of a burst is plain code, no Effect to
      // interrupt, and it cannot throw (a failing write is caught in `handOn` and ends the
      // connection), so nothing escapes it.
      this.burst = true
      queueMicrotask(this.endBurst)
      this.flush()
    }
    return undefined
  }

  /** Whether `bytes` more must wait: the queue holds bytes and would pass its limit, or the server's total is full. */
  private mustWait(bytes: number): boolean {
    return this.heldBytes > 0 && (this.heldBytes + bytes > this.limitBytes || this.outstanding.parent?.full === true)
  }

  /**
   * Queues bytes only if that needs no waiting; otherwise counts them as sent (bytes are queued
   * already, and the peer gets them as soon as it reads), so that a keep-alive never waits.
   */
  offerUnlessFull(bytes: Uint8Array): Effect.Effect<void, WriteError> {
    if (this.failure === undefined && this.mustWait(bytes.length)) {
      this.lastSent = this.clock.currentTimeMillisUnsafe()
      return Effect.void
    }
    return this.offerNow(bytes) ?? Effect.void
  }

  /**
   * Whether any write now would wait, whatever its size: the queue already holds its limit, or
   * the server's total is full. A writer then waits for {@link room} before encoding its packet,
   * so that a large packet is not encoded and held (its memory with it) only to wait: a server
   * streaming 1 MiB replies holds one reply in the socket and one queued, not a third encoded
   * ahead.
   */
  get full(): boolean {
    return (
      this.failure === undefined &&
      !this.closing &&
      this.heldBytes > 0 &&
      (this.heldBytes >= this.limitBytes || this.outstanding.parent?.full === true)
    )
  }

  /** Completes once {@link full} is not (or the writer has failed or closed). */
  readonly room: Effect.Effect<void> = Effect.suspend(() => {
    if (!this.full) return Effect.void
    const room = Deferred.makeUnsafe<void>()
    this.waiting.push(room)
    return Effect.andThen(Deferred.await(room), this.room)
  })

  /** The end of a burst: what was written during it goes in one batch. */
  private readonly endBurst = (): void => {
    this.burst = false
    this.flush()
  }

  /**
   * Hands what is queued to the link, a slice at a time, for as long as the link passes it on
   * at once; stops while the link holds bytes (until it drains).
   */
  private flush(): void {
    while (!this.linkFull && this.failure === undefined && this.chunks.length > 0) {
      const bytes = this.handOn()
      if (bytes === undefined) return
      this.wakeWriters()
      if (this.link.pendingBytes() > 0) {
        this.linkFull = true
        this.writingSince = this.clock.currentTimeMillisUnsafe()
        // linkFull was false: nobody watches for the drain yet
        this.link.whenDrained(this.drained)
      } else this.passedOn()
    }
    this.settle()
  }

  /** Hands the link the next slice: queued chunks together up to a slice, or a large chunk's next slice. */
  private handOn(): number | undefined {
    let batch = this.chunks
    let bytes = this.heldBytes
    if (bytes <= SLICE_BYTES) {
      // the usual case: everything queued, in one write
      this.chunks = []
    } else {
      bytes = 0
      let taken = 0
      while (taken < batch.length && bytes + (batch[taken] as Uint8Array).length <= SLICE_BYTES) {
        bytes += (batch[taken] as Uint8Array).length
        taken++
      }
      if (taken === 0) {
        const large = batch[0] as Uint8Array
        bytes = SLICE_BYTES
        this.chunks[0] = large.subarray(SLICE_BYTES)
        batch = [large.subarray(0, SLICE_BYTES)]
      } else {
        this.chunks = batch.slice(taken)
        batch = batch.slice(0, taken)
      }
    }
    this.heldBytes -= bytes
    this.inLink += bytes
    try {
      this.link.write(batch as [Uint8Array, ...Array<Uint8Array>])
    } catch (cause) {
      this.writerDefect(cause)
      return undefined
    }
    return bytes
  }

  /** The link has passed on what it was given: no longer outstanding. */
  private passedOn(): void {
    const bytes = this.inLink
    if (bytes === 0) return
    this.inLink = 0
    this.outstanding.give(bytes)
    this.telemetry.sent(bytes)
  }

  /** The link has passed on everything it held: the next slice may go. */
  private readonly drained = (): void => {
    this.linkFull = false
    this.writingSince = undefined
    this.passedOn()
    // Within a burst, its end writes the batch.
    if (this.chunks.length > 0 && !this.burst) this.flush()
    else this.settle()
  }

  /** Whether everything queued has been handed on and the link holds nothing. */
  private get settled(): boolean {
    return this.chunks.length === 0 && (this.failure !== undefined || this.link.pendingBytes() === 0)
  }

  private settle(): void {
    if (this.settleWaiters.length === 0 || !this.settled) return
    const waiters = this.settleWaiters
    this.settleWaiters = []
    for (const f of waiters) f()
  }

  /** Completes once everything queued has been handed to the link and the link has passed it on. */
  readonly flushed: Effect.Effect<void> = Effect.callback<void>((resume) => {
    if (this.settled) return resume(Effect.void)
    this.settleWaiters.push(() => resume(Effect.void))
    // closing flushes at once rather than at the end of the burst
    this.flush()
  })

  // --- the writer's end ---

  /**
   * Calls `f` with the error the writer broke with (a failed write, or a defect in the link's
   * writer), once; at once if it has broken already. The connection ends with that error, the
   * same one later writes fail with, so that it ends with the error its users see.
   */
  onBroken(f: (error: ConnectionError) => void): void {
    if (this.failure !== undefined) f(this.failure)
    else this.brokenListener = f
  }

  /** Fails later writes with `error` (the first one given), and every writer waiting now. */
  breakWith(error: NetworkError | ConnectionDefect): void {
    if (this.failure !== undefined) return
    this.failure = error
    // nothing queued or in the link's hands will be passed on: no longer outstanding
    this.release()
    this.wakeWriters()
    const waiters = this.settleWaiters
    this.settleWaiters = []
    for (const f of waiters) f()
    const listener = this.brokenListener
    this.brokenListener = undefined
    listener?.(error)
  }

  /** Handing bytes to the link failed unexpectedly: the writer breaks with a `ConnectionDefect`, logged once. */
  writerDefect(cause: unknown, full?: unknown): void {
    if (this.failure !== undefined) return
    const error = new ConnectionDefect({
      detail: "the connection's writer failed unexpectedly",
      remote: this.peer.remote,
      cause
    })
    this.spawn(
      Effect.logError(error.detail, full ?? cause).pipe(
        Effect.annotateLogs({ ...this.peer.annotations, ncp: "ConnectionDefect" })
      )
    )
    this.breakWith(error)
  }

  /** Gives back what is queued or in the link's hands: it will not be passed on. */
  private release(): void {
    this.chunks = []
    const bytes = this.heldBytes + this.inLink
    this.heldBytes = 0
    this.inLink = 0
    this.outstanding.give(bytes)
  }

  private wakeWriters(): void {
    // Woken writers check the room again: the first ones fill it, the rest wait once more.
    const waiting = this.waiting
    if (waiting.length === 0) return
    this.waiting = []
    for (const room of waiting) Deferred.doneUnsafe(room, Effect.void)
  }

  // --- closing ---

  /**
   * Takes no more bytes; what is queued is still written. Writers still waiting for room fail
   * with `ConnectionClosed`.
   */
  close(): void {
    this.closing = true
    this.wakeWriters()
  }

  /** The connection is gone: what it still counted is given back (to the server's total too). */
  finish(): void {
    this.closing = true
    this.release()
    this.wakeWriters()
  }

  /** Whether closing drops what is still queued and aborts the socket, rather than flush first. */
  get aborting(): boolean {
    return this.abortRequested
  }

  /**
   * Makes closing abort the socket at once, and cuts short a close already flushing: for a
   * server whose shutdown grace has run out.
   */
  abortNow(): void {
    this.abortRequested = true
    Deferred.doneUnsafe(this.abortSignal, Effect.void)
  }

  private abortRequested = false
  /** Completes when {@link abortNow} is called. */
  readonly abortSignal = Deferred.makeUnsafe<void>()
}
