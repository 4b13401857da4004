/**
 * A listening TCP or TLS socket for an NCP server on Node.js: an `effect/socket`
 * `SocketServer` whose connections are set up the way NCP needs them. Hand its `run` a
 * connection handler (the core `Server` does); the listener closes with the scope.
 *
 * @example
 * ```ts
 * import { NcpSocketServer } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* NcpSocketServer.make({ host: "127.0.0.1", port: 0 })
 *   console.log("listening on", NcpSocketServer.formatAddress(server.address))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @since 0.1.0
 */
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"

/** Options of {@link make}. */
export interface Options {
  /** The address to listen on. Default `"0.0.0.0"` (every IPv4 interface). */
  readonly host?: string | undefined
  /** The port to listen on; 0 picks a free one, read it back with {@link port}. */
  readonly port: number
  /** Serve TLS with this private key and certificate (PEM), e.g. from `SelfSignedCertificate`. */
  readonly tls?:
    | {
        readonly key: string | Uint8Array
        readonly cert: string | Uint8Array
      }
    | undefined
  /** With `tls`: the longest a client may take over its TLS handshake. Default 10 seconds. */
  readonly handshakeTimeout?: Duration.Input | undefined
}

/**
 * Listens on the host and port; the listener is bound when this succeeds, and closed with the
 * scope (closing interrupts the handlers started by `run` in that scope and waits for their
 * connections to close). Fails with a `SocketServerError` when it cannot listen (the port is in
 * use, the address is not local).
 *
 * With `tls`, each connection's TLS handshake runs when its handler acquires the socket's
 * reader; a failed or stalled (over `handshakeTimeout`) handshake fails that acquisition with
 * a `SocketUpgradeError` or a `SocketOpenError` of kind `"Timeout"`.
 */
export const make = (
  options: Options
): Effect.Effect<SocketServer.SocketServer["Service"], SocketServer.SocketServerError, Scope.Scope> =>
  Effect.map(
    NodeSocketServer.make({
      host: options.host ?? "0.0.0.0",
      port: options.port,
      // NCP closes each direction on its own: with Node's default, a client's FIN makes Node
      // destroy the socket, and a reply written after it never completes
      allowHalfOpen: true,
      // request/response traffic: do not let Nagle's algorithm hold small replies back
      noDelay: true
    }),
    (server) => (options.tls === undefined ? server : withTls(server, options.tls, options.handshakeTimeout))
  )

/**
 * TLS on accepted TCP connections, not `NodeSocketServer.makeTls`: a `tls.Server` with
 * `allowHalfOpen` never notices a client that closes during the handshake (a refused
 * certificate, a port probe), and keeps that socket, and its own `close()`, waiting forever.
 * Upgrading in the handler's reader acquisition puts the handshake in the handler's scope,
 * under a timeout, and interrupted when the server closes.
 */
const withTls = (
  server: SocketServer.SocketServer["Service"],
  tls: NonNullable<Options["tls"]>,
  handshakeTimeout: Duration.Input = "10 seconds"
): SocketServer.SocketServer["Service"] => {
  const credentials: Socket.TlsUpgradeOptions = { key: Redacted.make(tls.key), cert: tls.cert }
  const secure = (socket: Socket.Socket): Socket.Socket =>
    Socket.make({
      reader: Effect.tap(socket.reader, (reader) =>
        reader.upgrade(credentials).pipe(
          Effect.timeoutOrElse({
            duration: handshakeTimeout,
            orElse: () =>
              Effect.fail(
                new Socket.SocketError({
                  reason: new Socket.SocketOpenError({ kind: "Timeout", cause: new Error("TLS handshake timed out") })
                })
              )
          })
        )
      ),
      writer: socket.writer
    })
  return SocketServer.SocketServer.of({
    address: server.address,
    run: (handler) => server.run((socket) => handler(secure(socket)))
  })
}

/** A layer of the `SocketServer` service, listening while the layer is in use. */
export const layer = (options: Options): Layer.Layer<SocketServer.SocketServer, SocketServer.SocketServerError> =>
  Layer.effect(SocketServer.SocketServer, make(options))

/** The port a server is bound to, or `undefined` for a Unix socket path. */
export const port = (address: NetAddress.SocketAddress): number | undefined =>
  address._tag === "UnixPathAddress" ? undefined : address.port

/** The address as text: `127.0.0.1:9999`, `[::1]:9999`, or the Unix socket path. */
export const formatAddress = (address: NetAddress.SocketAddress): string => NetAddress.formatSocketAddress(address)
