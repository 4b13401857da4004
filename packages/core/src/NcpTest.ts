/**
 * NCP in memory, for testing code that talks to a node: a server running a connection handler
 * you pass (the simulated node's by default) on `MemorySocket`s, and real clients connected to
 * it, as scoped Effects and Layers. Nothing is real-time: the handshake, keep-alives and every
 * timeout run on Effect's `Clock`, so under `TestClock` (as in `@effect/vitest`'s `it.effect`)
 * time passes only with `TestClock.adjust`, and a test's outcome does not depend on timing.
 *
 * - {@link layerClient}: a `Client.NcpClient` connected to a fresh in-memory server, plus that
 *   server as the {@link TestServer} service: what a backend test provides in place of
 *   `NodeNcp.layerClient`.
 * - {@link connect}: the same as a scoped Effect giving the `Connection`.
 * - {@link layerServer} / {@link make}: the server alone, with a `Transport` that reaches it,
 *   for several clients or the reconnecting client (`Client.NcpClient.layerReconnecting`).
 *
 * The server is the core's `Server`, the client the core's `Client`: the bytes between them are
 * the protocol's, handshake and keep-alives included. The {@link TestServer} can make the node
 * go quiet ({@link InMemoryServer.silence}) or drop its connections ({@link InMemoryServer.reset}),
 * to test what a backend does when the node hangs or goes away; and it opens raw connections
 * ({@link InMemoryServer.connectSocket}), to test what a server does with a client that
 * misbehaves.
 *
 * @example
 * ```ts
 * import { Client, CommandClient, NcpCommand } from "@effect-ncp/core"
 * import { NcpTest, SimulatedNode } from "@effect-ncp/core/testing"
 * import { expect, it } from "@effect/vitest"
 * import * as Effect from "effect/Effect"
 *
 * it.effect("the node reports its status", () =>
 *   Effect.gen(function* () {
 *     const node = yield* Client.NcpClient
 *     const status = yield* CommandClient.call(node, SimulatedNode.Status)
 *     expect(status.STAT).toBe("OK")
 *   }).pipe(Effect.provide(NcpTest.layerClient()))
 * )
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import * as Client from "./Client.js"
import type * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import * as MemorySocket from "./MemorySocket.js"
import * as Server from "./Server.js"
import * as SimulatedNode from "./SimulatedNode.js"
import { Transport } from "./Transport.js"

/**
 * A client's options over the in-memory transport: those of `Client.connect`, all optional
 * (`host` defaults to `"memory"` and only names the remote; TLS has no meaning in memory, but
 * `username` and `password` still go through the CONNECT tunnel, for a server with
 * `authenticate`).
 */
export type ClientOptions = Partial<Omit<Client.ClientOptions, "tls">>

/** Options of {@link make}, {@link connect}, {@link layerServer} and {@link layerClient}. */
export interface Options<E = never, R = never, EA = never, RA = never> {
  /**
   * The server's connection handler, as for `Server.serve`: a `CommandRouter.toHandler(...)`, a
   * plain field handler, anything. Default: the simulated node's (`SimulatedNode.handler`),
   * which also greets with `SimulatedNode.hello` unless `server.hello` says otherwise.
   */
  readonly handler?: ((connection: Connection.Connection) => Effect.Effect<unknown, E, R>) | undefined
  /** The client's options (for {@link connect} and {@link layerClient}, and the default of `TestServer.connect`). */
  readonly client?: ClientOptions | undefined
  /**
   * The server's options, as for `Server.serve`. `shutdownGrace` defaults to 0 here: when the
   * layer or scope ends, the server closes its connections at once rather than waiting for
   * handlers on a clock that a test no longer advances.
   */
  readonly server?: Server.ServerOptions<EA, RA> | undefined
  /**
   * The most chunks each direction of a connection holds before the writer waits, for tests of
   * backpressure (see `MemorySocket.pair`). Default: unbounded.
   */
  readonly capacity?: number | undefined
}

