/**
 * The connection's writer: one fiber, forked in the connection's scope, drains a queue of
 * outgoing bytes into the socket's `writeAll`, the way `effect/socket` writes a channel's
 * batches. The first write of a burst goes out at once (the fiber, woken, runs on the
 * writer's stack), so a request/reply exchange waits for nothing; after each batch the fiber
 * yields once to its scheduler, and what was queued meanwhile goes in the next batch, so a fiber
 * sending many packets in a row pays one system call for most of them. The fiber runs on a
 * synchronous scheduler, so that yield is a microtask.
 *
 * The queue is bounded in bytes: a writer waits while the bytes queued exceed the limit (one
 * write always goes through on an empty queue, however large). The batch the socket holds is
 * not counted, so the next batch builds up while it drains and the socket never waits for the
 * writers: at most the limit is queued, plus one batch in the socket's hands. `writingSince` tells how long the socket has been holding a
 * batch, so a peer that stops reading can be told from one that is merely slow.
 */
import * as Arr from "effect/Array"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Socket from "effect/socket/Socket"
import { ConnectionClosed, type ConnectionDefect, type ConnectionError, type NetworkError } from "../ConnectionError.js"
import { networkError } from "./socketError.js"

/** What the writer needs to know of the connection it writes for. */
export interface Peer {
  readonly remote: string
  readonly ended: ConnectionError | undefined
}

export class Outbox {
  /** Epoch millis (Clock) of the last bytes queued. */
  lastSent = 0
  /** Epoch millis (Clock) since which the socket holds a batch it has not taken, or `undefined`. */
  writingSince: number | undefined
  private chunks: Array<Uint8Array> = []
  /** Bytes queued, not yet handed to the socket. */
  private heldBytes = 0
  /** The writer fiber, waiting for bytes. */
  private idle: Deferred.Deferred<void> | undefined
  /** Writers waiting for room. */
  private waiting: Array<Deferred.Deferred<void>> = []
  private failure: NetworkError | ConnectionDefect | undefined
  private closing = false

  constructor(
    private readonly peer: Peer,
    private readonly clock: Clock.Clock,
    /** The most bytes held before writers wait. */
    private readonly limitBytes: number
  ) {}

  /**
   * Queues bytes (the CONNECT tunnel's text, or an encoded packet) for the writer fiber. Waits
   * while the queue holds more than its limit; fails once a write has failed or the connection
   * has ended.
   */
  write(bytes: Uint8Array): Effect.Effect<void, NetworkError | ConnectionClosed | ConnectionDefect> {
    return Effect.suspend(() => this.offer(bytes))
  }

  private offer(bytes: Uint8Array): Effect.Effect<void, NetworkError | ConnectionClosed | ConnectionDefect> {
    if (this.failure !== undefined) return Effect.fail(this.failure)
    if (this.peer.ended !== undefined || this.closing) {
      return Effect.fail(new ConnectionClosed({ detail: "the connection is closed", remote: this.peer.remote }))
    }
    if (this.heldBytes > 0 && this.heldBytes + bytes.length > this.limitBytes) {
      const room = Deferred.makeUnsafe<void>()
      this.waiting.push(room)
      return Effect.andThen(
        Deferred.await(room),
        Effect.suspend(() => this.offer(bytes))
      )
    }
    this.chunks.push(bytes)
    this.heldBytes += bytes.length
    this.lastSent = this.clock.currentTimeMillisUnsafe()
    this.wakeIdle()
    return Effect.void
  }

  /**
   * The writer fiber's loop: waits for bytes, hands everything queued to the socket in one
   * batch, and again. Ends when {@link close} was called and everything is written; fails with
   * the `NetworkError` of a failed write (the wire then {@link break}s the outbox).
   */
  run(writer: Socket.Writer): Effect.Effect<void, NetworkError> {
    // After a batch, one yield to the scheduler before going idle: a fiber that goes on writing
    // after its first write (which went out at once) fills the next batch meanwhile.
    const settled = Effect.suspend(() => (this.chunks.length > 0 ? next : Effect.andThen(Effect.yieldNow, next)))
    // Built once: every batch goes through them.
    const failed = (error: Socket.SocketError) => Effect.fail(networkError(error, this.peer.remote))
    const written = Effect.suspend(() => {
      this.writingSince = undefined
      return settled
    })
    const next: Effect.Effect<void, NetworkError> = Effect.suspend(() => {
      const batch = this.chunks
      if (!Arr.isReadonlyArrayNonEmpty(batch)) {
        if (this.closing) return Effect.void
        const idle = Deferred.makeUnsafe<void>()
        this.idle = idle
        // Woken by a write, the fiber runs at once, on that writer's stack: the first write of
        // a burst goes out without waiting for anything.
        return Effect.andThen(Deferred.await(idle), next)
      }
      this.chunks = []
      this.heldBytes = 0
      this.wakeWriters()
      this.writingSince = this.clock.currentTimeMillisUnsafe()
      const write = batch.length === 1 ? writer.write(batch[0]) : writer.writeAll(batch)
      return write.pipe(Effect.catch(failed), Effect.andThen(written))
    })
    return next
  }

  /** Fails later writes with `error` (the first one given), and every writer waiting now. */
  break(error: NetworkError | ConnectionDefect): void {
    this.failure ??= error
    this.chunks = []
    this.heldBytes = 0
    this.wakeWriters()
  }

  private wakeWriters(): void {
    // Woken writers check the room again: the first ones fill it, the rest wait once more.
    const waiting = this.waiting
    if (waiting.length === 0) return
    this.waiting = []
    for (const room of waiting) Deferred.doneUnsafe(room, Effect.void)
  }

  private wakeIdle(): void {
    const idle = this.idle
    if (idle === undefined) return
    this.idle = undefined
    Deferred.doneUnsafe(idle, Effect.void)
  }

  /**
   * Takes no more bytes, and lets the writer fiber end once it has written what is queued.
   * Writers still waiting for room fail with `ConnectionClosed`.
   */
  close(): void {
    this.closing = true
    this.wakeWriters()
    this.wakeIdle()
  }
}
