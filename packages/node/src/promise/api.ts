/**
 * The Promise API's public shapes: connections, their fields and replies, and the options
 * they take. The classes that implement them (`connection.ts`, `field.ts`, `response.ts`)
 * depend on these, not on each other's declarations.
 *
 * @internal
 */
import type { ConnectionError, Field as CoreField, Limits, NcpCommand, Timestamp, Value } from "@effect-ncp/core"
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as NodeTransport from "../NodeTransport.js"

/**
 * A field received: a reply to a command, or a command. Values are as the Effect API gives
 * them: numbers, bigints (64-bit integers), strings, `Uint8Array` (raw), typed arrays (data).
 *
 * @example
 * ```ts
 * const field = await connection.request("DSPC", "SWEP", { FSTA: 10000, FSTP: 18000 })
 * field.get("FSTA") // 10000
 * field.toRecord() // { FSTA: 10000, FSTP: 18000, PDAT: Uint8Array(...) }
 * ```
 */
export interface Field {
  /** The packet's type, e.g. `"DSPC"`. */
  readonly packetType: string
  /** The packet's id. */
  readonly packetId: number
  /** When the packet was sent, as the sender stamped it. */
  readonly packetTimestamp: Timestamp.Timestamp
  /** The field's name, e.g. `"SWEP"`. */
  readonly name: string
  /** The field's id: a reply has its command's. */
  readonly id: number
  /** The params in their order, each with its wire type (`{ name, value: { type, value } }`). */
  readonly params: ReadonlyArray<CoreField.Param>
  /** The value of the last param called `name`, or `undefined` (ncplib's `field[name]`). */
  get(name: string): Value.Natural | undefined
  /** Whether the field has a param called `name` (ncplib's `name in field`). */
  has(name: string): boolean
  /** The params as a record of values; for a repeated name, the last one (ncplib's `dict(field)`). */
  toRecord(): Record<string, Value.Natural>
}

/**
 * A field that came in as a command (on a server, or unclaimed on a client), which its
 * receiver answers with `reply`.
 *
 * @example
 * ```ts
 * await serve(async (field) => {
 *   await field.reply({ ACKN: 1 })
 *   await field.reply({ FSTA: field.get("FSTA") ?? 0, LEVL: -90.5 })
 * })
 * ```
 */
export interface IncomingField extends Field {
  /**
   * Replies to this field: a packet of the same type with one field of the same name and id.
   * Call it as many times as there are replies. Resolves once the reply is handed to the
   * socket (or, when the peer reads slowly, once it fits in the connection's write budget).
   */
  reply(params?: CoreField.ParamsInput): Promise<void>
  /** `reply`, by ncplib's name (`field.send(**params)`). */
  send(params?: CoreField.ParamsInput): Promise<void>
  /** The connection the field came in on. */
  readonly connection: Connection
}

/**
 * The replies to a command sent with `send`: `recv()` the next one, or `for await` over them.
 * Registered until `close()` (or the end of a `for await` loop, or `await using`'s scope), so
 * that no reply is missed; close a Response you stop reading, or the node's further replies
 * wait for it and hold the connection up.
 *
 * @example
 * ```ts
 * await using response = await connection.send("DSPC", "SWEP", { FSTA: 88, FSTP: 108, REPT: 0 })
 * let count = 0
 * for await (const sweep of response) {
 *   console.log(sweep.get("PDAT"))
 *   if (++count === 3) break
 * }
 * ```
 */
export interface Response extends AsyncIterable<Field>, AsyncDisposable {
  readonly packetType: string
  /** The name of the (first) field sent. */
  readonly fieldName: string
  /** The id of the (first) field sent: its replies carry it. */
  readonly fieldId: number
  /** The next reply. Rejects with a `CommandError` for an error reply (with `autoErro`, the default). */
  recv(): Promise<Field>
  /** The next reply to the sent field called `name` (for a packet of several fields). */
  recvField(name: string): Promise<Field>
  /**
   * Iterates over the replies, one pulled per turn of the loop. The loop ends when the
   * connection closes gracefully, or throws as `recv` rejects.
   */
  [Symbol.asyncIterator](): AsyncIterator<Field>
  /** Stops receiving replies: releases the command's registration. */
  close(): Promise<void>
}

