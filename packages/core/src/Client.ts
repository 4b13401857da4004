/**
 * The NCP client: connect to a node, perform the LINK handshake (through the CONNECT tunnel
 * when TLS is on or credentials are given) and get a `Connection`.
 *
 * Defaults follow the Python `ncplib` 6.1: port 9999 (443 with TLS, 80 with credentials), the
 * remote named `host:port`, the local host and user names from the platform, an empty domain,
 * a 60 s timeout, and `autoErro`, `autoWarn`, `autoAckn` on.
 *
 * @example
 * ```ts
 * import { Client } from "@effect-ncp/core"
 * import { NodeTransport } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function* () {
 *   const connection = yield* Client.connect({ host: "rfeye000123.local" })
 *   const reply = yield* connection.request("DSPC", "SWEP", { FSTA: 10000, FSTP: 18000 })
 *   console.log(reply.params)
 * }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import type * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import { make as makeConnection } from "./connection/connection.js"
import * as Handshake from "./connection/handshake.js"
import * as Reconnect from "./connection/reconnect.js"
import { peerAttributes, traced } from "./connection/telemetry.js"
import * as Tunnel from "./connection/tunnel.js"
import { makeWire } from "./connection/wire.js"
import * as Limits from "./Limits.js"
import { type TlsOption, Transport } from "./Transport.js"

/**
 * Options of {@link connect}. Only `host` is required. The limits (`maxPacketBytes`,
 * `maxBufferedBytes`, ...) are those of `Limits.table`, with its client defaults.
 */
export interface ClientOptions extends Limits.Options<Limits.ClientLimits> {
  readonly host: string
  /** Default 9999; 443 with TLS; 80 with credentials and no TLS. */
  readonly port?: number | undefined
  /** The name the connection gives the node. Default `host:port`. */
  readonly remoteHostname?: string | undefined
  /** This machine's name, sent as `CIW`/`CAR`. Default: the OS host name. */
  readonly hostname?: string | undefined
  /** The user name sent as `CUSR`. Default: the OS user. */
  readonly connectionUsername?: string | undefined
  /** The domain sent as `CDOM`. Default "". */
  readonly connectionDomain?: string | undefined
  /**
   * The network timeout asked for in the handshake (whole seconds on the wire, a fraction
   * rounded up), e.g. `"30 seconds"`; 0 for none. It also bounds opening the connection: TCP
   * connect, TLS setup, the tunnel and each handshake step. Default 60 seconds. A number is
   * milliseconds, as everywhere in Effect.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * The default deadline for each reply of `request` and of a `send`'s Response, overridden
   * per call with `{ timeout }`. Past it the wait fails with a `NetworkTimeout` naming the
   * command; the connection stays open. Default: none (a node that never answers a command
   * keeps the request waiting, while keep-alives keep the connection alive).
   */
  readonly requestTimeout?: Duration.Input | undefined
  /**
   * The wire type of a plain number param that is not an integer: `"f64"` (the default,
   * lossless) or `"f32"`, as Python's ncplib sends a float. A `Value` keeps its own type.
   */
  readonly floats?: "f64" | "f32" | undefined
  /** Turn error replies (`ERRO`/`ERRC`) into `CommandError`s. Default true. */
  readonly autoErro?: boolean | undefined
  /** Log warning replies (`WARN`/`WARC`). Default true. */
  readonly autoWarn?: boolean | undefined
  /** Skip acknowledgement replies (fields with an `ACKN` param). Default true. */
  readonly autoAckn?: boolean | undefined
  /** TLS: `true`, or platform TLS options (for Node, `tls.connect` options). Default false. */
  readonly tls?: TlsOption | undefined
  /** User name for the CONNECT tunnel. Giving it (or a password) turns the tunnel on. */
  readonly username?: string | undefined
  /** Password for the CONNECT tunnel. */
  readonly password?: Redacted.Redacted<string> | string | undefined
}

/** The port a client uses when none is given. */
const defaultPort = (options: Pick<ClientOptions, "tls" | "username" | "password">): number =>
  options.tls !== undefined && options.tls !== false
    ? 443
    : options.username !== undefined || options.password !== undefined
      ? 80
      : 9999

