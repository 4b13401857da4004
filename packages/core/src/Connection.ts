/**
 * An open NCP connection, client or server side, after the LINK handshake.
 *
 * One fiber reads packets and routes every field: to each waiting `Response` whose packet type,
 * field name and field id it matches, to every subscriber of `fields`, and otherwise to the
 * connection's inbox, read by `recv` and `recvField`. A slow Response or subscriber makes
 * routing wait, which stops reading the socket (backpressure to the peer) instead of buffering
 * without bound. The inbox of a client keeps the newest unclaimed fields and logs what it
 * drops, so unsolicited fields nobody reads cannot stall the replies; a server's inbox waits.
 * Another fiber sends keep-alives, a third watches the receive timeout. All live in the
 * connection's scope.
 *
 * @example
 * ```ts
 * import { Connection } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 *
 * declare const connection: Connection.Connection
 * const program = Effect.gen(function* () {
 *   const reply = yield* connection.request("DSPC", "SWEP", { FSTA: 10000, FSTP: 18000 })
 *   console.log(reply.params)
 * })
 * ```
 *
 * @module
 * @since 0.1.0
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import type { CommandWarning, ConnectionError } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import type * as Timestamp from "./Timestamp.js"

/** A field received on a connection, with its packet's header and a way to reply to it. */
export interface IncomingField extends Field.Field {
  readonly packetType: string
  readonly packetId: number
  readonly packetTimestamp: Timestamp.Timestamp
  /** Replies to this field: a packet of the same type with one field of the same name and id. */
  readonly reply: (params?: Field.ParamsInput) => Effect.Effect<void, ConnectionError>
  /** The connection the field came in on: a handler that answers later can keep it. */
  readonly connection: Connection
  /**
   * On a server with a tracer installed, the span of this command (kind server, named after it,
   * `DSPC SWEP`), which its first reply ends; otherwise `undefined`. `CommandRouter` runs each
   * route under it; a handler of its own nests its work with `Effect.withParentSpan(field.span)`.
   */
  readonly span: Tracer.Span | undefined
}

/**
 * The replies to a command: fields of the same packet type, name and id. Registered before the
 * command is sent, so no reply is missed, and for the life of the scope `send` ran in.
 */
export interface Response {
  readonly packetType: string
  /** The name of the (first) field sent. */
  readonly fieldName: string
  /** The id of the (first) field sent. */
  readonly fieldId: number
  /** The next reply. Fails with a `CommandError` for an error reply. */
  readonly recv: Effect.Effect<IncomingField, ConnectionError>
  /** The next reply to the sent field called `name` (for a packet of several fields). */
  readonly recvField: (name: string) => Effect.Effect<IncomingField, ConnectionError>
  /** Every reply as a Stream; it ends when the connection closes gracefully. */
  readonly fields: Stream.Stream<IncomingField, ConnectionError>
}

/** A field to send in a packet of several fields. */
export interface OutgoingField {
  readonly name: string
  readonly params?: Field.ParamsInput | undefined
}

/**
 * Options of `send`, `sendPacket` and `request`.
 *
 * @example
 * ```ts
 * // Fails with a NetworkTimeout naming "DSPC SWEP" if no reply comes within 5 seconds.
 * const reply = yield* connection.request("DSPC", "SWEP", { FSTA: 400, FSTP: 500 }, { timeout: "5 seconds" })
 * ```
 */
export interface RequestOptions {
  /**
   * The longest wait for each reply: `request`'s first reply, or each `recv`, `recvField` and
   * element of `fields` of the `Response` that `send` returns. Past it the wait fails with a
   * `NetworkTimeout` whose `command` names the packet type and field; the connection stays
   * open. Default: the connection's `requestTimeout` (none unless set).
   */
  readonly timeout?: Duration.Input | undefined
}

