/**
 * The NCP server: run a handler for every connection on an `effect/socket` `SocketServer`,
 * after the LINK handshake (and the CONNECT tunnel when TLS or authentication is on).
 *
 * A handler that fails makes the server send `LINK ERRO` with `ERRC=400` ("Bad request") for
 * a decode failure or `ERRC=500` ("Server error") for anything else, then close that
 * connection; other connections carry on. Servers deliver every field (`autoErro`, `autoWarn`
 * and `autoAckn` are off unless asked for).
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
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import * as Handshake from "./internal/handshake.js"
import * as Tunnel from "./internal/tunnel.js"
import { makeWire, type Wire } from "./internal/wire.js"
import { answers, type Credentials } from "./Tunnel.js"

/** Options of {@link serve}. */
export interface ServerOptions<EA = never, RA = never> {
  /** Timeout in seconds for the tunnel and the handshake. Default 60. */
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
  /** The largest packet accepted, in bytes. Default 64 MiB. */
  readonly maxPacketBytes?: number | undefined
  /** Fields the inbox or a stream holds before reading pauses. Default 64. */
  readonly bufferCapacity?: number | undefined
}

/**
 * The timeout a server agrees to for the one a client asks: 0 stays 0 (legacy), otherwise
 * clamped into 5..60 seconds.
 */
export const clampTimeout: (requested: number) => number = Handshake.clampTimeout

const encoder = new TextEncoder()

/**
 * Handles one accepted socket: tunnel, handshake, then `handler` with the open connection.
 * Never fails: every problem is logged, answered on the wire where the protocol says so, and
 * ends only this connection.
 */
export const handleSocket = <E, R, EA = never, RA = never>(
  socket: Socket.Socket,
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServerOptions<EA, RA> = {}
): Effect.Effect<void, never, R | RA> =>
  Effect.scoped(
    Effect.gen(function* () {
      const timeout = options.timeout ?? 60
      const parent = yield* Effect.scope
      const scope = yield* Scope.fork(parent)
      const wire = yield* makeWire(socket, {
        remote: "client",
        maxPacketBytes: options.maxPacketBytes
      }).pipe(Scope.provide(scope))
      // authentication happens in the tunnel: an explicit `tunnel: false` must not bypass it
      const tunnel = options.authenticate !== undefined || options.tunnel === true
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
      const connection = yield* Connection.make(
        wire,
        {
          timeout: agreement.timeout,
          autoErro: options.autoErro ?? false,
          autoWarn: options.autoWarn ?? false,
          autoAckn: options.autoAckn ?? false,
          bufferCapacity: options.bufferCapacity ?? 64,
          // A server's handler reads every field: a slow one slows the client, losing nothing.
          inboxCapacity: options.bufferCapacity ?? 64,
          inboxOverflow: "backpressure",
          nextFieldId: agreement.nextFieldId,
          beforeEnd: (error) => {
            endedWith = error
            return error._tag === "DecodeError"
              ? sendError(wire, 400)
              : error._tag === "ConnectionDefect"
                ? sendError(wire, 500)
                : Effect.void
          }
        },
        scope
      )
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

/** Sends `LINK ERRO` with 400 "Bad request" or 500 "Server error"; a failure to send is ignored. */
const sendError = (wire: Wire, code: 400 | 500) =>
  Effect.ignore(
    wire.writePacket("LINK", [
      {
        name: "ERRO",
        id: 0,
        params: [
          ["ERRO", { type: "string", value: code === 400 ? "Bad request" : "Server error" }],
          ["ERRC", { type: "i32", value: code }]
        ]
      }
    ])
  )

/**
 * Runs `handler` for every connection the `SocketServer` accepts, each in its own fiber, until
 * interrupted; interrupting it closes every connection.
 */
export const serve = <E, R, EA = never, RA = never>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServerOptions<EA, RA> = {}
): Effect.Effect<never, SocketServer.SocketServerError, SocketServer.SocketServer | R | RA> =>
  Effect.flatMap(SocketServer.SocketServer, (server) => server.run((socket) => handleSocket(socket, handler, options)))

/** {@link serve} as a Layer: the server runs while the layer is alive. */
export const layer = <E, R, EA = never, RA = never>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServerOptions<EA, RA> = {}
): Layer.Layer<never, never, SocketServer.SocketServer | R | RA> =>
  Layer.effectDiscard(Effect.forkScoped(serve(handler, options)))

export type { ConnectionError }