/** A timeout option in seconds: the handshake and the transport count in seconds. */
const timeoutSeconds = (timeout: Duration.Input | undefined): number =>
  timeout === undefined ? 60 : Duration.toSeconds(Duration.fromInputUnsafe(timeout))

/**
 * How a connection names the node when `remoteHostname` is not given: `host:port`, with an IPv6
 * address in brackets (`[::1]:9999`), as in a URL.
 */
export const defaultRemote = (
  options: Pick<ClientOptions, "host" | "port" | "tls" | "username" | "password">
): string => {
  const port = options.port ?? defaultPort(options)
  return options.host.includes(":") ? `[${options.host}]:${port}` : `${options.host}:${port}`
}

/**
 * Connects to a node and performs the handshake. The connection lives as long as the current
 * scope (or until `close`); everything it holds is released with it.
 *
 * With a tracer installed, connecting is a span `ncp.connect` (the transport's spans, such as
 * `ncp.tcp` and `ncp.tls`, then `ncp.tunnel` and `ncp.handshake`, as its children), and each
 * command of the connection a span of its own. Connecting and disconnecting are logged at Info.
 */
export const connect = (
  options: ClientOptions
): Effect.Effect<Connection.Connection, ConnectionError, Transport | Scope.Scope> => {
  const port = options.port ?? defaultPort(options)
  const attributes = peerAttributes("client", options.host, port)
  return traced(connectOnce(options, port, attributes), "ncp.connect", { kind: "client", attributes })
}

const connectOnce = Effect.fnUntraced(function* (
  options: ClientOptions,
  port: number,
  spanAttributes: Record<string, unknown>
): Effect.fn.Return<Connection.Connection, ConnectionError, Transport | Scope.Scope> {
  const transport = yield* Transport
  const tls = options.tls ?? false
  const remote = options.remoteHostname ?? defaultRemote(options)
  const timeout = timeoutSeconds(options.timeout)
  const hostname = options.hostname ?? transport.hostname
  const parent = yield* Effect.scope
  const scope = yield* Scope.fork(parent)
  return yield* Effect.gen(function* () {
    const socket = yield* transport.connect({ host: options.host, port, tls, timeout })
    const limits = Limits.resolve(Limits.client, options)
    const wire = yield* makeWire(socket, { role: "client", remote, limits, floats: options.floats })
    if (tls !== false || options.username !== undefined || options.password !== undefined) {
      const password = options.password ?? ""
      yield* traced(
        Tunnel.client(
          wire,
          {
            username: options.username ?? "",
            password: typeof password === "string" ? Redacted.make(password) : password
          },
          timeout
        ),
        "ncp.tunnel",
        { attributes: spanAttributes }
      )
    }
    const agreement = yield* traced(
      Handshake.client(
        wire,
        {
          hostname,
          username: options.connectionUsername ?? transport.username,
          domain: options.connectionDomain ?? ""
        },
        timeout
      ),
      "ncp.handshake",
      { attributes: spanAttributes }
    )
    const { connection } = yield* makeConnection(
      wire,
      {
        timeout: agreement.timeout,
        stallTimeout: agreement.timeout > 0 ? agreement.timeout : timeout,
        readTimeout: agreement.timeout,
        idleTimeout: 0,
        requestTimeout: options.requestTimeout,
        autoErro: options.autoErro ?? true,
        autoWarn: options.autoWarn ?? true,
        autoAckn: options.autoAckn ?? true,
        bufferCapacity: limits.bufferCapacity,
        inboxCapacity: limits.inboxCapacity,
        inboxOverflow: "dropOldest",
        inboxBytes: limits.maxBufferedBytes,
        nextFieldId: agreement.nextFieldId,
        spanAttributes,
        remoteAddress: options.host,
        remotePort: port
      },
      scope
    )
    return connection
  }).pipe(
    Effect.annotateLogs({ remote, role: "client" }),
    Scope.provide(scope),
    Effect.onError((cause) => Scope.close(scope, Exit.failCause(cause)))
  )
})