/**
 * The decoded replies of a typed command, from `connection.stream(Command, params)`: sent when
 * the iteration starts, ended when the loop ends or the connection closes gracefully. NCP has
 * no end-of-replies marker: a loop over a repeating command breaks when it has enough.
 *
 * @example
 * ```ts
 * for await (const sweep of connection.stream(Sweep, { FSTA: 88, FSTP: 108, REPT: 0 })) {
 *   console.log(sweep.PDAT.length)
 *   break
 * }
 * ```
 */
export interface Replies<A> extends AsyncIterable<A>, AsyncDisposable {
  /** Iterates over the decoded replies, one pulled per turn of the loop (the command is sent on the first). */
  [Symbol.asyncIterator](): AsyncIterator<A>
  /** Stops receiving replies (also what leaving a `for await` loop does). */
  close(): Promise<void>
}

/**
 * Options of `connect`. Only `host` is required. Every timeout is in seconds (fractions
 * allowed), as in ncplib; 0 is none. The limits (`maxPacketBytes`, `maxBufferedBytes`, ...)
 * are those of the Effect API (`Limits.table`, client defaults).
 *
 * @example
 * ```ts
 * const connection = await connect({ host: "rfeye000123.local", timeout: 30, requestTimeout: 10 })
 * ```
 */
export interface ConnectOptions extends Limits.Options<Limits.ClientLimits> {
  /** The node's host name or IP address. */
  readonly host: string
  /** Default 9999; 443 with `tls`; 80 with `username`/`password` and no TLS. */
  readonly port?: number | undefined
  /**
   * The network timeout in seconds, asked for in the handshake (whole seconds on the wire, a
   * fraction rounded up); it also bounds opening the connection. Default 60; 0 for none.
   */
  readonly timeout?: number | undefined
  /**
   * The default deadline for each reply, in seconds, overridden per call with `{ timeout }`.
   * Past it the call rejects with a `NetworkTimeout` naming the command; the connection stays
   * open. Default: none (as ncplib, which waits for a reply as long as the connection lives).
   */
  readonly requestTimeout?: number | undefined
  /** The name the connection gives the node (`remoteHostname`). Default `host:port`. */
  readonly remoteHostname?: string | undefined
  /** This machine's name, sent in the handshake. Default: the OS host name. */
  readonly hostname?: string | undefined
  /** The user name sent in the handshake. Default: the OS user. */
  readonly connectionUsername?: string | undefined
  /** The domain sent in the handshake. Default "". */
  readonly connectionDomain?: string | undefined
  /** Turn error replies (`ERRO`/`ERRC`) into rejections with a `CommandError`. Default true. */
  readonly autoErro?: boolean | undefined
  /** Log warning replies (`WARN`/`WARC`) on stderr. Default true. */
  readonly autoWarn?: boolean | undefined
  /** Skip acknowledgement replies (`ACKN`). Default true. */
  readonly autoAckn?: boolean | undefined
  /** TLS: `true` for the system's certificate authorities, or `tls.connect` options (`ca`, ...). */
  readonly tls?: boolean | NodeTransport.TlsOptions | undefined
  /** User name for the node's CONNECT tunnel; giving it (or a password) turns the tunnel on. */
  readonly username?: string | undefined
  /** Password for the node's CONNECT tunnel. */
  readonly password?: string | undefined
}

/**
 * Options of a call (`request`, `send`, `call`, `stream`).
 *
 * @example
 * ```ts
 * // rejects with a NetworkTimeout naming "DSPC SWEP" if no reply comes within 5 seconds
 * await connection.request("DSPC", "SWEP", { FSTA: 400, FSTP: 500 }, { timeout: 5 })
 * ```
 */
export interface RequestOptions {
  /**
   * The longest wait for each reply, in seconds; 0 for none. Past it the wait rejects with a
   * `NetworkTimeout` naming the command; the connection stays open. Default: the connection's
   * `requestTimeout`.
   */
  readonly timeout?: number | undefined
}

