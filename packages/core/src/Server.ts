/**
 * The NCP server: run a handler for every connection on an `effect/socket` `SocketServer`,
 * after the LINK handshake (and the CONNECT tunnel when TLS or authentication is on).
 *
 * A handler that fails makes the server send `LINK ERRO` with `ERRC=400` ("Bad request") for
 * a decode failure or `ERRC=500` ("Server error") for anything else, then close that
 * connection; other connections carry on. Servers deliver every field (`autoErro`, `autoWarn`
 * and `autoAckn` are off unless asked for).
 *
 * No client can take a server down: what each connection holds is bounded in bytes (the packet
 * being framed, fields waiting for the handler, replies waiting to be written), so is what all
 * of them hold together and how many there are; a client that stops reading is dropped like
 * one that stops writing. Interrupting {@link serve} shuts down gracefully: new connections are
 * refused, handlers get a grace period to finish the commands they have, then everything
 * closes.
 *
 * @example
 * ```ts
 * import { Server } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 * import * as Stream from "effect/Stream"
 *
 * // Echo every field's params back to it.
 * const echo = Server.serve((connection) =>
 *   connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params)))
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import * as Connection from "./Connection.js"
import { ConnectionClosed, type ConnectionError } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import { ByteBudget } from "./internal/budget.js"
import * as Handshake from "./internal/handshake.js"
import { errorParams } from "./internal/router.js"
import * as Tunnel from "./internal/tunnel.js"
import { makeWire, type Wire } from "./internal/wire.js"
import { answers, type Credentials } from "./Tunnel.js"

/** Options of {@link serve}. */
export interface ServerOptions<EA = never, RA = never> {
  /**
   * Timeout in seconds: for the tunnel and each handshake step, and for a connection on which
   * the client neither sends nor reads anything (when it agreed to no timeout itself). On Node
   * it also bounds a client's TLS setup. Default 60.
   */
  readonly timeout?: number | undefined
  /**
   * Checks a client's credentials. When given, the CONNECT tunnel with valid credentials is
   * mandatory; a failure or `false` answers 401 and closes the connection.
   */
  readonly authenticate?: ((credentials: Credentials) => Effect.Effect<boolean, EA, RA>) | undefined
  /**
   * Expect the CONNECT tunnel before NCP. Always on when `authenticate` is given (`false` does
   * not turn authentication off); transports turn it on with TLS, as nodes do.
   */
  readonly tunnel?: boolean | undefined
  /** Params of the `LINK HELO` field the server greets with (real nodes send NCPV, SEID, MACA). */
  readonly hello?: Field.ParamsInput | undefined
  readonly autoErro?: boolean | undefined
  readonly autoWarn?: boolean | undefined
  readonly autoAckn?: boolean | undefined
  /**
   * The largest packet accepted, in bytes; a client sending a larger one gets `LINK ERRO 400`
   * and is disconnected. Default 1 MiB: nodes receive commands, which are small.
   */
  readonly maxPacketBytes?: number | undefined
  /** The most fields a packet may hold; more get `LINK ERRO 400`. Default 65,536. */
  readonly maxFieldsPerPacket?: number | undefined
  /** The most params a field may hold; more get `LINK ERRO 400`. Default 4,096. */
  readonly maxParamsPerField?: number | undefined
  /** The most params a packet may hold in all; more get `LINK ERRO 400`. Default 262,144. */
  readonly maxParamsPerPacket?: number | undefined
  /**
   * What one connection's received data may hold, in bytes: the packet being framed plus the
   * fields waiting for the handler (each counted at an estimate of its memory). When it is
   * full, reading from that client pauses until the handler takes fields. Default 1 MiB.
   */
  readonly maxBufferedBytes?: number | undefined
  /**
   * Replies one connection may hold waiting to be written, in bytes; beyond it the handler
   * waits for the client to read. A larger reply still goes out alone. Default 256 KiB.
   */
  readonly maxWriteBufferBytes?: number | undefined
  /** Fields the inbox or a stream holds before reading pauses. Default 64. */
  readonly bufferCapacity?: number | undefined
  /**
   * The most connections open at once; more are refused at once (`LINK ERRO 503`, or an HTTP
   * 503 where the tunnel is expected) and counted in a log line. Default 1024.
   */
  readonly maxConnections?: number | undefined
  /**
   * What all connections' received data may hold together, in bytes; when it is reached,
   * connections holding fields their handlers have not taken yet pause reading. Default 512 MiB.
   */
  readonly maxTotalBufferedBytes?: number | undefined
  /**
   * When the server is interrupted: how long handlers may go on with the commands they have
   * (no new ones are delivered, no new connections accepted) before every connection is closed.
   * Default 5 seconds.
   */
  readonly shutdownGrace?: Duration.Input | undefined
}

