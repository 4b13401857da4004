/**
 * What a connection needs from the platform: a way to open a byte `Socket` to a host and port,
 * with or without TLS, and the local host and user names the LINK handshake sends. The core is
 * platform-neutral; `@effect-ncp/node` provides this service for Node's `net` and `tls`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
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
