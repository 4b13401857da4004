/**
 * What a connection needs from the platform: a way to open a byte `Socket` to a host and port,
 * with or without TLS, and the local host and user names the LINK handshake sends. The core is
 * platform-neutral; `@effect-ncp/node` provides this service for Node's `net` and `tls`.
 *
 * @module
 * @since 0.1.0
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"

/**
 * TLS settings: `true` for the platform's defaults (verify the certificate against the system's
 * authorities), or platform options passed through (for Node, `tls.connect` options such as
 * `ca`, `servername`, `rejectUnauthorized`).
 */
export type TlsOption = boolean | { readonly [option: string]: unknown }

/** Where to connect. */
export interface ConnectTarget {
  readonly host: string
  readonly port: number
  readonly tls: TlsOption
  /**
   * The longest time opening may take, TCP connect and TLS setup included, in seconds; 0 or
   * missing for no limit. Transports fail the socket's reader acquisition past it.
   */
  readonly timeout?: number | undefined
}

/** The platform's side of a connection. */
export class Transport extends Context.Service<
  Transport,
  {
    /**
     * A socket to the target. Opening is lazy, as with `effect/socket`: the connection is made
     * when the socket's reader is acquired, and closed with that reader's scope.
     */
    readonly connect: (target: ConnectTarget) => Effect.Effect<Socket.Socket>
    /** The local host name, sent as `CIW` and `CAR` in the handshake. */
    readonly hostname: string
    /** The local user name, sent as `CUSR` in the handshake. */
    readonly username: string
  }
>()("@effect-ncp/core/Transport") {}

/** The far end of a connection: its IP address and port. */
export interface PeerAddress {
  readonly address: string
  readonly port: number
}

/**
 * The client at the far end of an accepted connection, where the platform tells it: the Node
 * listener provides it to each connection's handler. A server uses it to count connections per
 * client address and to name the client in its logs; without it, every client counts as one
 * unknown address.
 */
export class AcceptedPeer extends Context.Service<AcceptedPeer, PeerAddress>()(
  "@effect-ncp/core/Transport/AcceptedPeer"
) {}

/**
 * What a {@link DirectSocket} tells the connection driving it. Each is called synchronously,
 * from the platform's own events.
 */
export interface DirectHandlers {
  /** Bytes received, in order. The connection may keep the chunk: the platform must not reuse it. */
  readonly data: (chunk: Uint8Array) => void
  /** The peer closed its sending side (TCP's FIN): nothing more will be received. */
  readonly end: () => void
  /** The connection failed, reading or writing: nothing more will be received or sent. */
  readonly fail: (error: Socket.SocketError) => void
}

/**
 * A byte socket a connection drives without a fiber per read or write: the platform pushes
 * received bytes to the connection as they arrive and takes written bytes at once. Over
 * `effect/socket`'s pull-based `Reader` and `Writer`, each read and write is a fiber suspended
 * and resumed, which costs more than framing, decoding and encoding a small packet together. A
 * `Socket` that can also be driven this way says so with {@link withDirect}; connections use it
 * when it is there, and the `Socket`'s reader and writer otherwise.
 *
 * Backpressure is kept in both directions: {@link DirectSocket.pause} stops reading from the
 * peer until {@link DirectSocket.resume}, and {@link DirectSocket.write} says when the platform
 * holds as much as it should, so the connection holds further bytes (within its own byte
 * limit) until {@link DirectSocket.whenDrained}.
 */
export interface DirectSocket {
  /** Starts delivering to `handlers`; called once, when the connection takes over reading. */
  readonly start: (handlers: DirectHandlers) => void
  /** Stops delivering received bytes (and reading them from the peer) until {@link resume}. */
  readonly pause: () => void
  /** Delivers again after {@link pause}. */
  readonly resume: () => void
  /**
   * Hands bytes to the platform at once, in order, as one write where it can. `false` when the
   * platform now holds as much as it wants: the connection writes more after {@link whenDrained}.
   * After a failure, bytes are dropped (the failure has been or will be reported to `fail`).
   */
  readonly write: (chunks: NonEmptyReadonlyArray<Uint8Array>) => boolean
  /** Bytes handed to {@link write} that the platform has not passed on to the peer yet. */
  readonly pendingBytes: () => number
  /**
   * Calls `f` once the platform holds no bytes it has not passed on (at once if it holds none),
   * or once the connection has failed.
   */
  readonly whenDrained: (f: () => void) => void
  /** Drops the connection at once, with whatever was not sent yet. */
  readonly abort: () => void
}

/** The key under which a `Socket` offers a {@link DirectSocket}. */
export const DirectTypeId = "~@effect-ncp/core/Transport/DirectSocket"

/**
 * A `Socket` that can also be driven directly. Acquiring the `DirectSocket` opens the
 * connection, as acquiring the reader does, and releasing its scope closes it: gracefully (what
 * was written is sent first) unless it was aborted. Use one or the other, not both.
 */
export interface DirectCapable extends Socket.Socket {
  readonly [DirectTypeId]: Effect.Effect<DirectSocket, Socket.SocketError, Scope.Scope>
}

/**
 * `socket`, which can also be driven directly through `direct`: what a platform's transport
 * returns so that connections skip the fiber per read and write.
 *
 * @example
 * ```ts
 * import { Transport } from "@effect-ncp/core"
 * import type * as Effect from "effect/Effect"
 * import type * as Scope from "effect/Scope"
 * import type * as Socket from "effect/socket/Socket"
 *
 * declare const socket: Socket.Socket
 * declare const open: Effect.Effect<Transport.DirectSocket, Socket.SocketError, Scope.Scope>
 * const capable = Transport.withDirect(socket, open)
 * ```
 */
export const withDirect = (
  socket: Socket.Socket,
  direct: Effect.Effect<DirectSocket, Socket.SocketError, Scope.Scope>
): DirectCapable => ({ ...socket, [DirectTypeId]: direct })

/** Whether `socket` can be driven directly. */
export const isDirectCapable = (socket: Socket.Socket): socket is DirectCapable => DirectTypeId in socket