/** A running in-memory server, and the ways a test reaches it. */
export interface InMemoryServer {
  /**
   * Opens a client connection to the server (`Client.connect` over a fresh in-memory pair, with
   * these options over those the server was made with). It lives as long as the current scope.
   */
  readonly connect: (options?: ClientOptions) => Effect.Effect<Connection.Connection, ConnectionError, Scope.Scope>
  /**
   * Opens a raw connection to the server: the client's end of a fresh in-memory socket pair,
   * with no client behind it and no handshake done. For testing what a server does with a
   * client that misbehaves: the test speaks the protocol itself, packet by packet
   * (`Encoder`, `Framing.PacketFramer`), or sends bytes that are no protocol at all. The server
   * greets it with `LINK HELO` as it would any client (with `authenticate`, it waits for the
   * CONNECT request first); {@link silence} and {@link reset} apply to it once its reader is
   * acquired.
   *
   * @example
   * ```ts
   * const server = yield* NcpTest.make({ handler: myHandler })
   * const socket = yield* server.connectSocket
   * const write = (yield* socket.writer).write
   * // not the CCRE the handshake waits for: the server drops the connection
   * yield* write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"))
   * ```
   */
  readonly connectSocket: Effect.Effect<Socket.Socket>
  /**
   * A `Transport` whose every connection reaches this server, whatever the host and port: provide
   * it to `Client.NcpClient.layer` or `Client.NcpClient.layerReconnecting`. The handshake names
   * the client `test-client`, user `test`.
   */
  readonly transport: Transport["Service"]
  /**
   * The node goes quiet: from now on nothing the server writes reaches its clients (writes wait,
   * in order, until {@link resume}), on open connections and new ones. A client then receives no
   * replies and no keep-alives, and fails with `NetworkTimeout` once its agreed timeout has
   * passed without a packet, as with a node that hangs; a new connection's handshake times out.
   */
  readonly silence: Effect.Effect<void>
  /** Ends {@link silence}: what the server wrote meanwhile goes out, in order. */
  readonly resume: Effect.Effect<void>
  /**
   * Drops every open connection as a TCP reset would: bytes in flight are lost, and both ends
   * fail at once (the client with a `NetworkError`). The server keeps accepting new ones.
   */
  readonly reset: Effect.Effect<void>
}

/** The in-memory server a {@link layerClient} or {@link layerServer} runs, as a service. */
export class TestServer extends Context.Service<TestServer, InMemoryServer>()("@effect-ncp/core/NcpTest/TestServer") {}

const DEFAULT_HOST = "memory"

/**
 * Starts an in-memory server in the current scope, running `options.handler` (the simulated
 * node's by default) for every connection; it stops, and closes its connections, when the scope
 * ends.
 *
 * @example
 * ```ts
 * const server = yield* NcpTest.make({ handler: myHandler })
 * const first = yield* server.connect()
 * const second = yield* server.connect({ requestTimeout: "5 seconds" })
 * ```
 */
export const make = <E = never, R = never, EA = never, RA = never>(
  options: Options<E, R, EA, RA> = {}
): Effect.Effect<InMemoryServer, never, Scope.Scope | R | RA> =>
  Effect.gen(function* () {
    const memory = yield* MemorySocket.makeServer({ capacity: options.capacity })
    const speaking = yield* Latch.make(true)
    const open = new Set<MemorySocket.MemorySocket>()

    // The server's end of each connection: its bytes wait while the node is silent. A close
    // does not: the server aborts a connection with one, which must not wait for `resume`.
    const quietable = (socket: Socket.Socket): Socket.Socket =>
      Socket.make({
        reader: socket.reader,
        writer: Effect.map(socket.writer, (writer) => ({
          write: (chunk) => (Socket.isCloseEvent(chunk) ? writer.write(chunk) : speaking.whenOpen(writer.write(chunk))),
          writeAll: (chunks) => speaking.whenOpen(writer.writeAll(chunks))
        }))
      })
    const socketServer = SocketServer.SocketServer.of({
      address: memory.server.address,
      run: (handle) => memory.server.run((socket) => handle(quietable(socket)))
    })

    // The client's end: known to `reset` while its reader is acquired (the connection is open).
    const clientSocket = Effect.map(memory.connect, (end) =>
      Socket.make({
        reader: Effect.tap(end.reader, () =>
          Effect.andThen(
            Effect.sync(() => open.add(end)),
            Effect.addFinalizer(() => Effect.sync(() => open.delete(end)))
          )
        ),
        writer: end.writer
      })
    )
    const transport = Transport.of({ connect: () => clientSocket, hostname: "test-client", username: "test" })

    const serverOptions: Server.ServerOptions<EA, RA> = {
      ...options.server,
      hello: options.server?.hello ?? (options.handler === undefined ? SimulatedNode.hello : undefined),
      shutdownGrace: options.server?.shutdownGrace ?? 0
    }
    const handler: (connection: Connection.Connection) => Effect.Effect<unknown, E | ConnectionError, R> =
      options.handler ?? SimulatedNode.handler
    yield* Effect.forkScoped(
      Server.serve(handler, serverOptions).pipe(Effect.provideService(SocketServer.SocketServer, socketServer))
    )

    const connect = (clientOptions: ClientOptions = {}) =>
      Client.connect({
        ...options.client,
        ...clientOptions,
        host: clientOptions.host ?? options.client?.host ?? DEFAULT_HOST
      }).pipe(Effect.provideService(Transport, transport))

    return {
      connect,
      connectSocket: clientSocket,
      transport,
      silence: Effect.asVoid(speaking.close),
      resume: Effect.asVoid(speaking.open),
      reset: Effect.suspend(() => Effect.forEach([...open], (end) => end.reset, { discard: true }))
    } satisfies InMemoryServer
  })

