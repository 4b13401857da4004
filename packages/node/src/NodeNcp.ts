/**
 * NCP on Node.js in one import: connect to a node, or serve NCP, over `node:net` and
 * `node:tls`. These are the core's `Client` and `Server` with the Node transport and listening
 * socket already provided; reach for `NodeTransport` and `NodeListener` directly only when
 * you need their options.
 *
 * @example
 * ```ts
 * import { NodeNcp } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function* () {
 *   const connection = yield* NodeNcp.connect({ host: "rfeye000123.local" })
 *   const reply = yield* connection.request("DSPC", "SWEP", { FSTA: 10000, FSTP: 18000 })
 *   console.log(reply.params)
 * }).pipe(Effect.scoped)
 * ```
 *
 * @module
 * @since 0.1.0
 */
import { Client, type Connection, type ConnectionError, Server } from "@effect-ncp/core"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Scope from "effect/Scope"
import * as SocketServer from "effect/socket/SocketServer"
import * as NodeListener from "./NodeListener.js"
import * as NodeTransport from "./NodeTransport.js"

/**
 * Options of {@link connect}: the core's `Client.ClientOptions`, with `tls` as Node takes it:
 * `true` for the system's certificate authorities, or `tls.connect` options (`ca`,
 * `servername`, `rejectUnauthorized`, a client `cert` and `key`, ...).
 */
export interface ConnectOptions extends Omit<Client.ClientOptions, "tls"> {
  readonly tls?: boolean | NodeTransport.TlsOptions | undefined
}

/**
 * Connects to a node over TCP (or TLS) and performs the handshake: `Client.connect` with the
 * Node transport. The connection lives as long as the current scope, or until `close`.
 *
 * @example
 * ```ts
 * import { NodeNcp } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 *
 * // TLS with a password, trusting the node's own certificate
 * declare const nodeCertificate: string
 * const program = Effect.gen(function* () {
 *   const connection = yield* NodeNcp.connect({
 *     host: "10.0.0.7",
 *     tls: { ca: nodeCertificate },
 *     username: "admin",
 *     password: "secret"
 *   })
 *   return yield* connection.request("STAT", "STAT")
 * }).pipe(Effect.scoped)
 * ```
 */
export const connect = (
  options: ConnectOptions
): Effect.Effect<Connection.Connection, ConnectionError.ConnectionError, Scope.Scope> =>
  Client.connect(toClientOptions(options)).pipe(Effect.provide(NodeTransport.layer))

/**
 * A connection as the `Client.NcpClient` service, over the Node transport: it opens when the
 * layer is built and closes when the layer is released.
 *
 * @example
 * ```ts
 * import { Client } from "@effect-ncp/core"
 * import { NodeNcp } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function* () {
 *   const node = yield* Client.NcpClient
 *   return yield* node.request("STAT", "STAT")
 * }).pipe(Effect.provide(NodeNcp.layerClient({ host: "rfeye000123.local" })))
 * ```
 */
export const layerClient = (options: ConnectOptions): Layer.Layer<Client.NcpClient, ConnectionError.ConnectionError> =>
  Client.NcpClient.layer(toClientOptions(options)).pipe(Layer.provide(NodeTransport.layer))

/**
 * Options of {@link layerClientReconnecting}: the core's `Client.ReconnectOptions`, with `tls`
 * as Node takes it (see {@link ConnectOptions}).
 */
export interface ReconnectOptions extends Omit<Client.ReconnectOptions, "tls"> {
  readonly tls?: boolean | NodeTransport.TlsOptions | undefined
}

/**
 * A connection that comes back when the node does, over the Node transport: the
 * `Client.NcpClient` service delegates to the open connection, and `Client.NcpClientState`
 * tells how the link stands. `Client.NcpClient.layerReconnecting` with `NodeTransport.layer`.
 *
 * @example
 * ```ts
 * import { Client } from "@effect-ncp/core"
 * import { NodeNcp } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function* () {
 *   const node = yield* Client.NcpClient
 *   return yield* node.request("STAT", "STAT") // fails with NotConnected while the node is away
 * }).pipe(Effect.provide(NodeNcp.layerClientReconnecting({ host: "rfeye000123.local" })))
 * ```
 */