/**
 * The timeout a server agrees to for the one a client asks: 0 stays 0 (legacy), otherwise
 * clamped into 5..60 seconds.
 */
export const clampTimeout: (requested: number) => number = Handshake.clampTimeout

const encoder = new TextEncoder()

const DEFAULT_MAX_PACKET_BYTES = 1024 * 1024
const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024
// Replies to commands are small, and one larger than this still goes out alone. With the socket's
// batch besides the queue, 1,000 stalled readers hold about 500 MiB; with the 512 MiB read total
// that keeps 1,000 connections near 1 GB.
const DEFAULT_MAX_WRITE_BUFFER_BYTES = 256 * 1024
const DEFAULT_MAX_CONNECTIONS = 1024
const DEFAULT_MAX_TOTAL_BUFFERED_BYTES = 512 * 1024 * 1024
const DEFAULT_SHUTDOWN_GRACE = Duration.seconds(5)

/** A connection as its server sees it while it shuts down. */
interface Live {
  /** Stops delivering commands; completes once the connection has closed (its handler done, its replies sent). */
  readonly drain: Effect.Effect<void>
  /** Closes at once, dropping what is not sent yet: the grace has run out. */
  readonly abort: () => void
}

/**
 * What the connections of one server share: how many are open, the total of what they hold,
 * and whether the server is shutting down.
 */
class Shared {
  readonly total: ByteBudget
  readonly maxConnections: number
  readonly live = new Set<Live>()
  shuttingDown = false
  private refused = 0
  private refusalsLoggedAt = Number.NEGATIVE_INFINITY

  constructor(options: ServerOptions<unknown, unknown>) {
    this.total = new ByteBudget(options.maxTotalBufferedBytes ?? DEFAULT_MAX_TOTAL_BUFFERED_BYTES)
    this.maxConnections = options.maxConnections ?? DEFAULT_MAX_CONNECTIONS
  }

  /** Counts a refused connection; logs at most once a second, with the count since. */
  refuse(reason: string): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.refused++
      if (now - this.refusalsLoggedAt < 1000) return Effect.void
      this.refusalsLoggedAt = now
      const count = this.refused
      this.refused = 0
      return Effect.logWarning(`refused ${count} connection(s): ${reason}`).pipe(
        Effect.annotateLogs({ ncp: "ConnectionRefused", refused: count, open: this.live.size })
      )
    })
  }

  /**
   * Stops delivering commands on every connection and lets them close within `grace`; then
   * aborts whatever is still open.
   */
  shutdown(grace: Duration.Duration): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.shuttingDown = true
      return Effect.forEach([...this.live], (live) => live.drain, { concurrency: "unbounded", discard: true }).pipe(
        Effect.timeoutOrElse({ duration: grace, orElse: () => Effect.void }),
        Effect.andThen(
          Effect.sync(() => {
            for (const live of this.live) live.abort()
          })
        )
      )
    })
  }
}

/**
 * Handles one accepted socket: tunnel, handshake, then `handler` with the open connection.
 * Never fails: every problem is logged, answered on the wire where the protocol says so, and
 * ends only this connection. One socket alone: the limits a server shares across its
 * connections (`maxConnections`, `maxTotalBufferedBytes`, the shutdown grace) take effect
 * through {@link serve}.
 */
export const handleSocket = <E, R, EA = never, RA = never>(
  socket: Socket.Socket,
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServerOptions<EA, RA> = {}
): Effect.Effect<void, never, R | RA> => handle(socket, handler, options, new Shared(options))