/**
 * A client connection to a fresh in-memory server running `options.handler` (the simulated
 * node's by default), for the life of the current scope; the server stops with it.
 *
 * @example
 * ```ts
 * const connection = yield* NcpTest.connect({ client: { requestTimeout: "5 seconds" } })
 * const sweep = yield* CommandClient.call(connection, SimulatedNode.Sweep, { FSTA: 400, FSTP: 500 })
 * ```
 */
export const connect = <E = never, R = never, EA = never, RA = never>(
  options: Options<E, R, EA, RA> = {}
): Effect.Effect<Connection.Connection, ConnectionError, Scope.Scope | R | RA> =>
  Effect.flatMap(make(options), (server) => server.connect())

/**
 * An in-memory server as a Layer: the {@link TestServer} service, and a `Transport` that reaches
 * it, so that any client layer of the core runs against it. The server runs while the layer is
 * alive.
 *
 * @example
 * ```ts
 * import { Client } from "@effect-ncp/core"
 * import { NcpTest } from "@effect-ncp/core/testing"
 * import * as Layer from "effect/Layer"
 *
 * // A reconnecting client of the simulated node, and the server, to reset its connections.
 * const TestLink = Client.NcpClient.layerReconnecting({ host: "node", waitForConnection: true }).pipe(
 *   Layer.provideMerge(NcpTest.layerServer())
 * )
 * ```
 */
export const layerServer = <E = never, R = never, EA = never, RA = never>(
  options: Options<E, R, EA, RA> = {}
): Layer.Layer<TestServer | Transport, never, R | RA> =>
  Layer.effectContext(
    Effect.map(make(options), (server) =>
      Context.make(TestServer, server).pipe(Context.add(Transport, server.transport))
    )
  )

/**
 * A `Client.NcpClient` connected to a fresh in-memory server running `options.handler` (the
 * simulated node's by default), and that server as the {@link TestServer} service. Building the
 * layer starts the server and performs the handshake; releasing it closes the connection, then
 * stops the server. Under `TestClock`, keep-alives and timeouts wait for `TestClock.adjust`.
 *
 * Fails only if the handshake does (a server with `authenticate` refusing the client's
 * credentials, say).
 *
 * @example
 * ```ts
 * import { Client, CommandRouter } from "@effect-ncp/core"
 * import { NcpTest } from "@effect-ncp/core/testing"
 * import * as Effect from "effect/Effect"
 *
 * // A backend service under test, on a client of a node that answers with a router of yours.
 * const program = Effect.gen(function* () {
 *   const node = yield* Client.NcpClient
 *   return yield* node.request("CALC", "ADD", { A: 2, B: 3 })
 * }).pipe(
 *   Effect.provide(NcpTest.layerClient({ handler: CommandRouter.toHandler(router), client: { requestTimeout: "5 seconds" } }))
 * )
 * ```
 */
export const layerClient = <E = never, R = never, EA = never, RA = never>(
  options: Options<E, R, EA, RA> = {}
): Layer.Layer<Client.NcpClient | TestServer, ConnectionError, R | RA> =>
  Layer.effectContext(
    Effect.gen(function* () {
      const server = yield* make(options)
      const connection = yield* server.connect()
      return Context.make(Client.NcpClient, connection).pipe(Context.add(TestServer, server))
    })
  )
