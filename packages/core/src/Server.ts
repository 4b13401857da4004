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
 * @module
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Scope from "effect/Scope"
import * as SocketServer from "effect/socket/SocketServer"
import type * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import { type AcceptConfig, handle, Shared } from "./connection/accept.js"
import type * as Field from "./Field.js"
import * as Limits from "./Limits.js"
import type { Credentials } from "./Tunnel.js"

/**
 * Options of {@link serve}. The limits (`maxPacketBytes`, `maxConnections`, ...) are those of
 * `Limits.table`, with its server defaults.
 */
export interface ServerOptions<EA = never, RA = never> extends Limits.Options<Limits.ServerLimits> {
  /**
   * The network timeout, e.g. `"30 seconds"`: for the tunnel and each handshake step, and for a
   * connection on which the client neither sends nor reads anything (when it agreed to no
   * timeout itself). On Node it also bounds a client's TLS setup. Default 60 seconds. A number
   * is milliseconds, as everywhere in Effect.
   */
  readonly timeout?: Duration.Input | undefined
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
  /**
   * The wire type of a plain number in a reply that is not an integer: `"f64"` (the default,
   * lossless) or `"f32"`, as Python's ncplib sends a float.
   */
  readonly floats?: "f64" | "f32" | undefined
  /** Params of the `LINK HELO` field the server greets with (real nodes send NCPV, SEID, MACA). */
  readonly hello?: Field.ParamsInput | undefined
  readonly autoErro?: boolean | undefined
  readonly autoWarn?: boolean | undefined
  readonly autoAckn?: boolean | undefined
  /**
   * When the server is interrupted: how long handlers may go on with the commands they have
   * (no new ones are delivered, no new connections accepted) before every connection is closed.
   * Default 5 seconds.
   */
  readonly shutdownGrace?: Duration.Input | undefined
}

const defaultShutdownGrace = Duration.seconds(5)

/** What each accepted connection is handled with: the options resolved. */
const acceptConfig = <EA, RA>(options: ServerOptions<EA, RA>): AcceptConfig<EA, RA> => ({
  timeout: options.timeout === undefined ? 60 : Duration.toSeconds(Duration.fromInputUnsafe(options.timeout)),
  // authentication happens in the tunnel: an explicit `tunnel: false` must not bypass it
  tunnel: options.authenticate !== undefined || options.tunnel === true,
  authenticate: options.authenticate,
  hello: options.hello ?? [],
  autoErro: options.autoErro ?? false,
  autoWarn: options.autoWarn ?? false,
  autoAckn: options.autoAckn ?? false,
  limits: Limits.resolve(Limits.server, options),
  floats: options.floats
})

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
      const config = acceptConfig(options)
      const shared = new Shared(config.limits, yield* Effect.context<never>())
      const grace = Duration.fromInputUnsafe(options.shutdownGrace ?? defaultShutdownGrace)
      const address = NetAddress.formatSocketAddress(server.address)
      yield* Effect.logInfo(`Listening on ${address} for NCP`).pipe(Effect.annotateLogs({ ncp: "Listening", address }))
      // The accept loop runs in a scope of its own, closed only once the connections have had
      // their grace: closing it interrupts every connection's fiber.
      const scope = yield* Scope.make()
      const accepting = yield* Effect.forkIn(
        server.run((socket) => handle(socket, handler, config, shared)),
        scope
      )
      const stopped = Effect.suspend(() =>
        Effect.logInfo(`Stopped serving NCP on ${address}: closed ${shared.closedAtShutdown} connection(s)`).pipe(
          Effect.annotateLogs({ ncp: "Stopped", address, closed: shared.closedAtShutdown })
        )
      )
      return yield* Fiber.join(accepting).pipe(
        Effect.onInterrupt(() =>
          shared.shutdown(grace).pipe(Effect.andThen(Scope.close(scope, Exit.void)), Effect.andThen(stopped))
        ),
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
