/**
 * The link: the byte socket a wire drives, as a `DirectSocket` (see `Transport`). A platform
 * that offers one (Node's sockets do) is driven as it is: received bytes are pushed to the
 * wire from the socket's own events and written bytes handed over at once, with no fiber per
 * read or write. Any other `effect/socket` `Socket` (the in-memory sockets of the tests, other
 * platforms) is adapted here: one fiber pulls from its reader and pushes what it gets, another
 * drains written bytes into its writer.
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import type { DirectHandlers, DirectSocket } from "../Transport.js"
import { isGracefulClose } from "./socketError.js"

/** What a link tells its wire: a `DirectSocket`'s handlers, and the defects of an adapted socket's fibers. */
export interface LinkHandlers extends DirectHandlers {
  /** A write failed: nothing more can be sent. */
  readonly writeFailed: (error: Socket.SocketError) => void
  /** The reader or writer fiber of an adapted socket failed unexpectedly (a bug in the socket). */
  readonly defect: (part: "reader" | "writer", cause: Cause.Cause<never>) => void
}

/** A `DirectSocket` as the wire drives it: its handlers include defects, and aborting is an Effect. */
export interface Link {
  /** Takes the handlers; a `DirectSocket` starts delivering to them at once. */
  readonly start: (handlers: LinkHandlers) => void
  /**
   * An adapted socket's reader, pulled directly by whoever reads until routing starts (the
   * tunnel, the handshake), in their own fiber, as before links; `undefined` for a
   * `DirectSocket`, whose pushed chunks are queued for those pulls instead.
   */
  readonly pull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError> | undefined
  /** Routing starts: from now on an adapted socket's reader fiber pulls and delivers. */
  readonly push: (spawn: (effect: Effect.Effect<void>) => void) => void
  readonly pause: () => void
  readonly resume: () => void
  readonly write: DirectSocket["write"]
  readonly pendingBytes: () => number
  readonly whenDrained: (f: () => void) => void
  /** Drops the connection at once, with whatever was not sent yet. */
  readonly abort: Effect.Effect<void>
}

/** A platform's `DirectSocket` as a link. */
export const fromDirect = (direct: DirectSocket): Link => ({
  start: (handlers) => direct.start(handlers),
  pull: undefined,
  push: () => {},
  pause: () => direct.pause(),
  resume: () => direct.resume(),
  write: (chunks) => direct.write(chunks),
  pendingBytes: () => direct.pendingBytes(),
  whenDrained: (f) => direct.whenDrained(f),
  abort: Effect.sync(() => direct.abort())
})

const textEncoder = new TextEncoder()

/**
 * An `effect/socket` `Socket` as a link: acquires its reader and writer in the current scope.
 * The writer fiber is forked at once, in the current fiber's context (so `TestClock` follows
 * the handshake's writes); the reader fiber once routing starts ({@link Link.push}). Both end
 * with the scope.
 */
export const fromSocket = (socket: Socket.Socket): Effect.Effect<Link, Socket.SocketError, Scope.Scope> =>
  Effect.gen(function* () {
    const reader = yield* socket.reader
    const writer = yield* socket.writer
    const link = new SocketLink(reader, writer)
    yield* Effect.forkScoped(link.writeLoop())
    return link
  })

class SocketLink implements Link {
  private handlers: LinkHandlers | undefined
  private paused = false
  /** Chunks pulled and not delivered yet: what came in one pull after a pause. */
  private held: Array<Uint8Array> = []
  private resumed: Deferred.Deferred<void> | undefined
  /** Bytes written, not yet handed to the writer. */
  private queue: Array<Uint8Array> = []
  private queuedBytes = 0
  /** Bytes of the batch the writer is writing. */
  private inFlightBytes = 0
  private idle: Deferred.Deferred<void> | undefined
  private drainWaiters: Array<() => void> = []
  private failed = false

  constructor(
    private readonly reader: Socket.Reader,
    private readonly writer: Socket.Writer
  ) {}

  start(handlers: LinkHandlers): void {
    this.handlers = handlers
  }

  get pull(): Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError> {
    return this.reader.pull
  }

  push(spawn: (effect: Effect.Effect<void>) => void): void {
    spawn(this.readLoop(this.reader))
  }

