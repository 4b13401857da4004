/**
 * The `Transport` of `@effect-ncp/core` for Node.js: plain TCP with `node:net`, TLS with
 * `node:tls`, and the local host and user names from `node:os`.
 *
 * Provide {@link layer} to any program that opens NCP connections on Node.
 *
 * @example
 * ```ts
 * import { NodeTransport } from "@effect-ncp/node"
 * import { Transport } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const transport = yield* Transport.Transport
 *   const socket = yield* transport.connect({ host: "127.0.0.1", port: 9999, tls: false })
 *   // acquiring socket.reader dials the connection
 * })
 * program.pipe(Effect.provide(NodeTransport.layer))
 * ```
 *
 * @since 0.1.0
 */
import * as Net from "node:net"
import * as Os from "node:os"
import * as Tls from "node:tls"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Transport } from "@effect-ncp/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"

/** Options of {@link make}. */
export interface Options {
  /**
   * The longest time to open a connection, TCP connect and TLS handshake included; it fails
   * with a `SocketOpenError` of kind `"Timeout"` after it. Default: the connection's timeout
   * (`ConnectTarget.timeout`, the client's `timeout` option), none when that is 0. It runs on
   * the Effect `Clock`, so under `TestClock` it only fires when the test adjusts the clock.
   */
  readonly openTimeout?: Duration.Input | undefined
  /** The host name sent in the handshake. Default `os.hostname()`. */
  readonly hostname?: string | undefined
  /** The user name sent in the handshake. Default: see {@link localUsername}. */
  readonly username?: string | undefined
}

/** `tls.connect` options this transport accepts in `ConnectTarget.tls`. */
export type TlsOptions = Omit<Tls.ConnectionOptions, "host" | "port" | "socket" | "path">

/**
 * The local user name: `os.userInfo().username`, else the `USER`, `LOGNAME` or `USERNAME`
 * environment variable, else `"unknown"`.
 */
export const localUsername = (): string => {
  try {
    const name = Os.userInfo().username
    if (name !== "") return name
  } catch {
    // os.userInfo throws when the uid has no passwd entry (containers run with an arbitrary uid)
  }
  const env = process.env
  return env.USER || env.LOGNAME || env.USERNAME || "unknown"
}

/** The local host name, `os.hostname()`, or `"localhost"` when it is empty. */
export const localHostname = (): string => Os.hostname() || "localhost"

/**
 * Opens a TCP socket. `allowHalfOpen`: NCP closes each direction on its own (a client may send
 * its last command and FIN, then read the replies); with Node's default `false`, Node destroys
 * the socket when the peer's FIN arrives, and a later write never completes.
 * `noDelay`: NCP is request/response; Nagle's algorithm would hold small commands back.
 */
const connectNet = (target: Transport.ConnectTarget, options: Options): Effect.Effect<Socket.Socket> =>
  NodeSocket.makeNet({
    host: target.host,
    port: target.port,
    allowHalfOpen: true,
    noDelay: true,
    openTimeout: openTimeout(target, options)
  })

const openTimeout = (target: Transport.ConnectTarget, options: Options): Duration.Input | undefined =>
  options.openTimeout ??
  (target.timeout !== undefined && target.timeout > 0 ? Duration.seconds(target.timeout) : undefined)

/**
 * Opens a TLS socket. Not `NodeSocket.makeTls`: `tls.connect` ignores the `noDelay` option on
 * Node 20 to 24 (it does not reach the underlying `net.Socket`), so the socket is created here
 * and `setNoDelay` called before it connects; the rest mirrors `makeTls`.
 */
const connectTls = (
  target: Transport.ConnectTarget,
  tlsOptions: TlsOptions,
  options: Options
): Effect.Effect<Socket.Socket> =>
  NodeSocket.fromDuplex(
    Effect.gen(function* () {
      const scope = yield* Effect.scope
      let conn: Tls.TLSSocket | undefined
      let open = false
      yield* Scope.addFinalizer(
        scope,
        Effect.sync(() => {
          if (conn === undefined || conn.closed) return
          // flush what was written before closing an open connection; abort one still opening
          if (open) conn.destroySoon()
          else conn.destroy()
        })
      )
      return yield* Effect.callback<Tls.TLSSocket, Socket.SocketError>((resume) => {
        // allowHalfOpen: see connectNet; tls.connect honours it though @types/node omits it
        const connectOptions: Tls.ConnectionOptions & { readonly allowHalfOpen: boolean } = {
          // SNI and the identity check use the host name; Node deprecates an IP as servername
          // and checks an IP host against the certificate's IP addresses without one
          ...(Net.isIP(target.host) === 0 ? { servername: target.host } : {}),
          ...tlsOptions,
          host: target.host,
          port: target.port,
          allowHalfOpen: true
        }
        const socket = Tls.connect(connectOptions)
        conn = socket
        socket.setNoDelay(true)
        socket.once("secureConnect", () => {
          open = true
          resume(Effect.succeed(socket))
        })
        socket.on("error", (cause: Error) =>
          resume(
            Effect.fail(new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) }))
          )
        )
      })
    }),
    { openTimeout: openTimeout(target, options) }
  )

/**
 * A Node `Transport`. `tls: true` uses `tls.connect`'s defaults (the system's certificate
 * authorities, the host name as SNI and identity); an object is passed to `tls.connect` as is
 * (`ca`, `servername`, `rejectUnauthorized`, `checkServerIdentity`, client `cert`/`key`, ...).
 */
export const make = (options: Options = {}): Effect.Effect<Transport.Transport["Service"]> =>
  Effect.sync(() =>
    Transport.Transport.of({
      connect: (target) =>
        target.tls === false
          ? connectNet(target, options)
          : connectTls(
              target,
              // core's TlsOption is platform-neutral; on Node it is documented as tls.connect options
              target.tls === true ? {} : (target.tls as TlsOptions),
              options
            ),
      hostname: options.hostname ?? localHostname(),
      username: options.username ?? localUsername()
    })
  )

/** The Node `Transport` with the default options. */
export const layer: Layer.Layer<Transport.Transport> = Layer.effect(Transport.Transport, make())

/** The Node `Transport` with options, e.g. an `openTimeout`. */
export const layerWith = (options: Options): Layer.Layer<Transport.Transport> =>
  Layer.effect(Transport.Transport, make(options))