export const layerClientReconnecting = (
  options: ReconnectOptions
): Layer.Layer<Client.NcpClient | Client.NcpClientState> =>
  Client.NcpClient.layerReconnecting({
    ...toClientOptions(options),
    schedule: options.schedule,
    waitForConnection: options.waitForConnection
  }).pipe(Layer.provide(NodeTransport.layer))

// Node's `tls.connect` options are what the core's platform-neutral `TlsOption` carries on Node;
// the copy gives TypeScript the index signature the `ConnectionOptions` interface lacks.
const toClientOptions = ({ tls, ...options }: ConnectOptions): Client.ClientOptions => ({
  ...options,
  tls: tls === undefined || typeof tls === "boolean" ? tls : { ...tls }
})

/**
 * Options of {@link serve}, {@link make} and {@link layerServer}: the core's
 * `Server.ServerOptions`, plus where to listen and TLS.
 *
 * With `tls` or `authenticate`, clients must open the CONNECT tunnel first, as nodes require.
 */
export interface ServeOptions<EA = never, RA = never> extends Server.ServerOptions<EA, RA> {
  /** The address to listen on. Default `"0.0.0.0"` (every IPv4 interface). */
  readonly host?: string | undefined
  /**
   * The port to listen on. Default 9999; 443 with `tls`; 80 with `authenticate` and no `tls`.
   * 0 picks a free port (read it back from {@link make}).
   */
  readonly port?: number | undefined
  /**
   * Serve TLS with this key and certificate (PEM), e.g. from `SelfSignedCertificate`, and the
   * settings `tls.createServer` takes for them (`passphrase`, `ca` and `requestCert` for client
   * certificates, ...).
   */
  readonly tls?: NodeListener.TlsOptions | undefined
  /**
   * How many connections the kernel may queue before they are accepted (`listen`'s backlog,
   * capped by the kernel). Default 4,096: a burst of thousands of connects is answered, `HELO`
   * or 503, instead of waiting in SYN retries.
   */
  readonly backlog?: number | undefined
}

/** The port a server listens on when none is given: 9999, 443 with TLS, 80 with authentication. */
export const defaultServePort = (options: Pick<ServeOptions<unknown, unknown>, "tls" | "authenticate">): number =>
  options.tls !== undefined ? 443 : options.authenticate !== undefined ? 80 : 9999

/** Where a server started by {@link make} listens, and how it ends. */
export interface Listening {
  readonly address: NetAddress.SocketAddress
  /** The bound port (the free one picked for port 0). */
  readonly port: number
  /** The bound IP address, e.g. `"127.0.0.1"`. */
  readonly host: string
  /**
   * Never completes while the server accepts connections; fails with the reason if it stops
   * on its own (its listener is closed then, so clients are refused rather than left waiting).
   */
  readonly stopped: Effect.Effect<never, SocketServer.SocketServerError>
}

/**
 * A running server's address as a service: what {@link layerServer} provides, so that tests
 * and tools can listen on port 0 and read the port back.
 *
 * @example
 * ```ts
 * import { NodeNcp } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function* () {
 *   const { host, port } = yield* NodeNcp.NcpServer
 *   const connection = yield* NodeNcp.connect({ host, port })
 *   return yield* connection.request("DSPC", "ECHO", { N: 1 })
 * })
 * // provided with NodeNcp.layerServer(handler, { host: "127.0.0.1", port: 0 })
 * ```
 */
export class NcpServer extends Context.Service<NcpServer, Listening>()("@effect-ncp/node/NcpServer") {}

/** The TLS handshake's deadline: the server's timeout, or 60 seconds when it has none. */
const handshakeTimeout = (timeout: Duration.Input | undefined): Duration.Duration => {
  const duration = timeout === undefined ? undefined : Duration.fromInputUnsafe(timeout)
  return duration === undefined || Duration.toMillis(duration) <= 0 ? Duration.seconds(60) : duration
}

const listen = <EA, RA>(options: ServeOptions<EA, RA>) =>
  NodeListener.make({
    host: options.host ?? "0.0.0.0",
    port: options.port ?? defaultServePort(options),
    tls: options.tls,
    backlog: options.backlog,
    // the connection timeout bounds TLS setup too, as it bounds the tunnel and the handshake
    handshakeTimeout: handshakeTimeout(options.timeout)
  })

const serverOptions = <EA, RA>(options: ServeOptions<EA, RA>): Server.ServerOptions<EA, RA> => ({
  ...options,
  // nodes speak NCP inside the CONNECT tunnel whenever TLS or a password is on
  tunnel: options.tunnel ?? (options.tls !== undefined || options.authenticate !== undefined)
})