/** The params argument, which a command without required params lets you leave out. */
export type ParamsArgs<C extends NcpCommand.Any> =
  {} extends NcpCommand.Params<C>
    ? [params?: NcpCommand.Params<C>, options?: RequestOptions]
    : [params: NcpCommand.Params<C>, options?: RequestOptions]

/** A field of a packet of several fields (`sendPacket`). */
export interface OutgoingField {
  readonly name: string
  readonly params?: CoreField.ParamsInput | undefined
}

/**
 * An open NCP connection. Every call is a Promise that rejects with the library's errors (all
 * `NcpError`s): `CommandError` for an error reply, `NetworkTimeout` past a deadline,
 * `ConnectionClosed` once the connection has ended, ...
 *
 * @example
 * ```ts
 * await using connection = await connect({ host: "rfeye000123.local" })
 * const reply = await connection.request("DSPC", "SWEP", { FSTA: 10000, FSTP: 18000 })
 * console.log(reply.toRecord())
 * ```
 */
export interface Connection extends AsyncIterable<IncomingField>, AsyncDisposable {
  /** The node's name: `host:port` unless told otherwise (on a server, the client's name). */
  readonly remoteHostname: string
  /** The host connected to (on a server, the client's IP address). */
  readonly remoteAddress: string | undefined
  /** The port connected to (on a server, the client's). */
  readonly remotePort: number | undefined
  /** The timeout agreed in the handshake, in seconds (0: a legacy node). */
  readonly timeout: number
  /** Whether `close` was called or the connection has ended. */
  readonly isClosing: boolean
  /**
   * Resolves when the connection has ended, with the reason (`ConnectionClosed` when closed
   * gracefully, by either side). It never rejects, and it does not keep the process alive.
   */
  readonly closed: Promise<ConnectionError.ConnectionError>
  /**
   * Sends a command and resolves with its first reply (acknowledgements skipped).
   *
   * @example
   * ```ts
   * const status = await connection.request("STAT", "STAT")
   * status.get("STAT") // "OK"
   * ```
   */
  request(
    packetType: string,
    fieldName: string,
    params?: CoreField.ParamsInput,
    options?: RequestOptions
  ): Promise<Field>
  /**
   * Sends a command and resolves with its {@link Response}, once it is handed to the socket;
   * read the replies with `recv()` or `for await`, and `close()` it when done.
   */
  send(
    packetType: string,
    fieldName: string,
    params?: CoreField.ParamsInput,
    options?: RequestOptions
  ): Promise<Response>
  /** Sends a packet of several fields; the Response receives the replies to any of them. */
  sendPacket(
    packetType: string,
    fields: NonEmptyReadonlyArray<OutgoingField>,
    options?: RequestOptions
  ): Promise<Response>
  /** The next field that no Response claimed (a node's unsolicited field). */
  recv(): Promise<IncomingField>
  /** The next field no Response claimed with this packet type and name; others stay queued. */
  recvField(packetType: string, fieldName: string): Promise<IncomingField>
  /**
   * Iterates over the fields no Response claimed (`recv`, one per turn of the loop); the
   * loop ends when the connection closes gracefully.
   */
  [Symbol.asyncIterator](): AsyncIterator<IncomingField>
  /**
   * Sends a typed command (an `NcpCommand`) and resolves with its first reply, decoded by its
   * Schema. Rejects with `InvalidParams` (nothing sent), `InvalidReply` or the node's
   * `CommandError`.
   *
   * @example
   * ```ts
   * const sweep = await connection.call(SimulatedNode.Sweep, { FSTA: 400, FSTP: 500 }, { timeout: 5 })
   * sweep.PDAT // Uint8Array
   * ```
   */
  call<C extends NcpCommand.Any>(command: C, ...args: ParamsArgs<C>): Promise<NcpCommand.Reply<C>>
  /**
   * A typed command answering with a stream of replies, as an async iterable of decoded
   * replies: sent when the iteration starts, one reply pulled per turn of the loop.
   */
  stream<C extends NcpCommand.AnyStream>(command: C, ...args: ParamsArgs<C>): Replies<NcpCommand.Reply<C>>
  /** Closes the connection; calls still waiting reject with `ConnectionClosed`. */
  close(): Promise<void>
}