/**
 * A connection as a service, for embedding in a backend: provide `NcpClient.layer(options)`
 * (plus a `Transport`) and `yield* NcpClient` where you need it. The connection opens when the
 * layer is built and closes when it is released.
 */
export class NcpClient extends Context.Service<NcpClient, Connection.Connection>()("@effect-ncp/core/NcpClient") {
  /** A connection for the life of the layer: {@link connect} when it is built, closed when it is released. */
  static readonly layer = (options: ClientOptions): Layer.Layer<NcpClient, ConnectionError, Transport> =>
    Layer.effect(NcpClient, connect(options))

  /**
   * A connection that comes back when the node does: `NcpClient` delegates each call to the
   * connection open at the time, and `NcpClientState` tells how the link stands. When the
   * node goes away the client reconnects on `schedule` (by default
   * {@link defaultReconnectSchedule}); see {@link connectReconnecting} for what requests,
   * `recv` and `fields` do meanwhile.
   *
   * The layer is built once the first attempt has ended: with the node up, the first request
   * finds the connection open; with the node down, the layer builds anyway (it never fails)
   * and the client keeps trying. Releasing it closes the connection and stops reconnecting.
   *
   * @example
   * ```ts
   * import { Client } from "@effect-ncp/core"
   * import { NodeTransport } from "@effect-ncp/node"
   * import * as Effect from "effect/Effect"
   * import * as Layer from "effect/Layer"
   *
   * const NodeLink = Client.NcpClient.layerReconnecting({
   *   host: "rfeye000123.local",
   *   requestTimeout: "10 seconds",
   *   waitForConnection: true
   * }).pipe(Layer.provide(NodeTransport.layer))
   *
   * const program = Effect.gen(function* () {
   *   const node = yield* Client.NcpClient
   *   return yield* node.request("STAT", "STAT")
   * }).pipe(Effect.provide(NodeLink))
   * ```
   */
  static readonly layerReconnecting = (
    options: ReconnectOptions
  ): Layer.Layer<NcpClient | NcpClientState, never, Transport> =>
    Layer.effectContext(
      Effect.map(connectReconnecting(options), (client) =>
        Context.make(NcpClient, client).pipe(Context.add(NcpClientState, client))
      )
    )
}

/**
 * The delays of a reconnecting client when none is given: exponential from 500 ms, doubling
 * (0.5, 1, 2, 4, 8, 16 s), capped at 30 s, each randomized to between 80% and 120% so that many
 * clients of one node do not come back in step; it never gives up. Its input is the error of
 * the attempt that failed (or of the connection that ended), for schedules that stop on some
 * errors.
 */
export const defaultReconnectSchedule: Schedule.Schedule<Duration.Duration, unknown> = Schedule.exponential(
  "500 millis",
  2
).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.succeed(Duration.min(duration, Duration.seconds(30)))),
  Schedule.jittered
)

/** Options of {@link connectReconnecting} and `NcpClient.layerReconnecting`: those of a connection, and two more. */
export interface ReconnectOptions extends ClientOptions {
  /**
   * The delays between attempts: after a failed attempt, and before the first attempt after a
   * connection ended. Its input is the error; when it ends, the client gives up (state `Closed`
   * with the last error). It starts over once a connection opens. Default
   * {@link defaultReconnectSchedule}.
   *
   * @example
   * ```ts
   * import type { ConnectionError } from "@effect-ncp/core"
   * import * as Schedule from "effect/Schedule"
   *
   * // every 2 s, and stop after a refused password
   * const schedule = Schedule.spaced("2 seconds").pipe(
   *   Schedule.setInputType<ConnectionError>(),
   *   Schedule.while(({ input }) => input._tag !== "AuthenticationError")
   * )
   * ```
   */
  readonly schedule?: Schedule.Schedule<unknown, ConnectionError> | undefined
  /**
   * While no connection is open, `request`, `send` and `sendPacket` wait for one, up to their
   * deadline (`{ timeout }`, else `requestTimeout`; the wait counts towards `request`'s reply
   * deadline), and `recv`/`recvField` wait without one; past the deadline, or when the client
   * closes, they fail with `NotConnected`. Default false: they fail at once with `NotConnected`.
   */
  readonly waitForConnection?: boolean | undefined
}

