/**
 * Limits: every bound on what one packet, one connection or one server may hold, in one table.
 *
 * Each limit is written once, in {@link table}: what it bounds, its unit, and its default on the
 * client side and on the server side (a node receives small commands and serves many clients,
 * so a server's defaults are tighter; a client receives captures of up to 64 MiB). A limit a
 * side does not have is `undefined` there. The decoder, the stream framing, `Client.connect`,
 * `Server.serve` and the `ncp serve` flags all read this table, so a new limit is one entry here
 * plus the check that enforces it.
 *
 * @example
 * ```ts
 * import { Limits } from "@effect-ncp/core"
 *
 * Limits.server.maxPacketBytes // 1048576: the default a server applies
 * Limits.client.maxPacketBytes // 67108864
 * Limits.table.maxConnections.unit // "count"
 * ```
 *
 * @module
 * @since 0.1.0
 */

const KiB = 1024
const MiB = 1024 * KiB

/**
 * How a limit is counted: bytes (flags accept `64KiB`, `1MiB`), a plain count, seconds, or a
 * rate per second. A limit of 0 seconds or 0 per second is off.
 */
export type Unit = "bytes" | "count" | "seconds" | "perSecond"

/** One limit: its unit, its default on each side (`undefined` where a side has no such limit), and a one-line summary. */
export interface Entry {
  readonly unit: Unit
  readonly client: number | undefined
  readonly server: number | undefined
  /** One line, as `ncp serve --help` shows it. */
  readonly summary: string
}

/**
 * Every limit, with its unit and its client and server defaults. Each property's doc says what
 * it bounds and what happens when it is reached.
 */
export const table = {
  /**
   * The largest packet accepted, in bytes. A larger declared size is refused as soon as the
   * packet's header is read, before its body is waited for or allocated: a client's
   * connection ends with a `PacketTooLarge` DecodeError, a server answers `LINK ERRO 400` and
   * disconnects. Client 64 MiB (room for the largest captures), server 1 MiB (nodes receive
   * commands, which are small).
   */
  maxPacketBytes: {
    unit: "bytes",
    client: 64 * MiB,
    server: 1 * MiB,
    summary: "Largest packet accepted from a client; a larger one gets LINK ERRO 400"
  },
  /**
   * The most fields one packet may hold; more is a `TooManyFields` DecodeError. Far above the
   * few fields a real packet holds.
   */
  maxFieldsPerPacket: {
    unit: "count",
    client: 65_536,
    server: 65_536,
    summary: "Most fields in one packet; more get LINK ERRO 400"
  },
  /**
   * The most params one field may hold; more is a `TooManyParams` DecodeError. Far above the
   * tens of params a real field holds.
   */
  maxParamsPerField: {
    unit: "count",
    client: 4_096,
    server: 4_096,
    summary: "Most params in one field; more get LINK ERRO 400"
  },
  /**
   * The most params all fields of one packet may hold together; more is a `TooManyParams`
   * DecodeError. Far above what a real packet holds (its data travel as arrays, one param
   * each), and low enough that one packet's records stay near 12 MB: the 8 million empty
   * params a 64 MiB packet can hold would cost 390 MB.
   */
  maxParamsPerPacket: {
    unit: "count",
    client: 262_144,
    server: 262_144,
    summary: "Most params in one packet, all fields together; more get LINK ERRO 400"
  },
  /**
   * What one connection's received data may hold, in bytes: the packet being framed plus the
   * decoded fields nobody has taken yet (Responses, `fields` streams, the inbox; each field
   * counted at an estimate of its memory). When it is full, reading pauses until fields are
   * taken: backpressure to the peer. The packet being framed never waits, so one always
   * completes. Client 64 MiB (one of the largest captures), server 1 MiB. A client's inbox of
   * unsolicited fields is bounded apart, by this size again, dropping its oldest: fields it
   * never reads must not hold back its replies.
   */
  maxBufferedBytes: {
    unit: "bytes",
    client: 64 * MiB,
    server: 1 * MiB,
    summary: "Per connection: received data waiting for the handler"
  },
  /**
   * Outgoing bytes one connection may hold waiting for the socket; beyond it a send (or a
   * server's handler) waits for the peer to read. A larger packet still goes out alone. Client
   * 1 MiB; server 256 KiB, so that 1,000 clients that stop reading hold about 500 MiB.
   */
  maxWriteBufferBytes: {
    unit: "bytes",
    client: 1 * MiB,
    server: 256 * KiB,
    summary: "Per connection: replies waiting for the client to read"
  },
  /** Fields one Response or `fields` stream holds before reading pauses. */
  bufferCapacity: {
    unit: "count",
    client: 64,
    server: 64,
    summary: "Per connection: fields waiting for the handler"
  },
  /**
   * Unclaimed fields (no Response matched them) a client keeps for `recv`/`recvField`; beyond
   * it, or beyond `maxBufferedBytes` of them, the oldest are dropped with a logged warning, so
   * that unread unsolicited fields never stop the replies. A server's inbox holds
   * `bufferCapacity` fields and waits for its handler instead.
   */
  inboxCapacity: {
    unit: "count",
    client: 1_024,
    server: undefined,
    summary: "Unclaimed fields a client keeps"
  },
  /**
   * The most connections a server holds open at once; more are refused at once (`LINK ERRO
   * 503`, or an HTTP 503 where the tunnel is expected) and counted in a log line.
   */
  maxConnections: {
    unit: "count",
    client: undefined,
    server: 1_024,
    summary: "Most connections at once; more are refused with 503"
  },
  /**
   * The most connections a server holds open from one client address at once; more from that
   * address are refused at once with 503, before any handshake, so that one address cannot
   * take every slot. 128 is an eighth of the default `maxConnections`: a NAT with a hundred
   * honest clients still fits, and it takes eight addresses to fill the server (as nginx's
   * `limit_conn` or an HAProxy stick table on the source address would bound it).
   */
  maxConnectionsPerAddress: {
    unit: "count",
    client: undefined,
    server: 128,
    summary: "Most connections at once from one client address; more are refused with 503"
  },
  /**
   * What all of a server's connections' received data may hold together, in bytes: packets
   * being received (counted at their declared size from their header on) and fields their
   * handlers have not taken yet. When it is reached, connections pause reading; a small
   * command (up to 64 KiB) still goes through, so a crowd of half-sent large packets cannot
   * stop every client.
   */
  maxTotalBufferedBytes: {
    unit: "bytes",
    client: undefined,
    server: 512 * MiB,
    summary: "All connections together: received data waiting for handlers"
  },
  /**
   * What all of a server's connections may hold waiting to be written, in bytes: queued
   * replies and the replies the sockets are still sending. When it is reached, handlers'
   * replies wait before they are generated (a `CommandRouter`'s Streams are not pulled), so
   * slow readers of large replies cannot fill memory.
   */
  maxTotalWriteBufferBytes: {
    unit: "bytes",
    client: undefined,
    server: 256 * MiB,
    summary: "All connections together: replies waiting for clients to read"
  },
  /**
   * The longest a client may send nothing at all (no command, no keep-alive), in seconds,
   * whatever timeout it agreed to in the handshake, `LINK=0` included; past it the connection
   * is dropped. Clients that agreed to a timeout send keep-alives well within 60 s.
   */
  maxSilentSeconds: {
    unit: "seconds",
    client: undefined,
    server: 120,
    summary: "Drop a client that sends nothing, not even a keep-alive, for this long"
  },
  /**
   * The longest a client may hold a connection without a command, in seconds (keep-alives do
   * not count); past it the connection is closed. 0: no limit.
   */
  maxIdleSeconds: {
    unit: "seconds",
    client: undefined,
    server: 3_600,
    summary: "Close a connection that sends no command for this long (0: never)"
  },
  /**
   * The most packets a server reads from one connection per second, keep-alives included
   * (bursts up to a second's worth); beyond it that connection's reading pauses, which is
   * backpressure to the client, so a flood from a few connections cannot take the CPU from the
   * others. 0: no limit.
   */
  maxPacketsPerSecond: {
    unit: "perSecond",
    client: undefined,
    server: 10_000,
    summary: "Most packets read from one connection per second (0: no limit)"
  }
} as const satisfies Record<string, Entry>