const handle = <E, R, EA, RA>(
  socket: Socket.Socket,
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServerOptions<EA, RA>,
  shared: Shared
): Effect.Effect<void, never, R | RA> =>
  Effect.scoped(
    Effect.gen(function* () {
      const timeout = options.timeout ?? 60
      // authentication happens in the tunnel: an explicit `tunnel: false` must not bypass it
      const tunnel = options.authenticate !== undefined || options.tunnel === true
      const parent = yield* Effect.scope
      const scope = yield* Scope.fork(parent)
      const wire = yield* makeWire(socket, {
        remote: "client",
        maxPacketBytes: options.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES,
        maxFieldsPerPacket: options.maxFieldsPerPacket,
        maxParamsPerField: options.maxParamsPerField,
        maxParamsPerPacket: options.maxParamsPerPacket,
        maxBufferedBytes: options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES,
        maxWriteBufferBytes: options.maxWriteBufferBytes ?? DEFAULT_MAX_WRITE_BUFFER_BYTES,
        totalBudget: shared.total
      }).pipe(Scope.provide(scope))
      if (shared.shuttingDown || shared.live.size >= shared.maxConnections) {
        const reason = shared.shuttingDown
          ? "the server is shutting down"
          : `${shared.live.size} connections are open, the most allowed (maxConnections)`
        yield* refuse(wire, tunnel)
        return yield* shared.refuse(reason)
      }
      const closed = Deferred.makeUnsafe<void>()
      let opened: Connection.Opened | undefined
      const live: Live = {
        drain: Effect.suspend(() => {
          // Not open yet: nothing in flight to wait for.
          if (opened === undefined) wire.abortNow()
          else
            opened.stopReceiving(new ConnectionClosed({ detail: "the server is shutting down", remote: wire.remote }))
          return Deferred.await(closed)
        }),
        abort: () => wire.abortNow()
      }
      shared.live.add(live)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          shared.live.delete(live)
          Deferred.doneUnsafe(closed, Effect.void)
        })
      )
      if (tunnel) {
        const verdict = yield* Tunnel.server(wire, options.authenticate, timeout).pipe(
          Effect.catch((error) =>
            Effect.as(Effect.ignore(wire.writeBytes(encoder.encode(answers.unauthorized))), {
              _tag: "Refused",
              status: 401,
              reason: errorMessage(error)
            } as const)
          )
        )
        if (verdict._tag === "Refused") {
          // After any answer but 200 the connection closes at once (the scope's end).
          return yield* Effect.logInfo(`tunnel refused (${verdict.status}): ${verdict.reason}`).pipe(
            Effect.annotateLogs({ ncp: "TunnelRefused", status: verdict.status })
          )
        }
      }
      const agreement = yield* Handshake.server(wire, options.hello ?? [], timeout)
      // The error the connection ended with on its own: answered (and, for a defect, logged)
      // as it ended, so a handler failing with it has nothing to add.
      let endedWith: ConnectionError | undefined
      opened = yield* Connection.make(
        wire,
        {
          timeout: agreement.timeout,
          stallTimeout: agreement.timeout > 0 ? agreement.timeout : timeout,
          autoErro: options.autoErro ?? false,
          autoWarn: options.autoWarn ?? false,
          autoAckn: options.autoAckn ?? false,
          bufferCapacity: options.bufferCapacity ?? 64,
          // A server's handler reads every field: a slow one slows the client, losing nothing.
          inboxCapacity: options.bufferCapacity ?? 64,
          inboxOverflow: "backpressure",
          checkNames: true,
          nextFieldId: agreement.nextFieldId,
          beforeEnd: (error) => {
            endedWith = error
            switch (error._tag) {
              case "DecodeError":
                return Effect.andThen(
                  Effect.logInfo(`bad data from the client; answering LINK ERRO 400: ${error.message}`).pipe(
                    Effect.annotateLogs({ ncp: "BadRequest", remote: wire.remote })
                  ),
                  sendError(wire, 400)
                )
              case "ConnectionDefect":
                return sendError(wire, 500)
              case "NetworkTimeout":
                return Effect.logInfo(`dropping the connection: ${error.message}`).pipe(
                  Effect.annotateLogs({ ncp: "ConnectionDropped", remote: wire.remote })
                )
              default:
                return Effect.void
            }
          }
        },
        scope
      )
      const connection = opened.connection
      if (shared.shuttingDown)
        opened.stopReceiving(new ConnectionClosed({ detail: "the server is shutting down", remote: wire.remote }))
      yield* Effect.logDebug("connection open").pipe(
        Effect.annotateLogs({ remote: wire.remote, timeout: agreement.timeout })
      )
      // Suspended, so that a handler throwing before it returns an Effect fails like one whose
      // Effect dies: with a LINK ERRO 500.
      const exit = yield* Effect.exit(Effect.suspend(() => handler(connection)))
      if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) {
        const failure = Cause.findErrorOption(exit.cause)
        const error = failure._tag === "Some" ? failure.value : undefined
        const gone =
          (error !== undefined && error === endedWith) ||
          (isTagged(error) && (error._tag === "ConnectionClosed" || error._tag === "NetworkError"))
        if (!gone) {
          const code = isTagged(error) && error._tag === "DecodeError" ? 400 : 500
          yield* Effect.logError(`connection handler failed; answering LINK ERRO ${code}`, exit.cause).pipe(
            Effect.annotateLogs({ ncp: "HandlerFailed", remote: wire.remote, code })
          )
          yield* sendError(wire, code)
        }
      }
      yield* Scope.close(scope, Exit.void)
    }).pipe(
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : Cause.hasDies(cause)
            ? Effect.logError("connection failed unexpectedly before the handshake completed", cause).pipe(
                Effect.annotateLogs({ ncp: "ConnectionDefect" })
              )
            : Effect.logInfo("connection ended before the handshake completed", cause).pipe(
                Effect.annotateLogs({ ncp: "HandshakeFailed" })
              )
      )
    )
  )

