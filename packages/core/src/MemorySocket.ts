/**
 * Two `effect/socket` Sockets connected to each other in memory: what one writes, the other
 * reads. For protocol tests without a network: no I/O and no timers, so they run under
 * `TestClock` and their outcome does not depend on timing.
 *
 * They behave like the two ends of a TCP connection as `@effect/platform-node` presents it:
 * - bytes arrive in the order written, each write as one chunk; a pull takes every chunk
 *   waiting (at least one), so readers must reassemble packets across pulls;
 * - releasing a writer's scope closes its direction gracefully: the peer reads the remaining
 *   bytes, then its pull fails with `SocketCloseError` code 1000 (TCP's FIN);
 * - releasing a reader's scope closes the connection: a pull parked in another fiber fails
 *   with `SocketCloseError` 1006, the peer reads the remaining bytes then 1000, and the peer's
 *   later writes fail with `SocketWriteError`;
 * - {@link MemorySocket.reset} drops the connection at once (TCP's RST): unread bytes are
 *   lost, pulls on both ends fail with `SocketReadError` (cause code `ECONNRESET`), writes fail;
 * - with a `capacity`, each direction holds at most that many chunks and `write` waits for
 *   the reader: backpressure.
 *
 * Unlike a Node socket, writing before the reader is acquired does not wait (the connection
 * exists from the start), and a socket's reader can be acquired only once.
 *
 * @example
 * ```ts
 * import { MemorySocket } from "@effect-ncp/core/testing"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const [client, server] = yield* MemorySocket.pair({ capacity: 16 })
 *   const write = (yield* client.writer).write
 *   const pull = (yield* server.reader).pull
 *   yield* write(new Uint8Array([1, 2, 3]))
 *   const chunks = yield* pull // [Uint8Array [1, 2, 3]]
 * }).pipe(Effect.scoped)
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as NetAddress from "effect/net/NetAddress"
import * as Queue from "effect/Queue"
import * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"

/** One end of an in-memory connection: a `Socket`, plus a way to break the connection. */
export interface MemorySocket extends Socket.Socket {
  /**
   * Drops the connection as a TCP reset would: bytes not yet read are lost, and pulls and
   * writes on both ends fail (pulls with `SocketReadError`, cause code `ECONNRESET`).
   */
  readonly reset: Effect.Effect<void>
}

/** Options of {@link pair}. */
export interface PairOptions {
  /** The most chunks each direction holds before `write` waits. Default: unbounded. */
  readonly capacity?: number | undefined
}

/** Two connected sockets: what the first writes the second reads, and the other way round. */
export const pair = (options?: PairOptions): Effect.Effect<readonly [MemorySocket, MemorySocket]> =>
  Effect.gen(function* () {
    const capacity = options?.capacity
    const forward = yield* Queue.make<Uint8Array, Socket.SocketError>({ capacity })
    const backward = yield* Queue.make<Uint8Array, Socket.SocketError>({ capacity })
    return [makeEnd(backward, forward), makeEnd(forward, backward)] as const
  })

const closeError = (code: number, closeReason?: string) =>
  new Socket.SocketError({ reason: new Socket.SocketCloseError({ code, closeReason }) })

const resetError = () =>
  new Socket.SocketError({
    reason: new Socket.SocketReadError({ cause: Object.assign(new Error("connection reset"), { code: "ECONNRESET" }) })
  })

const writeError = () =>
  new Socket.SocketError({
    reason: new Socket.SocketWriteError({ cause: Object.assign(new Error("connection closed"), { code: "EPIPE" }) })
  })

const encoder = new TextEncoder()