const run = <E, R, EA, RA>(
  server: SocketServer.SocketServer["Service"],
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServeOptions<EA, RA>
): Effect.Effect<never, SocketServer.SocketServerError, R | RA> =>
  Server.serve(handler, serverOptions(options)).pipe(Effect.provideService(SocketServer.SocketServer, server))

/**
 * Listens and runs `handler` for every connection, after the handshake, until interrupted;
 * interrupting it closes the listener and every connection. Fails with a `SocketServerError`
 * when it cannot listen (the port is taken, the address is not local).
 *
 * @example
 * ```ts
 * import { NodeNcp } from "@effect-ncp/node"
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import * as Stream from "effect/Stream"
 *
 * // Echo every field's params back to it, on port 9999 of every interface.
 * NodeRuntime.runMain(
 *   NodeNcp.serve((connection) => connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params))))
 * )
 * ```
 */
export const serve = <E, R, EA = never, RA = never>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServeOptions<EA, RA> = {}
): Effect.Effect<never, SocketServer.SocketServerError, R | RA> =>
  Effect.scoped(Effect.flatMap(listen(options), (server) => run(server, handler, options)))

/**
 * Listens and serves in the background of the current scope, and returns where it listens
 * once the port is bound: what tests and tools want, with port 0. Closing the scope closes the
 * listener and every connection.
 *
 * @example
 * ```ts
 * import { NodeNcp } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 * import * as Stream from "effect/Stream"
 *
 * const program = Effect.gen(function* () {
 *   const { host, port } = yield* NodeNcp.make(
 *     (connection) => connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params))),
 *     { host: "127.0.0.1", port: 0 }
 *   )
 *   const connection = yield* NodeNcp.connect({ host, port })
 *   return yield* connection.request("DSPC", "ECHO", { N: 1 })
 * }).pipe(Effect.scoped)
 * ```
 */
export const make = <E, R, EA = never, RA = never>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServeOptions<EA, RA> = {}
): Effect.Effect<Listening, SocketServer.SocketServerError, Scope.Scope | R | RA> =>
  Effect.gen(function* () {
    // The listener in a scope of its own: closed as soon as the server stops accepting.
    const listenerScope = yield* Scope.fork(yield* Effect.scope)
    const server = yield* listen(options).pipe(Scope.provide(listenerScope))
    const stopped = Deferred.makeUnsafe<never, SocketServer.SocketServerError>()
    yield* Effect.forkScoped(
      run(server, handler, options).pipe(
        Effect.onExit((exit) =>
          Exit.isSuccess(exit) || Exit.hasInterrupts(exit)
            ? Effect.void
            : Effect.logError("the NCP server stopped accepting connections; closing its listener", exit.cause).pipe(
                Effect.annotateLogs({ ncp: "ServerFailed" }),
                Effect.andThen(Scope.close(listenerScope, exit)),
                Effect.andThen(Deferred.done(stopped, exit))
              )
        )
      )
    )
    const address = server.address
    return {
      address,
      port: NodeListener.port(address) ?? options.port ?? defaultServePort(options),
      host: address._tag === "UnixPathAddress" ? address.path : NetAddress.formatIp(address.address),
      stopped: Deferred.await(stopped)
    }
  })

/**
 * {@link serve} as a Layer providing {@link NcpServer} (where it listens): the server listens
 * once the layer is built, and stops, closing every connection, when the layer is released.
 * Building fails when it cannot listen. Should it stop accepting on its own later, its listener
 * closes and `NcpServer.stopped` fails; to run a server as the program, `NodeNcp.serve`, which
 * fails then, is the simpler choice.
 *
 * @example
 * ```ts
 * import { NodeNcp } from "@effect-ncp/node"
 * import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
 * import * as Layer from "effect/Layer"
 * import * as Stream from "effect/Stream"
 *
 * const EchoServer = NodeNcp.layerServer(
 *   (connection) => connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params))),
 *   { port: 9999 }
 * )
 * NodeRuntime.runMain(Layer.launch(EchoServer))
 * ```
 */
export const layerServer = <E, R, EA = never, RA = never>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  options: ServeOptions<EA, RA> = {}
): Layer.Layer<NcpServer, SocketServer.SocketServerError, R | RA> => Layer.effect(NcpServer, make(handler, options))
