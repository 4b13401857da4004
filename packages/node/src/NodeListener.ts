/**
 * A listening TCP or TLS socket for an NCP server on Node.js: an `effect/socket`
 * `SocketServer` whose connections are set up the way NCP needs them. Hand its `run` a
 * connection handler (the core `Server` does); the listener closes with the scope.
 *
 * @example
 * ```ts
 * import { NodeListener } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* NodeListener.make({ host: "127.0.0.1", port: 0 })
 *   console.log("listening on", NodeListener.formatAddress(server.address))
 * }).pipe(Effect.scoped)
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Tls from "node:tls"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import * as NodeSocketServer from "@effect/platform-node/NodeSocketServer"
import { Transport } from "@effect-ncp/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as NetAddress from "effect/net/NetAddress"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import { acceptedDirect } from "./internal/direct.js"

/**
 * A TLS server's settings, as `tls.createServer` takes them: the key and certificate, and for
 * client certificates the authorities to check them against and `requestCert`.
 */
export interface TlsOptions {
  /** The private key (PEM). */
  readonly key: string | Uint8Array
  /** The certificate (PEM), with its chain. */
  readonly cert: string | Uint8Array
  /** The passphrase of an encrypted key. */
  readonly passphrase?: string | undefined
  /** Authorities to trust for client certificates (PEM), instead of the system's. */
  readonly ca?: string | Uint8Array | ReadonlyArray<string | Uint8Array> | undefined
  /** Ask clients for a certificate. Default false. */
  readonly requestCert?: boolean | undefined
  /** With `requestCert`: refuse a client whose certificate does not verify against `ca`. Default true. */
  readonly rejectUnauthorized?: boolean | undefined
  /** ALPN protocols offered, in order of preference. */
  readonly alpnProtocols?: ReadonlyArray<string> | undefined
}

/** Options of {@link make}. */
export interface Options {
  /** The address to listen on. Default `"0.0.0.0"` (every IPv4 interface). */
  readonly host?: string | undefined
  /** The port to listen on; 0 picks a free one, read it back with {@link port}. */
  readonly port: number
  /** Serve TLS with this key and certificate (PEM), e.g. from `SelfSignedCertificate`, and these settings. */
  readonly tls?: TlsOptions | undefined
  /** With `tls`: the longest a client may take over its TLS handshake. Default 10 seconds. */
  readonly handshakeTimeout?: Duration.Input | undefined
  /**
   * How many connections the kernel may queue before they are accepted (`listen`'s backlog;
   * the kernel caps it, at `net.core.somaxconn` on Linux). Default 4,096, room for a burst of
   * thousands of connects; Node's own default is 511.
   */
  readonly backlog?: number | undefined
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
  Effect.andThen(
    checkTls(options.tls),
    Effect.map(
      NodeSocketServer.make({
        host: options.host ?? "0.0.0.0",
        port: options.port,
        backlog: options.backlog ?? 4096,
        // NCP closes each direction on its own: with Node's default, a client's FIN makes Node
        // destroy the socket, and a reply written after it never completes
        allowHalfOpen: true,
        // request/response traffic: do not let Nagle's algorithm hold small replies back
        noDelay: true
      }),
      (server) =>
        withPeer(
          options.tls === undefined ? withDirect(server) : withTls(server, options.tls, options.handshakeTimeout)
        )
    )
  )

/**
 * Fails at once when the key and certificate are not usable, rather than listen and then fail
 * every client's handshake.
 */
const checkTls = (tls: Options["tls"]): Effect.Effect<void, SocketServer.SocketServerError> =>
  tls === undefined
    ? Effect.void
    : Effect.try({
        try: () => {
          const pem = (value: string | Uint8Array) => (typeof value === "string" ? value : Buffer.from(value))
          Tls.createSecureContext({
            key: pem(tls.key),
            cert: pem(tls.cert),
            ...(tls.passphrase === undefined ? {} : { passphrase: tls.passphrase }),
            ...(tls.ca === undefined ? {} : { ca: (Array.isArray(tls.ca) ? tls.ca : [tls.ca]).map(pem) })
          })
        },
        catch: (cause) =>
          new SocketServer.SocketServerError({
            reason: new SocketServer.SocketServerOpenError({
              cause: new Error(
                `the TLS key and certificate are not usable: ${cause instanceof Error ? cause.message : String(cause)}`
              )
            })
          })
      })

/** Tells each connection's handler who the client is (`Transport.AcceptedPeer`), from Node's socket. */
const withPeer = (server: SocketServer.SocketServer["Service"]): SocketServer.SocketServer["Service"] =>
  SocketServer.SocketServer.of({
    address: server.address,
    run: (handler) =>
      server.run((socket) =>
        Effect.flatMap(Effect.serviceOption(NodeSocket.NetSocket), (net) =>
          net._tag === "None"
            ? handler(socket)
            : Effect.provideService(handler(socket), Transport.AcceptedPeer, {
                address: net.value.remoteAddress ?? "unknown",
                port: net.value.remotePort ?? 0
              })
        )
      )
  })

/**
 * Plain TCP connections that NCP connections drive directly (see `Transport.DirectSocket`): one
 * `data` event and one `write` per packet, no fiber per read or write. The `Socket`'s own reader
 * and writer still work for other handlers; a handler uses one or the other.
 */
const withDirect = (server: SocketServer.SocketServer["Service"]): SocketServer.SocketServer["Service"] =>
  SocketServer.SocketServer.of({
    address: server.address,
    run: (handler) =>
      server.run((socket) =>
        Effect.flatMap(Effect.serviceOption(NodeSocket.NetSocket), (net) =>
          handler(net._tag === "Some" ? Transport.withDirect(socket, acceptedDirect(net.value)) : socket)
        )
      )
  })

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
  const credentials: Socket.TlsUpgradeOptions = {
    key: Redacted.make(tls.key),
    cert: tls.cert,
    ca: tls.ca,
    passphrase: tls.passphrase === undefined ? undefined : Redacted.make(tls.passphrase),
    requestCert: tls.requestCert,
    rejectUnauthorized: tls.requestCert === true ? (tls.rejectUnauthorized ?? true) : tls.rejectUnauthorized,
    alpnProtocols: tls.alpnProtocols
  }
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