/** An open NCP connection. */
export interface Connection {
  /** The peer's name: `host:port` for a client (unless told otherwise), the client's `CIW` for a server. */
  readonly remoteHostname: string
  /**
   * The peer's address: for a client the host it connected to (a name or an IP address), for a
   * server the client's IP address where the platform tells it (`undefined` otherwise).
   */
  readonly remoteAddress: string | undefined
  /** The peer's port: the node's for a client, the client's for a server where the platform tells it. */
  readonly remotePort: number | undefined
  /** The timeout agreed in the handshake, in seconds (0: a legacy peer, keep-alive every 3 s). */
  readonly timeout: number
  /**
   * Sends one field (a command) and returns its `Response`, registered for the life of the
   * current scope. Completes when the bytes are handed to the socket.
   */
  readonly send: (
    packetType: string,
    fieldName: string,
    params?: Field.ParamsInput,
    options?: RequestOptions
  ) => Effect.Effect<Response, ConnectionError, Scope.Scope>
  /** Sends a packet of one or more fields; the `Response` gets the replies to any of them. */
  readonly sendPacket: (
    packetType: string,
    fields: NonEmptyReadonlyArray<OutgoingField>,
    options?: RequestOptions
  ) => Effect.Effect<Response, ConnectionError, Scope.Scope>
  /**
   * Sends one field and waits for its first reply (`send` then `Response.recv`, without a
   * Scope). With a `timeout` (or the connection's `requestTimeout`), a node that never answers
   * fails it with a `NetworkTimeout` instead of keeping it waiting.
   */
  readonly request: (
    packetType: string,
    fieldName: string,
    params?: Field.ParamsInput,
    options?: RequestOptions
  ) => Effect.Effect<IncomingField, ConnectionError>
  /** The next field no `Response` claimed. */
  readonly recv: Effect.Effect<IncomingField, ConnectionError>
  /** The next field no `Response` claimed with this packet type and name; others stay queued. */
  readonly recvField: (packetType: string, fieldName: string) => Effect.Effect<IncomingField, ConnectionError>
  /**
   * Every incoming field from now on, including those a `Response` also receives (and first
   * the queued fields no `Response` claimed). While a stream runs, unclaimed fields go to it
   * rather than to `recv`. Ends when the connection closes gracefully.
   */
  readonly fields: Stream.Stream<IncomingField, ConnectionError>
  /**
   * The node's warnings from now on (replies carrying `WARN`/`WARC`), with `autoWarn` on (a
   * client's default): each is logged and published here too, so a program can react to it.
   * A subscriber that falls 64 warnings behind misses the oldest. Ends with the connection.
   */
  readonly warnings: Stream.Stream<CommandWarning>
  /**
   * Waits until `bytes` more outgoing bytes fit in the connection's budgets (its
   * `maxWriteBufferBytes`, or alone when larger, and on a server the total of all its
   * connections), then counts them as outstanding for the life of the current scope. A handler
   * reserves a large reply's size before generating it, so that replies are made only as fast
   * as the peer reads them; `CommandRouter` does it before each reply of a route (with the
   * route's `replyBytes`).
   *
   * @example
   * ```ts
   * // a 16 MiB capture is generated only once the peer has read the previous one
   * yield* Effect.scoped(
   *   Effect.andThen(connection.reserveOutgoing(16 * 1024 * 1024), generateAndReply)
   * )
   * ```
   */
  readonly reserveOutgoing: (bytes: number) => Effect.Effect<void, never, Scope.Scope>
  /** Closes the connection now; waiting operations fail with `ConnectionClosed`. */
  readonly close: Effect.Effect<void>
  /** Completes when the connection has ended, with the reason (`ConnectionClosed` when graceful). */
  readonly closed: Effect.Effect<ConnectionError>
}

/**
 * How a reconnecting client stands:
 *
 * - `Connecting`: attempt number `attempt` is under way (`lastError`: why the previous attempt
 *   failed, or why the last connection ended).
 * - `Open`: a connection is open to `remote`, with the `timeout` agreed in its handshake.
 * - `BackingOff`: waiting `delay` before attempt number `attempt`; `lastError` is why the
 *   previous attempt failed or the last connection ended. Attempts count from 1 again after a
 *   connection that opened.
 * - `Closed`: stopped for good. Without `lastError` it was released or `close`d; with one, its
 *   schedule gave up (or it failed unexpectedly) and `lastError` is the last failure.
 */
export type ClientState = Data.TaggedEnum<{
  Connecting: { readonly attempt: number; readonly lastError: ConnectionError | undefined }
  Open: { readonly remote: string; readonly timeout: number }
  BackingOff: { readonly attempt: number; readonly lastError: ConnectionError; readonly delay: Duration.Duration }
  Closed: { readonly lastError: ConnectionError | undefined }
}>

/**
 * A reconnecting client: a `Connection` that delegates to whichever connection is open, plus
 * its state.
 */
export interface ReconnectingConnection extends Connection {
  /** The state now. */
  readonly state: Effect.Effect<ClientState>
  /**
   * The state now, then every change, ending after `Closed`. A subscriber that falls more
   * than 64 changes behind misses the oldest, never the newest.
   */
  readonly changes: Stream.Stream<ClientState>
}