const makeEnd = (
  inbound: Queue.Queue<Uint8Array, Socket.SocketError>,
  outbound: Queue.Queue<Uint8Array, Socket.SocketError>
): MemorySocket => {
  let readerAcquired = false

  // fails the queue at once, dropping what it holds (Queue.fail alone lets readers drain it)
  const failNow = (queue: Queue.Queue<Uint8Array, Socket.SocketError>, error: Socket.SocketError) =>
    Effect.andThen(Queue.fail(queue, error), Effect.ignore(Queue.clear(queue)))

  const reader: Socket.Socket["reader"] = Effect.gen(function* () {
    if (readerAcquired) {
      return yield* new Socket.SocketError({
        reason: new Socket.SocketOpenError({
          kind: "Unknown",
          cause: new Error("memory socket reader already acquired")
        })
      })
    }
    readerAcquired = true
    // a Deferred, not the queue, fails a parked pull on release: the queue's remaining bytes
    // still belong to nobody, but the pull must not wait for them (Socket.toChannel relies on it)
    const released = yield* Deferred.make<never, Socket.SocketError>()
    let isReleased = false
    yield* Effect.addFinalizer(() =>
      Effect.gen(function* () {
        isReleased = true
        yield* Deferred.fail(released, closeError(1006))
        // closing the connection: the peer reads what was sent, then a graceful close ...
        yield* Queue.fail(outbound, closeError(1000))
        // ... and its writes fail from now on
        yield* failNow(inbound, writeError())
      })
    )
    const pull: Socket.Reader["pull"] = Effect.suspend(() =>
      isReleased ? Effect.fail(closeError(1006)) : Effect.raceFirst(Queue.takeAll(inbound), Deferred.await(released))
    )
    return { pull, upgrade: Socket.SocketUpgradeError.unsupported } satisfies Socket.Reader
  })

  const send = (chunk: Uint8Array): Effect.Effect<void, Socket.SocketError> =>
    Effect.flatMap(Queue.offer(outbound, chunk), (accepted) => (accepted ? Effect.void : Effect.fail(writeError())))

  const write = (chunk: Uint8Array | string | Socket.CloseEvent): Effect.Effect<void, Socket.SocketError> => {
    if (Socket.isCloseEvent(chunk)) {
      // as Node's destroy(): the peer reads what was sent, then sees a close (TCP carries no
      // code, so 1000); this end stops reading at once
      return Effect.asVoid(
        Effect.andThen(Queue.fail(outbound, closeError(1000)), failNow(inbound, closeError(chunk.code, chunk.reason)))
      )
    }
    return send(typeof chunk === "string" ? encoder.encode(chunk) : chunk)
  }

  const writer: Socket.Socket["writer"] = Effect.acquireRelease(
    Effect.succeed<Socket.Writer>({
      write,
      writeAll: (chunks) => Effect.forEach(chunks, write, { discard: true })
    }),
    // a half-close, as Node's end(): the peer reads the remaining bytes, then 1000
    () => Queue.fail(outbound, closeError(1000))
  )

  const reset = Effect.asVoid(Effect.andThen(failNow(outbound, resetError()), failNow(inbound, resetError())))

  return Object.assign(Socket.make({ reader, writer }), { reset })
}

/** A `SocketServer` in memory, and the way clients reach it. */
export interface MemoryServer {
  /** The `effect/socket` `SocketServer`: hand it to `Server.serve` (provide it as the service). */
  readonly server: SocketServer.SocketServer["Service"]
  /**
   * Opens a connection: the client's end of a fresh pair, whose other end the server's `run`
   * handler receives (once `run` is running; until then, connections wait to be accepted).
   */
  readonly connect: Effect.Effect<MemorySocket>
}

/**
 * A `SocketServer` whose connections are in-memory pairs: for testing servers (and clients
 * against them) without a network, under `TestClock`. Like Node's, `run` handles each
 * connection in its own fiber and, when interrupted, interrupts them all.
 *
 * @example
 * ```ts
 * import { Server } from "@effect-ncp/core"
 * import { MemorySocket } from "@effect-ncp/core/testing"
 * import * as Effect from "effect/Effect"
 * import * as SocketServer from "effect/socket/SocketServer"
 *
 * const program = Effect.gen(function* () {
 *   const { server, connect } = yield* MemorySocket.makeServer()
 *   yield* Effect.forkScoped(
 *     Server.serve(handler).pipe(Effect.provideService(SocketServer.SocketServer, server))
 *   )
 *   const socket = yield* connect // a client's socket, e.g. for a Transport
 * })
 * ```
 */
export const makeServer = (options?: PairOptions): Effect.Effect<MemoryServer> =>
  Effect.gen(function* () {
    const accepted = yield* Queue.unbounded<MemorySocket>()
    const run = <R, E, _>(
      handler: (socket: Socket.Socket) => Effect.Effect<_, E, R>
    ): Effect.Effect<never, SocketServer.SocketServerError, R> =>
      Effect.scoped(
        Effect.gen(function* () {
          const scope = yield* Effect.scope
          return yield* Effect.forever(
            Effect.flatMap(Queue.take(accepted), (socket) => Effect.forkIn(Effect.ignoreCause(handler(socket)), scope))
          )
        })
      )
    const server = SocketServer.SocketServer.of({
      address: NetAddress.unixPathAddress("memory"),
      run
    })
    const connect = Effect.flatMap(pair(options), ([client, server]) =>
      Effect.as(Queue.offer(accepted, server), client)
    )
    return { server, connect }
  })
