/**
 * Opening a client's socket on Node, as `NodeTransport` and the Promise API do: plain TCP with
 * `node:net` or TLS with `node:tls`, set up the way NCP needs, each a `Socket` that connections
 * drive directly (see `Transport.DirectSocket`), with the spans `ncp.tcp` and `ncp.tls` when a
 * tracer is installed.
 *
 * @internal
 */
import * as Net from "node:net"
import * as Tls from "node:tls"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Transport } from "@effect-ncp/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import * as Tracer from "effect/Tracer"
import { directSocket, opening, withOpenTimeout } from "./direct.js"

/** `tls.connect` options a client accepts in `ConnectTarget.tls`. */
export type TlsOptions = Omit<Tls.ConnectionOptions, "host" | "port" | "socket" | "path">

/** How sockets are opened. */
export interface ConnectOptions {
  /** The longest time to open one, TCP connect and TLS handshake included; none when missing. */
  readonly openTimeout?: Duration.Input | undefined
  /** Called with each socket as soon as it is created (the Promise API refs and unrefs it). */
  readonly onSocket?: ((socket: Net.Socket) => void) | undefined
}

/**
 * `effect` under a span, unless the tracer is Effect's native one (nobody exports its spans):
 * then as it is. No stack trace: it would point here, not at the caller.
 */
const traced = <A, E, R>(effect: Effect.Effect<A, E, R>, name: string, options: Tracer.SpanOptionsNoTrace) =>
  Effect.flatMap(Effect.tracer, (tracer) =>
    tracer === Tracer.nativeTracer ? effect : Effect.withSpan(effect, name, { ...options, captureStackTrace: false })
  )

/**
 * A socket opened by `open`: its reader and writer for whoever uses the `Socket` as it is, and
 * the same socket driven directly for NCP connections. Opening happens when the reader (or the
 * direct socket) is acquired, within `openTimeout`.
 */
const directCapable = (
  open: Effect.Effect<Net.Socket, Socket.SocketError, Scope.Scope>,
  openTimeout: Duration.Input | undefined
): Effect.Effect<Socket.Socket> =>
  Effect.map(NodeSocket.fromDuplex(open, { openTimeout }), (socket) =>
    Transport.withDirect(socket, Effect.map(withOpenTimeout(open, openTimeout), directSocket))
  )

/**
 * A TCP socket. `allowHalfOpen`: NCP closes each direction on its own (a client may send its
 * last command and FIN, then read the replies); with Node's default `false`, Node destroys the
 * socket when the peer's FIN arrives, and a later write never completes. `noDelay`: NCP is
 * request/response; Nagle's algorithm would hold small commands back.
 */
const connectNet = (target: Transport.ConnectTarget, options: ConnectOptions): Effect.Effect<Socket.Socket> => {
  const open = opening(() => {
    const socket = Net.createConnection({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true })
    options.onSocket?.(socket)
    return socket
  }, "connect")
  // opening is the TCP connect's span
  return directCapable(
    traced(open, "ncp.tcp", { attributes: { "server.address": target.host, "server.port": target.port } }),
    options.openTimeout
  )
}

/**
 * Spans `ncp.tcp` and `ncp.tls` for a TLS connection opened in one `tls.connect`, from the
 * times of its `connect` and `secureConnect` events, as children of the current span.
 */
const tlsSpans = Effect.gen(function* () {
  const tracer = yield* Effect.tracer
  if (tracer === Tracer.nativeTracer) return undefined
  const parent = yield* Effect.option(Effect.currentSpan)
  const clock = yield* Effect.clockWith(Effect.succeed)
  const started = clock.currentTimeNanosUnsafe()
  let connected = started
  const span = (name: string, start: bigint, end: bigint, attributes: Record<string, unknown>) => {
    const made = tracer.span({
      name,
      parent,
      annotations: Context.empty(),
      links: [],
      startTime: start,
      kind: "client",
      root: false,
      sampled: true
    })
    for (const [key, value] of Object.entries(attributes)) made.attribute(key, value)
    made.end(end, Exit.void)
  }
  return {
    tcpConnected: () => {
      connected = clock.currentTimeNanosUnsafe()
    },
    secured: (attributes: Record<string, unknown>) => {
      const now = clock.currentTimeNanosUnsafe()
      span("ncp.tcp", started, connected, attributes)
      span("ncp.tls", connected, now, attributes)
    }
  }
})

/**
 * A TLS socket. Not `NodeSocket.makeTls`: `tls.connect` ignores the `noDelay` option on Node 20
 * to 24 (it does not reach the underlying `net.Socket`), so the socket is created here and
 * `setNoDelay` called before it connects; the rest mirrors `makeTls`.
 */
const connectTls = (
  target: Transport.ConnectTarget,
  tlsOptions: TlsOptions,
  options: ConnectOptions
): Effect.Effect<Socket.Socket> => {
  const open = Effect.flatMap(tlsSpans, (spans) =>
    opening(
      () => {
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
        options.onSocket?.(socket)
        socket.setNoDelay(true)
        socket.once("connect", () => spans?.tcpConnected())
        return socket
      },
      "secureConnect",
      (socket) =>
        spans?.secured({
          "server.address": target.host,
          "server.port": target.port,
          "tls.protocol.version": socket.getProtocol() ?? ""
        })
    )
  )
  return directCapable(open, options.openTimeout)
}

/**
 * A socket to the target, TCP or TLS. `tls: true` uses `tls.connect`'s defaults (the system's
 * certificate authorities, the host name as SNI and identity); an object is passed to
 * `tls.connect` as is. The open timeout is `options.openTimeout`, else the target's.
 */
export const connect = (target: Transport.ConnectTarget, options: ConnectOptions): Effect.Effect<Socket.Socket> => {
  const openTimeout =
    options.openTimeout ??
    (target.timeout !== undefined && target.timeout > 0 ? Duration.seconds(target.timeout) : undefined)
  const resolved: ConnectOptions = { openTimeout, onSocket: options.onSocket }
  return target.tls === false
    ? connectNet(target, resolved)
    : connectTls(
        target,
        // core's TlsOption is platform-neutral; on Node it is documented as tls.connect options
        target.tls === true ? {} : (target.tls as TlsOptions),
        resolved
      )
}