const isTagged = (u: unknown): u is { readonly _tag: string } =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string"

const errorMessage = (u: unknown): string =>
  typeof u === "object" && u !== null && "message" in u ? String(u.message) : String(u)

/** Sends `LINK ERRO` as the spec words it: 400 "Bad request", 500 "Server error", 503 "Server busy". */
const sendError = (wire: Wire, code: 400 | 500 | 503) =>
  Effect.ignore(
    wire.writePacket("LINK", [
      {
        name: "ERRO",
        id: 0,
        params: errorParams(code === 400 ? "Bad request" : code === 500 ? "Server error" : "Server busy", code)
      }
    ])
  )

/** Turns a connection away before anything else: `LINK ERRO 503`, or an HTTP 503 where the tunnel is expected. */
const refuse = (wire: Wire, tunnel: boolean) =>
  tunnel ? Effect.ignore(wire.writeBytes(encoder.encode(answers.unavailable))) : sendError(wire, 503)

/**
 * Runs `handler` for every connection the `SocketServer` accepts, each in its own fiber, until
 * interrupted. Interrupting it shuts down: no more connections are accepted and no more
 * commands delivered; handlers get `shutdownGrace` to finish what they have; then every
 * connection is closed, and the interruption completes.
 */
export const serve = <E, R, EA = never, RA = never>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServerOptions<EA, RA> = {}
): Effect.Effect<never, SocketServer.SocketServerError, SocketServer.SocketServer | R | RA> =>
  Effect.flatMap(SocketServer.SocketServer, (server) =>
    Effect.gen(function* () {
      const shared = new Shared(options)
      const grace = Duration.fromInputUnsafe(options.shutdownGrace ?? DEFAULT_SHUTDOWN_GRACE)
      // The accept loop runs in a scope of its own, closed only once the connections have had
      // their grace: closing it interrupts every connection's fiber.
      const scope = yield* Scope.make()
      const accepting = yield* Effect.forkIn(
        server.run((socket) => handle(socket, handler, options, shared)),
        scope
      )
      return yield* Fiber.join(accepting).pipe(
        Effect.onInterrupt(() => Effect.andThen(shared.shutdown(grace), Scope.close(scope, Exit.void))),
        Effect.onError(() => Scope.close(scope, Exit.void))
      )
    })
  )

/** {@link serve} as a Layer: the server runs while the layer is alive. */
export const layer = <E, R, EA = never, RA = never>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServerOptions<EA, RA> = {}
): Layer.Layer<never, never, SocketServer.SocketServer | R | RA> =>
  Layer.effectDiscard(Effect.forkScoped(serve(handler, options)))

export type { ConnectionError }