/** The name of a limit. */
export type Name = keyof typeof table

/** Every limit as a number; each property documented in {@link table}. */
export type All = { readonly [K in Name]: number }

type SideNames<Side extends "client" | "server"> = {
  [K in Name]: (typeof table)[K][Side] extends number ? K : never
}[Name]

/** The limits of a client connection. */
export type ClientLimits = Pick<All, SideNames<"client">>
/** The limits of a server: those of each connection, and those of all of them together. */
export type ServerLimits = Pick<All, SideNames<"server">>
/** The limits of one connection, on either side. */
export type ConnectionLimits = Pick<
  All,
  | "maxPacketBytes"
  | "maxFieldsPerPacket"
  | "maxParamsPerField"
  | "maxParamsPerPacket"
  | "maxBufferedBytes"
  | "maxWriteBufferBytes"
  | "bufferCapacity"
>
/** The limits of the decoder, on either side. */
export type DecodeLimits = Pick<All, "maxFieldsPerPacket" | "maxParamsPerField" | "maxParamsPerPacket">

/** Limits as options: each may be given, or left to its default. */
export type Options<L> = { readonly [K in keyof L]?: number | undefined }

/** The names of a client's limits, in table order. */
export const clientNames = (Object.keys(table) as Array<Name>).filter(
  (name): name is SideNames<"client"> => table[name].client !== undefined
)
/** The names of a server's limits, in table order. */
export const serverNames = (Object.keys(table) as Array<Name>).filter(
  (name): name is SideNames<"server"> => table[name].server !== undefined
)

const defaults = <K extends Name>(names: ReadonlyArray<K>, side: "client" | "server"): Pick<All, K> => {
  const out: Partial<Record<K, number>> = {}
  for (const name of names) out[name] = table[name][side]
  return out as Pick<All, K>
}

/** A client's defaults. */
export const client: ClientLimits = defaults(clientNames, "client")
/** A server's defaults. */
export const server: ServerLimits = defaults(serverNames, "server")

/**
 * The limits in `options` over `base` (a side's defaults): a given value wins, an absent or
 * `undefined` one keeps the default.
 */
export const resolve = <L extends Partial<All>>(base: L, options: Options<L>): L => {
  const out: Record<string, number | undefined> = { ...base }
  for (const name of Object.keys(base)) {
    const given = options[name as keyof L]
    if (given !== undefined) out[name] = given
  }
  return out as L
}

/**
 * Fields, params and skipped legacy footers a stepped decode handles per step before it yields
 * (`PacketDecoder.step`, `Framing.decodePackets`). A step of 4,096 empty records takes about a
 * millisecond on a small, busy server (`npm run bench:codec`), far below the 50 ms a step may
 * hold the thread, while a real packet (tens of records) still decodes in one step.
 */
export const decodeStepBudget = 4_096

/** How many individual warnings a decoded packet keeps; the rest are only counted. */
export const maxDecodeWarnings = 16
