/**
 * The connection's writer: hands outgoing bytes to the socket, coalescing the writes made in
 * one tick into one `writeAll`, and bounding what waits for a socket that applies backpressure.
 */
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Socket from "effect/socket/Socket"
import { ConnectionClosed, type ConnectionError, type NetworkError } from "../ConnectionError.js"
import { networkError } from "./socketError.js"

/** What the writer needs to know of the connection it writes for. */
export interface Peer {
  readonly remote: string
  readonly ended: ConnectionError | undefined
}

/** Queued outgoing bytes beyond which writers wait for the socket. */
const MAX_QUEUED_BYTES = 1024 * 1024

export class Outbox {
  /** Epoch millis (Clock) of the last bytes handed over. */
  lastSent = 0

  constructor(
    private readonly writer: Socket.Writer,
    private readonly peer: Peer,
    private readonly clock: Clock.Clock
  ) {}

  // Outgoing bytes are coalesced. The first write of a tick goes straight to the socket (a
  // request/reply exchange pays nothing extra); later writes in the same tick are queued and go
  // together in one corked `writeAll` from a microtask, so a fiber sending many packets in a row
  // does not pay a system call for each. A writer waits only while a flush is held up by the
  // socket's backpressure and too much is queued.
  private queued: Array<Uint8Array> = []
  private queuedBytes = 0
  private flushScheduled = false
  /** Completes when the socket has taken the flush in progress (it may wait for `drain`). */
  private inFlight: Deferred.Deferred<void> | undefined
  private failedWrite: NetworkError | undefined

  /**
   * Hands bytes (the CONNECT tunnel's text, or an encoded packet) to the socket. Completes once
   * the socket has them or they are queued for this tick's flush, waiting first if the socket
   * applies backpressure.
   */
  write(bytes: Uint8Array): Effect.Effect<void, NetworkError | ConnectionClosed> {
    return Effect.suspend(() => {
      if (this.failedWrite !== undefined) return Effect.fail(this.failedWrite)
      if (this.peer.ended !== undefined) {
        return Effect.fail(new ConnectionClosed({ detail: "the connection is closed", remote: this.peer.remote }))
      }
      const inFlight = this.inFlight
      if (this.queuedBytes >= MAX_QUEUED_BYTES) {
        // Too much queued: wait for the flush in progress, or, when the scheduled one has not
        // run yet (a fiber that never yields keeps it from running), flush now and wait for it.
        return Effect.andThen(inFlight !== undefined ? Deferred.await(inFlight) : this.writeQueued(), this.write(bytes))
      }
      this.lastSent = this.clock.currentTimeMillisUnsafe()
      if (!this.flushScheduled && inFlight === undefined) {
        this.flushScheduled = true
        queueMicrotask(this.flush)
        // In flight like a flush, so that a close waits for it (and aborts a socket that
        // cannot drain) rather than leave this write waiting forever.
        const done = Deferred.makeUnsafe<void>()
        this.inFlight = done
        return this.writer.write(bytes).pipe(Effect.catch(this.onWriteError), Effect.ensuring(this.settle(done)))
      }
      this.queued.push(bytes)
      this.queuedBytes += bytes.length
      if (!this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(this.flush)
      }
      return Effect.void
    })
  }

  private readonly onWriteError = (error: Socket.SocketError): Effect.Effect<never, NetworkError> => {
    this.failedWrite ??= networkError(error, this.peer.remote)
    return Effect.fail(this.failedWrite)
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    // While a flush still waits for the socket, this batch goes when it is done.
    if (this.inFlight !== undefined || this.queued.length === 0) return
    Effect.runFork(this.writeQueued())
  }

  /** Writes everything queued in one batch; the caller has checked that no flush is in flight. */
  private writeQueued(): Effect.Effect<void> {
    const batch = this.queued
    this.queued = []
    this.queuedBytes = 0
    const done = Deferred.makeUnsafe<void>()
    this.inFlight = done
    const write = batch.length === 1 ? this.writer.write(batch[0] as Uint8Array) : this.writer.writeAll(batch as never)
    return write.pipe(
      Effect.catch((error: Socket.SocketError) => Effect.ignore(this.onWriteError(error))),
      Effect.ensuring(this.settle(done))
    )
  }

  /** Ends the write in flight (`done`) and schedules a flush of what was queued meanwhile. */
  private settle(done: Deferred.Deferred<void>): Effect.Effect<void> {
    return Effect.sync(() => {
      this.inFlight = undefined
      Deferred.doneUnsafe(done, Effect.void)
      if (this.queued.length > 0 && !this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(this.flush)
      }
    })
  }

  /**
   * Completes when every byte written so far has been handed to the socket. Closing runs it
   * first, so replies written just before a close are delivered, not dropped.
   */
  flushNow(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.failedWrite !== undefined) return Effect.void
      if (this.inFlight !== undefined) return Effect.andThen(Deferred.await(this.inFlight), this.flushNow())
      if (this.queued.length > 0) return Effect.andThen(this.writeQueued(), this.flushNow())
      return Effect.void
    })
  }
}