/**
 * Starts a client that keeps a connection to the node open for the life of the current scope,
 * reconnecting on `options.schedule` whenever an attempt fails or the connection ends. Returns
 * once the first attempt has ended, and never fails: a node that is down is its state's
 * business (`BackingOff`), and requests say so.
 *
 * - `request`, `send`, `sendPacket`, `recv` and `recvField` go to the connection open at the
 *   time of the call. With none open they fail at once with `NotConnected` (the state, the
 *   attempt and the last error), or, with `waitForConnection`, wait for one up to their
 *   deadline. A call in flight when its connection ends fails with the error that ended it
 *   (`ConnectionClosed`, `NetworkError`, ...); nothing is sent again, since the node may have
 *   acted on it. A `Response` belongs to the connection it was sent on.
 * - `fields` spans reconnects: each connection's fields in turn, nothing during an outage (a
 *   node's subscriptions end with its connection; watch `changes` for `Open` to renew them).
 *   It ends when the client is released or closed, and fails with `NotConnected` when the
 *   schedule gives up.
 * - `close` closes the connection and stops reconnecting for good; `closed` completes then,
 *   with the `NotConnected` that calls get from then on.
 * - `timeout` is the open connection's agreed timeout, else the one asked for.
 *
 * Connecting and disconnecting are logged at Info as ncplib does ("Connected to node:9999 over
 * NCP", `ncp: "Connected"`; "Disconnected from node:9999 over NCP", `ncp: "Disconnected"` with
 * the `reason`); the first failed attempt of an outage at Warn (`ncp: "ConnectFailed"`), the
 * ones after it at Debug; giving up at Error (`ncp: "ReconnectStopped"`).
 *
 * @example
 * ```ts
 * import { Client } from "@effect-ncp/core"
 * import { NodeTransport } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 * import * as Stream from "effect/Stream"
 *
 * const program = Effect.gen(function* () {
 *   const node = yield* Client.connectReconnecting({ host: "rfeye000123.local" })
 *   yield* Effect.forkScoped(
 *     node.changes.pipe(Stream.runForEach((state) => Effect.log(`link: ${state._tag}`)))
 *   )
 *   return yield* node.request("STAT", "STAT") // NotConnected while the node is away
 * }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
 * ```
 */
export const connectReconnecting = (
  options: ReconnectOptions
): Effect.Effect<Connection.ReconnectingConnection, never, Transport | Scope.Scope> =>
  Effect.flatMap(Transport, (transport) => {
    const timeout = timeoutSeconds(options.timeout)
    return Reconnect.make({
      remote: options.remoteHostname ?? defaultRemote(options),
      remoteAddress: options.host,
      remotePort: options.port ?? defaultPort(options),
      requestedTimeout: timeout,
      requestTimeout: options.requestTimeout,
      schedule: options.schedule ?? defaultReconnectSchedule,
      waitForConnection: options.waitForConnection ?? false,
      connect: Effect.provideService(connect(options), Transport, transport)
    })
  })

/**
 * The state of the reconnecting client that `NcpClient.layerReconnecting` provides: `state`
 * now, and `changes` as a Stream.
 *
 * @example
 * ```ts
 * import { Client } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 * import * as Stream from "effect/Stream"
 *
 * // Log every change of the link to the node.
 * const watch = Effect.gen(function* () {
 *   const link = yield* Client.NcpClientState
 *   yield* link.changes.pipe(Stream.runForEach((state) => Effect.logInfo(`node link: ${state._tag}`)))
 * })
 * ```
 */
export class NcpClientState extends Context.Service<
  NcpClientState,
  Pick<Connection.ReconnectingConnection, "state" | "changes">
>()("@effect-ncp/core/NcpClientState") {}