  pause(): void {
    this.paused = true
  }

  resume(): void {
    if (!this.paused) return
    this.paused = false
    this.deliver()
    const resumed = this.resumed
    if (resumed !== undefined && !this.paused) {
      this.resumed = undefined
      Deferred.doneUnsafe(resumed, Effect.void)
    }
  }

  /** Hands held chunks to the wire until it pauses. */
  private deliver(): void {
    const handlers = this.handlers
    if (handlers === undefined) return
    while (!this.paused && this.held.length > 0) handlers.data(this.held.shift() as Uint8Array)
  }

  /** The reader fiber, once routing starts: pull, deliver, and while paused wait to be resumed. */
  private readLoop(reader: Socket.Reader): Effect.Effect<void> {
    const waitResumed: Effect.Effect<void> = Effect.suspend(() => {
      if (!this.paused && this.held.length === 0) return Effect.void
      const resumed = Deferred.makeUnsafe<void>()
      this.resumed = resumed
      return Effect.andThen(Deferred.await(resumed), waitResumed)
    })
    const pullOnce: Effect.Effect<boolean> = reader.pull.pipe(
      Effect.map((chunks) => {
        for (const chunk of chunks) this.held.push(typeof chunk === "string" ? textEncoder.encode(chunk) : chunk)
        this.deliver()
        return true
      }),
      Effect.catch((error: Socket.SocketError) =>
        Effect.sync(() => {
          const handlers = this.handlers
          if (isGracefulClose(error)) handlers?.end()
          else handlers?.fail(error)
          return false
        })
      )
    )
    const loop: Effect.Effect<void> = Effect.flatMap(waitResumed, () =>
      Effect.flatMap(pullOnce, (more) => (more ? loop : Effect.void))
    )
    return loop.pipe(
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        return Effect.sync(() => this.handlers?.defect("reader", cause))
      })
    )
  }

  write(chunks: Arr.NonEmptyReadonlyArray<Uint8Array>): boolean {
    if (this.failed) return true
    for (const chunk of chunks) {
      this.queue.push(chunk)
      this.queuedBytes += chunk.length
    }
    const idle = this.idle
    if (idle !== undefined) {
      this.idle = undefined
      // the writer fiber runs at once, on this stack
      Deferred.doneUnsafe(idle, Effect.void)
    }
    return this.pendingBytes() === 0
  }

  pendingBytes(): number {
    return this.queuedBytes + this.inFlightBytes
  }

  whenDrained(f: () => void): void {
    if (this.failed || this.pendingBytes() === 0) f()
    else this.drainWaiters.push(f)
  }

  get abort(): Effect.Effect<void> {
    return Effect.ignore(this.writer.write(new Socket.CloseEvent(1006, "the peer stopped reading")))
  }

  private drained(): void {
    const waiters = this.drainWaiters
    if (waiters.length === 0) return
    this.drainWaiters = []
    for (const f of waiters) f()
  }

  /** The writer fiber: waits for bytes, writes everything queued as one batch, and again. */
  writeLoop(): Effect.Effect<void> {
    const next: Effect.Effect<void, Socket.SocketError> = Effect.suspend(() => {
      const batch = this.queue
      if (!Arr.isReadonlyArrayNonEmpty(batch)) {
        const idle = Deferred.makeUnsafe<void>()
        this.idle = idle
        return Effect.andThen(Deferred.await(idle), next)
      }
      this.queue = []
      this.inFlightBytes = this.queuedBytes
      this.queuedBytes = 0
      const write = batch.length === 1 ? this.writer.write(batch[0]) : this.writer.writeAll(batch)
      return Effect.andThen(
        write,
        Effect.suspend(() => {
          this.inFlightBytes = 0
          if (this.queue.length === 0) this.drained()
          return next
        })
      )
    })
    return next.pipe(
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        return Effect.sync(() => {
          this.failed = true
          this.queue = []
          this.queuedBytes = 0
          this.inFlightBytes = 0
          const failure = Cause.findErrorOption(cause)
          if (failure._tag === "Some") this.handlers?.writeFailed(failure.value)
          else this.handlers?.defect("writer", Cause.die(Cause.squash(cause)))
          this.drained()
        })
      })
    )
  }
}
