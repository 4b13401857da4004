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
 * @module
 * @since 0.1.0
 */
import * as Os from "node:os"
import { Transport } from "@effect-ncp/core"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { type TlsOptions as ConnectTlsOptions, connect } from "./internal/connect.js"

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
  /**
   * The user name sent in the handshake. Default: `os.userInfo().username`, else the `USER`,
   * `LOGNAME` or `USERNAME` environment variable, else `"unknown"`.
   */
  readonly username?: string | undefined
}

/** `tls.connect` options this transport accepts in `ConnectTarget.tls`. */
export type TlsOptions = ConnectTlsOptions

/**
 * The local user name: `os.userInfo().username`, else the `USER`, `LOGNAME` or `USERNAME`
 * environment variable, else `"unknown"`.
 */
const localUsername = (): string => {
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
const localHostname = (): string => Os.hostname() || "localhost"

/**
 * A Node `Transport`. `tls: true` uses `tls.connect`'s defaults (the system's certificate
 * authorities, the host name as SNI and identity); an object is passed to `tls.connect` as is
 * (`ca`, `servername`, `rejectUnauthorized`, `checkServerIdentity`, client `cert`/`key`, ...).
 *
 * TCP uses `allowHalfOpen` (NCP closes each direction on its own) and `noDelay` (Nagle's
 * algorithm would hold small commands back). Connections drive the sockets directly, one `data`
 * event and one `write` per packet (see `Transport.DirectSocket`); the `Socket`'s own reader and
 * writer work too, for other uses.
 */
export const make = (options: Options = {}): Effect.Effect<Transport.Transport["Service"]> =>
  Effect.sync(() =>
    Transport.Transport.of({
      connect: (target) => connect(target, { openTimeout: options.openTimeout }),
      hostname: options.hostname ?? localHostname(),
      username: options.username ?? localUsername()
    })
  )

/** The Node `Transport` with the default options. */
export const layer: Layer.Layer<Transport.Transport> = Layer.effect(Transport.Transport, make())
