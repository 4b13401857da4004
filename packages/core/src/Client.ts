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
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import * as Handshake from "./internal/handshake.js"
import * as Tunnel from "./internal/tunnel.js"
import { makeWire } from "./internal/wire.js"
import { type TlsOption, Transport } from "./Transport.js"

/** Options of {@link connect}. Only `host` is required. */
export interface ClientOptions {
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
   * The network timeout in seconds asked for in the handshake; 0 for none. It also bounds
   * opening the connection: TCP connect, TLS setup, the tunnel and each handshake step.
   * Default 60.
   */
  readonly timeout?: number | undefined
  /**
   * The default deadline for each reply of `request` and of a `send`'s Response, overridden
   * per call with `{ timeout }`. Past it the wait fails with a `NetworkTimeout` naming the
   * command; the connection stays open. Default: none (a node that never answers a command
   * keeps the request waiting, while keep-alives keep the connection alive).
   */
  readonly requestTimeout?: Duration.Input | undefined
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
  /** The largest packet accepted, in bytes; a larger one ends the connection. Default 64 MiB. */
  readonly maxPacketBytes?: number | undefined
  /**
   * What received data may hold, in bytes: the packet being framed plus the decoded fields no
   * one has taken yet (Responses, `fields` streams, the inbox; each field counted at an
   * estimate of its memory). When it is full, reading pauses until fields are taken, which is
   * backpressure to the node. The packet being framed never waits. Default 64 MiB, room for
   * one of the largest captures.
   */
  readonly maxBufferedBytes?: number | undefined
  /** Outgoing bytes held before a send waits for the socket. Default 1 MiB. */
  readonly maxWriteBufferBytes?: number | undefined
  /** Fields a Response or `fields` stream holds before reading pauses. Default 64. */
  readonly bufferCapacity?: number | undefined
  /**
   * Unclaimed fields (no Response matched them) kept for `recv`/`recvField`; beyond it, or
   * beyond `maxBufferedBytes` of them, the oldest are dropped with a logged warning, so that
   * unread unsolicited fields never stop the replies. Default 1024.
   */
  readonly inboxCapacity?: number | undefined
}

/** The port a client uses when none is given. */
export const defaultPort = (options: Pick<ClientOptions, "tls" | "username" | "password">): number =>
  options.tls !== undefined && options.tls !== false
    ? 443
    : options.username !== undefined || options.password !== undefined
      ? 80
      : 9999

/**
 * Connects to a node and performs the handshake. The connection lives as long as the current
 * scope (or until `close`); everything it holds is released with it.
 */
export const connect = Effect.fn("Client.connect")(function* (
  options: ClientOptions
): Effect.fn.Return<Connection.Connection, ConnectionError, Transport | Scope.Scope> {
  const transport = yield* Transport
  const tls = options.tls ?? false
  const port = options.port ?? defaultPort(options)
  const remote = options.remoteHostname ?? `${options.host}:${port}`
  const timeout = options.timeout ?? 60
  const hostname = options.hostname ?? transport.hostname
  const parent = yield* Effect.scope
  const scope = yield* Scope.fork(parent)
  return yield* Effect.gen(function* () {
    const socket = yield* transport.connect({ host: options.host, port, tls, timeout })
    const maxBufferedBytes = options.maxBufferedBytes ?? 64 * 1024 * 1024
    const wire = yield* makeWire(socket, {
      remote,
      maxPacketBytes: options.maxPacketBytes,
      maxBufferedBytes,
      maxWriteBufferBytes: options.maxWriteBufferBytes
    })
    if (tls !== false || options.username !== undefined || options.password !== undefined) {
      const password = options.password ?? ""
      yield* Tunnel.client(
        wire,
        {
          username: options.username ?? "",
          password: typeof password === "string" ? Redacted.make(password) : password
        },
        timeout
      )
    }
    const agreement = yield* Handshake.client(
      wire,
      {
        hostname,
        username: options.connectionUsername ?? transport.username,
        domain: options.connectionDomain ?? ""
      },
      timeout
    )
    const { connection } = yield* Connection.make(
      wire,
      {
        timeout: agreement.timeout,
        stallTimeout: agreement.timeout > 0 ? agreement.timeout : timeout,
        requestTimeout: options.requestTimeout,
        autoErro: options.autoErro ?? true,
        autoWarn: options.autoWarn ?? true,
        autoAckn: options.autoAckn ?? true,
        bufferCapacity: options.bufferCapacity ?? 64,
        inboxCapacity: options.inboxCapacity ?? 1024,
        inboxOverflow: "dropOldest",
        inboxBytes: maxBufferedBytes,
        nextFieldId: agreement.nextFieldId
      },
      scope
    )
    return connection
  }).pipe(
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
  static readonly layer = (options: ClientOptions): Layer.Layer<NcpClient, ConnectionError, Transport> =>
    Layer.effect(NcpClient, connect(options))
}
