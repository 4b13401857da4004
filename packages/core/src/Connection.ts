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
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Socket from "effect/socket/Socket"
import * as Bytes from "./Bytes.js"
import { DecodeError, type DecodeWarning } from "./CodecError.js"
import {
  CommandError,
  ConnectionClosed,
  type ConnectionError,
  NetworkError,
  NetworkTimeout
} from "./ConnectionError.js"
import { type Decoded, decodePacket } from "./Decoder.js"
import { encodePacket } from "./Encoder.js"
import * as Field from "./Field.js"
import { PacketFramer } from "./Framing.js"
import { Mailbox } from "./internal/mailbox.js"
import type { Packet } from "./Packet.js"
import * as Timestamp from "./Timestamp.js"

/** A field received on a connection, with its packet's header and a way to reply to it. */
export interface IncomingField extends Field.Field {
  readonly packetType: string
  readonly packetId: number
  readonly packetTimestamp: Timestamp.Timestamp
  /** Replies to this field: a packet of the same type with one field of the same name and id. */
  readonly reply: (params?: Field.ParamsInput) => Effect.Effect<void, ConnectionError>
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

/** An open NCP connection. */
export interface Connection {
  /** The peer's name: `host:port` for a client (unless told otherwise), the client's `CIW` for a server. */
  readonly remoteHostname: string
  /** The timeout agreed in the handshake, in seconds (0: a legacy peer, keep-alive every 3 s). */
  readonly timeout: number
  /**
   * Sends one field (a command) and returns its `Response`, registered for the life of the
   * current scope. Completes when the bytes are handed to the socket.
   */
  readonly send: (
    packetType: string,
    fieldName: string,
    params?: Field.ParamsInput
  ) => Effect.Effect<Response, ConnectionError, Scope.Scope>
  /** Sends a packet of several fields; the `Response` gets the replies to any of them. */
  readonly sendPacket: (
    packetType: string,
    fields: ReadonlyArray<OutgoingField>
  ) => Effect.Effect<Response, ConnectionError, Scope.Scope>
  /** Sends one field and waits for its first reply (`send` then `Response.recv`, scoped). */
  readonly request: (
    packetType: string,
    fieldName: string,
    params?: Field.ParamsInput
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
  /** Closes the connection now; waiting operations fail with `ConnectionClosed`. */
  readonly close: Effect.Effect<void>
  /** Completes when the connection has ended, with the reason (`ConnectionClosed` when graceful). */
  readonly closed: Effect.Effect<ConnectionError>
}

// ---------------------------------------------------------------------------------------------
// The wire: framing, timeouts and writes over a Socket. Shared by the handshakes and the
// connection itself.
// ---------------------------------------------------------------------------------------------

/** @internal */
export interface WireOptions {
  readonly remote: string
  readonly maxPacketBytes?: number | undefined
  readonly info?: Uint8Array | undefined
}

/** @internal */
export class Wire {
  readonly framer: PacketFramer
  remote: string
  /** Epoch millis (Clock) of the last packet handed to the socket. */
  lastSent = 0
  /** The error that ended the wire, once it has ended. */
  ended: ConnectionError | undefined
  /**
   * Epoch millis (Clock) since which a pull has been waiting for bytes, or `undefined` while
   * none waits. The receive timeout watches it, so time spent waiting for a slow consumer
   * (backpressure) never counts as the peer's silence.
   */
  waitingSince: number | undefined
  private readonly info: Uint8Array
  private readonly timedPull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError>

  constructor(
    pull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError>,
    private readonly writer: Socket.Writer,
    options: WireOptions,
    /** The fiber's Clock, read synchronously on the hot path (TestClock in tests). */
    readonly clock: Clock.Clock
  ) {
    this.framer = new PacketFramer({ maxPacketBytes: options.maxPacketBytes })
    // The pull, stamped for the receive-timeout watchdog.
    const stopWaiting = Effect.sync(() => {
      this.waitingSince = undefined
    })
    this.timedPull = Effect.suspend(() => {
      this.waitingSince = clock.currentTimeMillisUnsafe()
      return Effect.ensuring(pull, stopWaiting)
    })
    this.remote = options.remote
    this.info = options.info ?? new Uint8Array(4)
  }

  /** The next chunk of bytes, or `undefined` at a graceful end of input. */
  pullBytes(): Effect.Effect<Uint8Array | undefined, NetworkError> {
    return this.timedPull.pipe(
      Effect.map(concatChunks),
      Effect.catch((error: Socket.SocketError) => {
        const reason = error.reason
        if (reason._tag === "SocketCloseError" && reason.code === 1000) return Effect.succeed(undefined)
        return Effect.fail(new NetworkError({ detail: socketErrorDetail(error), remote: this.remote, cause: error }))
      })
    )
  }

  /**
   * Pulls the next chunk into the framer. The end of input fails: with `ConnectionClosed`
   * between packets, with a `Truncated` `DecodeError` inside one.
   */
  fill(): Effect.Effect<void, ConnectionError> {
    return Effect.flatMap(this.pullBytes(), (bytes): Effect.Effect<void, ConnectionError> => {
      if (bytes === undefined) {
        return Effect.fail(
          this.framer.end() ?? new ConnectionClosed({ detail: "the peer closed the connection", remote: this.remote })
        )
      }
      this.framer.push(bytes)
      return Effect.void
    })
  }

  /** The next whole packet the framer holds, decoded, or `undefined` when it needs more bytes. */
  nextDecoded(): Result.Result<Decoded, DecodeError> | undefined {
    const offset = this.framer.offset
    const next = this.framer.next()
    if (next === undefined) return undefined
    return next instanceof DecodeError ? Result.fail(next) : decodePacket(next, { baseOffset: offset })
  }

  /** The next whole packet, decoded; its decode warnings are logged. */
  readPacket(): Effect.Effect<Decoded, ConnectionError> {
    return Effect.suspend(() => {
      const decoded = this.nextDecoded()
      if (decoded === undefined) return Effect.andThen(this.fill(), this.readPacket())
      if (Result.isFailure(decoded)) return Effect.fail(decoded.failure)
      const { warnings } = decoded.success
      return warnings.length === 0
        ? Effect.succeed(decoded.success)
        : Effect.as(logDecodeWarnings(warnings, this.remote), decoded.success)
    })
  }

  // Outgoing bytes are coalesced. The first write of a tick goes straight to the socket (a
  // request/reply exchange pays nothing extra); later writes in the same tick are queued and go
  // together in one corked `writeAll` from a microtask, so a fiber sending many packets in a row
  // does not pay a system call for each. A writer waits only while a flush is held up by the
  // socket's backpressure and too much is queued.
  private queued: Array<Uint8Array> = []
  private queuedBytes = 0
  private flushScheduled = false
  /** Completes when the socket has taken the flush in progress (it may wait for `drain`). */
  private inFlight: Deferred.Deferred<void> | undefined
  private failedWrite: NetworkError | undefined

  /**
   * Hands bytes (the CONNECT tunnel's text, or an encoded packet) to the socket. Completes once
   * the socket has them or they are queued for this tick's flush, waiting first if the socket
   * applies backpressure.
   */
  writeBytes(bytes: Uint8Array): Effect.Effect<void, NetworkError | ConnectionClosed> {
    return Effect.suspend(() => {
      if (this.failedWrite !== undefined) return Effect.fail(this.failedWrite)
      if (this.ended !== undefined) {
        return Effect.fail(new ConnectionClosed({ detail: "the connection is closed", remote: this.remote }))
      }
      const inFlight = this.inFlight
      if (this.queuedBytes >= MAX_QUEUED_BYTES) {
        // Too much queued: wait for the flush in progress, or, when the scheduled one has not
        // run yet (a fiber that never yields keeps it from running), flush now and wait for it.
        return Effect.andThen(
          inFlight !== undefined ? Deferred.await(inFlight) : this.writeQueued(),
          this.writeBytes(bytes)
        )
      }
      this.lastSent = this.clock.currentTimeMillisUnsafe()
      if (!this.flushScheduled && inFlight === undefined) {
        this.flushScheduled = true
        queueMicrotask(this.flush)
        // In flight like a flush, so that a close waits for it (and aborts a socket that
        // cannot drain) rather than leave this write waiting forever.
        const done = Deferred.makeUnsafe<void>()
        this.inFlight = done
        return this.writer.write(bytes).pipe(Effect.catch(this.onWriteError), Effect.ensuring(this.settle(done)))
      }
      this.queued.push(bytes)
      this.queuedBytes += bytes.length
      if (!this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(this.flush)
      }
      return Effect.void
    })
  }

  private readonly onWriteError = (error: Socket.SocketError): Effect.Effect<never, NetworkError> => {
    this.failedWrite ??= new NetworkError({ detail: socketErrorDetail(error), remote: this.remote, cause: error })
    return Effect.fail(this.failedWrite)
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    // While a flush still waits for the socket, this batch goes when it is done.
    if (this.inFlight !== undefined || this.queued.length === 0) return
    Effect.runFork(this.writeQueued())
  }

  /** Writes everything queued in one batch; the caller has checked that no flush is in flight. */
  private writeQueued(): Effect.Effect<void> {
    const batch = this.queued
    this.queued = []
    this.queuedBytes = 0
    const done = Deferred.makeUnsafe<void>()
    this.inFlight = done
    const write = batch.length === 1 ? this.writer.write(batch[0] as Uint8Array) : this.writer.writeAll(batch as never)
    return write.pipe(
      Effect.catch((error: Socket.SocketError) => Effect.ignore(this.onWriteError(error))),
      Effect.ensuring(this.settle(done))
    )
  }

  /** Ends the write in flight (`done`) and schedules a flush of what was queued meanwhile. */
  private settle(done: Deferred.Deferred<void>): Effect.Effect<void> {
    return Effect.sync(() => {
      this.inFlight = undefined
      Deferred.doneUnsafe(done, Effect.void)
      if (this.queued.length > 0 && !this.flushScheduled) {
        this.flushScheduled = true
        queueMicrotask(this.flush)
      }
    })
  }

  /**
   * Completes when every byte written so far has been handed to the socket. Closing runs it
   * first, so replies written just before a close are delivered, not dropped.
   */
  flushNow(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.failedWrite !== undefined) return Effect.void
      if (this.inFlight !== undefined) return Effect.andThen(Deferred.await(this.inFlight), this.flushNow())
      if (this.queued.length > 0) return Effect.andThen(this.writeQueued(), this.flushNow())
      return Effect.void
    })
  }

  /** Encodes and writes one packet stamped with the Clock's time. */
  writePacket(
    type: string,
    fields: ReadonlyArray<Field.FieldInput>,
    packetId = 1
  ): Effect.Effect<void, ConnectionError> {
    return Effect.suspend((): Effect.Effect<void, ConnectionError> => {
      const encoded = encodePacket({
        type,
        id: packetId,
        timestamp: Timestamp.fromMillis(this.clock.currentTimeMillisUnsafe()),
        info: this.info,
        fields
      })
      return Result.isFailure(encoded) ? Effect.fail(encoded.failure) : this.writeBytes(encoded.success)
    })
  }

  /** A keep-alive: a LINK packet without fields, packet id 0, nanoseconds 0. */
  writeKeepAlive(): Effect.Effect<void, ConnectionError> {
    return Effect.suspend((): Effect.Effect<void, ConnectionError> => {
      const encoded = encodePacket({
        type: "LINK",
        id: 0,
        timestamp: { seconds: Math.floor(this.clock.currentTimeMillisUnsafe() / 1000), nanos: 0 },
        info: this.info,
        fields: []
      })
      return Result.isFailure(encoded) ? Effect.fail(encoded.failure) : this.writeBytes(encoded.success)
    })
  }

  /**
   * Reads packets until a field of this packet type and name arrives, skipping others (as the
   * handshake must). A `LINK ERRO` field fails with a `CommandError`.
   */
  waitField(
    packetType: string,
    fieldName: string,
    timeoutSeconds: number
  ): Effect.Effect<{ readonly packet: Packet; readonly field: Field.Field }, ConnectionError> {
    const during = `waiting for ${packetType} ${fieldName}`
    const loop: Effect.Effect<{ readonly packet: Packet; readonly field: Field.Field }, ConnectionError> =
      Effect.flatMap(this.readPacket(), ({ packet }) => {
        for (const field of packet.fields) {
          if (packet.type === packetType && field.name === fieldName) return Effect.succeed({ packet, field })
          if (packet.type === "LINK" && field.name === "ERRO") {
            return Effect.fail(commandError(packet.type, field))
          }
        }
        return loop
      })
    // A deadline for the field, not for each packet: a peer sending other packets (say
    // keep-alives) but never this field must not hold the handshake open forever.
    return this.withDeadline(loop, timeoutSeconds, during)
  }

  /** Fails `effect` with a `NetworkTimeout` unless it completes within `seconds` (0: no limit). */
  withDeadline<A, E>(
    effect: Effect.Effect<A, E>,
    seconds: number,
    during: string
  ): Effect.Effect<A, E | NetworkTimeout> {
    if (seconds <= 0) return effect
    return effect.pipe(
      Effect.timeoutOrElse({
        duration: Duration.seconds(seconds),
        orElse: () => Effect.fail(new NetworkTimeout({ seconds, during, remote: this.remote }))
      })
    )
  }
}

const textEncoder = new TextEncoder()

const readerScheduler = new Scheduler.MixedScheduler("sync")

/** Queued outgoing bytes beyond which writers wait for the socket. */
const MAX_QUEUED_BYTES = 1024 * 1024

const concatChunks = (chunks: ReadonlyArray<Uint8Array | string>): Uint8Array => {
  const [first] = chunks
  // The usual case: one chunk of bytes, passed on as it is.
  if (chunks.length === 1 && first instanceof Uint8Array) return first
  return Bytes.concat(chunks.map((chunk) => (typeof chunk === "string" ? textEncoder.encode(chunk) : chunk)))
}

const socketErrorDetail = (error: Socket.SocketError): string => {
  const reason = error.reason
  const cause = "cause" in reason ? reason.cause : undefined
  const causeMessage =
    typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : undefined
  switch (reason._tag) {
    case "SocketOpenError":
      return reason.kind === "Timeout"
        ? "timed out connecting"
        : `cannot connect${causeMessage === undefined ? "" : `: ${causeMessage}`}`
    case "SocketCloseError":
      return `connection closed (code ${reason.code})`
    case "SocketReadError":
      return `read failed${causeMessage === undefined ? "" : `: ${causeMessage}`}`
    case "SocketWriteError":
      return `write failed${causeMessage === undefined ? "" : `: ${causeMessage}`}`
    default:
      return causeMessage ?? reason._tag
  }
}

const logDecodeWarnings = (warnings: ReadonlyArray<DecodeWarning>, remote: string) =>
  Effect.forEach(
    warnings,
    (warning) =>
      Effect.logWarning(warning.message).pipe(
        Effect.annotateLogs({
          ncp: "DecodeWarning",
          kind: warning.kind,
          offset: warning.offset,
          remote,
          packetType: warning.packetType ?? "",
          field: warning.field ?? "",
          param: warning.param ?? ""
        })
      ),
    { discard: true }
  )

/** @internal */
export const commandError = (packetType: string, field: Field.Field): CommandError => {
  const detail = Field.get(field, "ERRO")
  const code = Field.get(field, "ERRC")
  return new CommandError({
    packetType,
    fieldName: field.name,
    fieldId: field.id,
    detail: typeof detail === "string" ? detail : "command error",
    code: typeof code === "number" ? code : undefined,
    field
  })
}

/** @internal Acquires the socket's reader and writer in the current scope. */
export const makeWire = (socket: Socket.Socket, options: WireOptions): Effect.Effect<Wire, NetworkError, Scope.Scope> =>
  Effect.gen(function* () {
    const reader = yield* socket.reader.pipe(
      Effect.mapError(
        (error) => new NetworkError({ detail: socketErrorDetail(error), remote: options.remote, cause: error })
      )
    )
    const writer = yield* socket.writer
    const clock = yield* Effect.clockWith(Effect.succeed)
    const wire = new Wire(reader.pull, writer, options, clock)
    // Runs before the socket's own finalizers: deliver what was written, then close. Bounded,
    // so a peer that stopped reading cannot hold the close forever: past the bound the socket
    // is aborted, since a graceful close would wait for that peer too, and so would any write
    // still waiting for the socket to drain.
    yield* Effect.addFinalizer(() =>
      wire.flushNow().pipe(
        Effect.timeoutOrElse({
          duration: "5 seconds",
          orElse: () => Effect.ignore(writer.write(new Socket.CloseEvent(1006, "the peer stopped reading")))
        })
      )
    )
    return wire
  })

// ---------------------------------------------------------------------------------------------
// The connection
// ---------------------------------------------------------------------------------------------

/** @internal */
export interface ConnectionConfig {
  readonly timeout: number
  readonly autoErro: boolean
  readonly autoWarn: boolean
  readonly autoAckn: boolean
  /** How many fields a Response or a `fields` subscriber holds before routing waits. */
  readonly bufferCapacity: number
  /**
   * How many unclaimed fields the inbox (`recv`, `recvField`) holds. `"backpressure"`: routing
   * then waits, as a server's must (its handler reads them all). `"dropOldest"`: the oldest is
   * dropped with a warning, so that a client that never reads unsolicited fields does not stop
   * receiving its replies.
   */
  readonly inboxCapacity: number
  readonly inboxOverflow: "backpressure" | "dropOldest"
  /** Field ids: the next one to give out. */
  readonly nextFieldId: () => number
  /** Runs when the connection ends on its own, before the socket closes (a server's LINK ERRO). */
  readonly beforeEnd?: ((error: ConnectionError) => Effect.Effect<void>) | undefined
}

type Item = Result.Result<IncomingField, CommandError>

const isClosed = (error: ConnectionError): boolean => error._tag === "ConnectionClosed"

/** The interval between keep-alives for an agreed timeout, in milliseconds. */
export const keepAliveIntervalMillis = (timeout: number): number =>
  timeout === 0 ? 3000 : Math.max(1, Math.floor(timeout * 0.66)) * 1000

/**
 * @internal Starts routing and keep-alive on a wire whose handshake is done. Everything lives in
 * `scope`; closing it closes the connection.
 */
export const make = (wire: Wire, config: ConnectionConfig, scope: Scope.Closeable): Effect.Effect<Connection> =>
  Effect.gen(function* () {
    const inbox = new Mailbox<Item, ConnectionError>(config.inboxCapacity)
    let dropped = 0
    // Waiting Responses by field id, then packet type and name: ids are nearly unique, so a
    // lookup is one Map probe and a short scan, with no key string built per field.
    interface Registration {
      readonly packetType: string
      readonly name: string
      readonly mailbox: Mailbox<Item, ConnectionError>
    }
    const responses = new Map<number, Array<Registration>>()
    const subscribers = new Set<Mailbox<IncomingField, ConnectionError>>()
    const allResponses = new Set<Mailbox<Item, ConnectionError>>()
    let terminal: ConnectionError | undefined
    const ended = Deferred.makeUnsafe<ConnectionError>()

    const terminate = (error: ConnectionError) =>
      Effect.suspend(() => {
        if (terminal !== undefined) return Effect.void
        terminal = error
        wire.ended = error
        inbox.end(error)
        for (const mailbox of allResponses) mailbox.end(error)
        for (const mailbox of subscribers) mailbox.end(error)
        Deferred.doneUnsafe(ended, Effect.succeed(error))
        return Effect.void
      })

    // One shared error for every released Response: building an error captures a stack trace,
    // too costly to do once per request.
    let responseClosedError: ConnectionClosed | undefined
    const responseClosed = () =>
      (responseClosedError ??= new ConnectionClosed({ detail: "the response's scope closed", remote: wire.remote }))

    const incoming = (packet: Packet, field: Field.Field): IncomingField => ({
      packetType: packet.type,
      packetId: packet.id,
      packetTimestamp: packet.timestamp,
      name: field.name,
      id: field.id,
      params: field.params,
      reply: (params = {}) => wire.writePacket(packet.type, [{ name: field.name, id: field.id, params }])
    })

    const logWarning = (packetType: string, field: Field.Field) => {
      const detail = Field.get(field, "WARN")
      const code = Field.get(field, "WARC")
      return Effect.logWarning(
        `${packetType} ${field.name}: ${typeof detail === "string" ? detail : "warning"}${
          typeof code === "number" ? ` (code ${code})` : ""
        }`
      ).pipe(
        Effect.annotateLogs({
          ncp: "CommandWarning",
          remote: wire.remote,
          packetType,
          field: field.name,
          fieldId: field.id,
          detail: typeof detail === "string" ? detail : "",
          code: typeof code === "number" ? code : ""
        })
      )
    }

    const logInboxOverflow = (count: number) =>
      Effect.logWarning(
        `${count} unclaimed field(s) dropped: the inbox holds ${config.inboxCapacity}; read them with recv, recvField or fields, or claim them with a Response`
      ).pipe(Effect.annotateLogs({ ncp: "InboxOverflow", remote: wire.remote, dropped: count }))

    // Routing is synchronous for as long as nothing has to wait: `route` returns `undefined`
    // when the field is delivered, and an Effect only for what must wait (a full mailbox, a
    // log line, a LINK ERRO). Most fields cost no Effect at all.
    const route = (packet: Packet, field: Field.Field): Effect.Effect<void, ConnectionError> | undefined => {
      if (config.autoErro && field.name === "ERRO") {
        const error = commandError(packet.type, field)
        // A LINK ERRO answers no particular command: it ends the connection.
        if (packet.type === "LINK") return Effect.fail(error)
        inbox.failWaiters(error)
        for (const mailbox of allResponses) mailbox.failWaiters(error)
        return undefined
      }
      if (config.autoWarn && field.name === "WARN") return logWarning(packet.type, field)
      if (config.autoAckn && Field.has(field, "ACKN")) return undefined
      const received = incoming(packet, field)
      const item: Item =
        config.autoErro && (Field.has(field, "ERRO") || Field.has(field, "ERRC"))
          ? Result.fail(commandError(packet.type, field))
          : Result.succeed(received)
      // A warning is logged before the field is delivered, as it comes first on the wire.
      if (config.autoWarn && (Field.has(field, "WARN") || Field.has(field, "WARC"))) {
        return Effect.andThen(
          logWarning(packet.type, field),
          Effect.suspend(() => deliver(packet, field, received, item) ?? Effect.void)
        )
      }
      return deliver(packet, field, received, item)
    }

    const deliver = (
      packet: Packet,
      field: Field.Field,
      received: IncomingField,
      item: Item
    ): Effect.Effect<void> | undefined => {
      let waits: Array<Effect.Effect<void>> | undefined
      let claimed = false
      const registered = responses.get(field.id)
      if (registered !== undefined) {
        for (const registration of registered) {
          if (registration.packetType === packet.type && registration.name === field.name) {
            claimed = true
            const wait = registration.mailbox.offerNow(item)
            if (wait !== undefined) (waits ??= []).push(wait)
          }
        }
      }
      for (const mailbox of subscribers) {
        const wait = mailbox.offerNow(received)
        if (wait !== undefined) (waits ??= []).push(wait)
      }
      if (!claimed && subscribers.size === 0) {
        if (config.inboxOverflow === "backpressure") {
          const wait = inbox.offerNow(item)
          if (wait !== undefined) (waits ??= []).push(wait)
        } else if (inbox.offerDroppingOldest(item) !== undefined) {
          dropped++
          // One warning per power of two: visible, without a log line per field.
          if ((dropped & (dropped - 1)) === 0) (waits ??= []).push(logInboxOverflow(dropped))
        }
      }
      if (waits === undefined) return undefined
      return waits.length === 1 ? waits[0] : Effect.all(waits, { discard: true })
    }

    /** Routes `packet`'s fields from `index` on; `undefined` when all went synchronously. */
    const routeFields = (packet: Packet, index: number): Effect.Effect<void, ConnectionError> | undefined => {
      const fields = packet.fields
      for (let i = index; i < fields.length; i++) {
        const wait = route(packet, fields[i] as Field.Field)
        if (wait !== undefined) {
          const next = i + 1
          return next === fields.length
            ? wait
            : Effect.andThen(
                wait,
                Effect.suspend(() => routeFields(packet, next) ?? Effect.void)
              )
        }
      }
      return undefined
    }

    /** Decodes and routes every whole packet the framer holds. */
    const routeAvailable = (): Effect.Effect<void, ConnectionError> => {
      for (;;) {
        const decoded = wire.nextDecoded()
        if (decoded === undefined) return Effect.void
        if (Result.isFailure(decoded)) return Effect.fail(decoded.failure)
        const { packet, warnings } = decoded.success
        if (warnings.length > 0) {
          return logDecodeWarnings(warnings, wire.remote).pipe(
            Effect.andThen(Effect.suspend(() => routeFields(packet, 0) ?? Effect.void)),
            Effect.andThen(Effect.suspend(routeAvailable))
          )
        }
        const wait = routeFields(packet, 0)
        if (wait !== undefined) return Effect.andThen(wait, Effect.suspend(routeAvailable))
      }
    }

    const readLoop: Effect.Effect<never, ConnectionError> = Effect.forever(
      Effect.andThen(wire.fill(), Effect.suspend(routeAvailable))
    )

    const keepAlive: Effect.Effect<never, ConnectionError> =
      config.timeout === 0
        ? Effect.forever(Effect.andThen(wire.writeKeepAlive(), Effect.sleep("3 seconds")))
        : Effect.forever(
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              const due = wire.lastSent + keepAliveIntervalMillis(config.timeout)
              return now >= due ? wire.writeKeepAlive() : Effect.sleep(due - now)
            })
          )

    // The receive timeout: one timer per period rather than one per pull, and only time spent
    // waiting for bytes counts.
    const limit = config.timeout * 1000
    const watchdog: Effect.Effect<never, ConnectionError> = Effect.forever(
      Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<void, ConnectionError> => {
        const since = wire.waitingSince
        if (since !== undefined && now - since >= limit) {
          return Effect.fail(
            new NetworkTimeout({ seconds: config.timeout, during: "waiting for the next packet", remote: wire.remote })
          )
        }
        return Effect.sleep(since === undefined ? Math.min(limit, 1000) : since + limit - now)
      })
    )

    // When either loop stops, the connection ends: close the scope, which releases the socket.
    const ending = (error: ConnectionError) =>
      Effect.andThen(
        config.beforeEnd === undefined ? terminate(error) : Effect.andThen(config.beforeEnd(error), terminate(error)),
        Effect.forkDetach(Scope.close(scope, Exit.void))
      )
    // The reader resumes in a microtask rather than a macrotask when bytes arrive, saving a turn
    // of the event loop on every packet; it cannot starve the loop, since it always goes back
    // to waiting on the socket.
    yield* Effect.forkIn(
      readLoop.pipe(
        Effect.catch((error: ConnectionError) => ending(error)),
        Effect.provideService(Scheduler.Scheduler, readerScheduler)
      ),
      scope
    )
    yield* Effect.forkIn(keepAlive.pipe(Effect.catch((error: ConnectionError) => ending(error))), scope)
    if (config.timeout > 0) {
      yield* Effect.forkIn(watchdog.pipe(Effect.catch((error: ConnectionError) => ending(error))), scope)
    }
    yield* Scope.addFinalizer(
      scope,
      terminate(new ConnectionClosed({ detail: "the connection was closed", remote: wire.remote }))
    )

    const failIfEnded = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectionError, R> =>
      Effect.suspend(
        (): Effect.Effect<A, E | ConnectionError, R> => (terminal === undefined ? effect : Effect.fail(terminal))
      )

    const fromItem = (item: Item): Effect.Effect<IncomingField, ConnectionError> =>
      Result.isSuccess(item) ? Effect.succeed(item.success) : Effect.fail(item.failure)

    const itemMatches = (packetType: string, name: string) => (item: Item) =>
      Result.isSuccess(item)
        ? item.success.packetType === packetType && item.success.name === name
        : item.failure.packetType === packetType && item.failure.fieldName === name

    type Sent = ReadonlyArray<readonly [name: string, id: number]>

    const registerNow = (packetType: string, sent: Sent) => {
      const mailbox = new Mailbox<Item, ConnectionError>(config.bufferCapacity)
      if (terminal !== undefined) mailbox.end(terminal)
      allResponses.add(mailbox)
      for (const [name, id] of sent) {
        const registered = responses.get(id)
        if (registered === undefined) responses.set(id, [{ packetType, name, mailbox }])
        else registered.push({ packetType, name, mailbox })
      }
      return mailbox
    }

    const unregisterNow = (sent: Sent, mailbox: Mailbox<Item, ConnectionError>) => {
      allResponses.delete(mailbox)
      for (const [, id] of sent) {
        const registered = responses.get(id)
        if (registered === undefined) continue
        const kept = registered.filter((registration) => registration.mailbox !== mailbox)
        if (kept.length === 0) responses.delete(id)
        else responses.set(id, kept)
      }
      // Unblock a routing fiber waiting on this mailbox: nobody will read it any more.
      mailbox.end(responseClosed())
    }

    const makeResponse = (
      packetType: string,
      sent: ReadonlyArray<readonly [name: string, id: number]>,
      mailbox: Mailbox<Item, ConnectionError>
    ): Response => {
      const [first] = sent as readonly [readonly [string, number]]
      return {
        packetType,
        fieldName: first[0],
        fieldId: first[1],
        recv: Effect.flatMap(mailbox.take(), fromItem),
        recvField: (name) => Effect.flatMap(mailbox.take(itemMatches(packetType, name)), fromItem),
        // built on first use: most Responses are only ever `recv`ed
        get fields() {
          return streamItems(mailbox)
        }
      }
    }

    // Plain combinators rather than Effect.gen and acquireRelease: this runs once per command.
    const sendPacket = (
      packetType: string,
      fields: ReadonlyArray<OutgoingField>
    ): Effect.Effect<Response, ConnectionError, Scope.Scope> =>
      Effect.flatMap(Effect.scope, (scope) => {
        if (terminal !== undefined) return Effect.fail(terminal)
        if (fields.length === 0) {
          return Effect.fail(new NetworkError({ detail: "sendPacket needs at least one field", remote: wire.remote }))
        }
        const sent: Sent = fields.map((field) => [field.name, config.nextFieldId()] as const)
        const inputs = fields.map((field, i) => ({
          name: field.name,
          id: (sent[i] as readonly [string, number])[1],
          params: field.params ?? {}
        }))
        const mailbox = registerNow(packetType, sent)
        return Scope.addFinalizer(
          scope,
          Effect.sync(() => unregisterNow(sent, mailbox))
        ).pipe(Effect.andThen(wire.writePacket(packetType, inputs)), Effect.as(makeResponse(packetType, sent, mailbox)))
      })

    const send = (packetType: string, fieldName: string, params: Field.ParamsInput = {}) =>
      sendPacket(packetType, [{ name: fieldName, params }])

    const subscribe = Effect.acquireRelease(
      Effect.sync(() => {
        const mailbox = new Mailbox<IncomingField, ConnectionError>(config.bufferCapacity)
        if (terminal !== undefined) mailbox.end(terminal)
        subscribers.add(mailbox)
        return mailbox
      }),
      (mailbox) =>
        Effect.sync(() => {
          subscribers.delete(mailbox)
          mailbox.end(new ConnectionClosed({ detail: "the fields stream ended", remote: wire.remote }))
        })
    )

    const fieldsStream: Stream.Stream<IncomingField, ConnectionError> = Stream.unwrap(
      Effect.map(subscribe, (mailbox) => {
        // Fields that arrived before the stream started come first.
        const queued = inbox.drain()
        const first = Stream.fromIterable(queued).pipe(Stream.mapEffect(fromItem))
        return Stream.concat(first, streamFields(mailbox))
      })
    )

    const connection: Connection = {
      remoteHostname: wire.remote,
      timeout: config.timeout,
      send,
      sendPacket,
      // send + recv without a Scope: the hot path of request/reply clients.
      request: (packetType, fieldName, params = {}) =>
        failIfEnded(
          Effect.suspend(() => {
            const sent: Sent = [[fieldName, config.nextFieldId()]]
            const mailbox = registerNow(packetType, sent)
            return wire
              .writePacket(packetType, [{ name: fieldName, id: sent[0]?.[1] ?? 0, params }])
              .pipe(
                Effect.andThen(Effect.flatMap(mailbox.take(), fromItem)),
                Effect.ensuring(Effect.sync(() => unregisterNow(sent, mailbox)))
              )
          })
        ),
      recv: Effect.flatMap(inbox.take(), fromItem),
      recvField: (packetType, fieldName) => Effect.flatMap(inbox.take(itemMatches(packetType, fieldName)), fromItem),
      fields: fieldsStream,
      close: Scope.close(scope, Exit.void),
      closed: Deferred.await(ended)
    }
    return connection
  })

/** A Stream of a mailbox's fields; it ends at a graceful close, fails on other errors. */
const streamFields = (
  mailbox: Mailbox<IncomingField, ConnectionError>
): Stream.Stream<IncomingField, ConnectionError> => {
  const pull: Pull.Pull<readonly [IncomingField, ...Array<IncomingField>], ConnectionError> = mailbox
    .takeAll()
    .pipe(
      Effect.catch(
        (error: ConnectionError): Pull.Pull<never, ConnectionError> =>
          isClosed(error) ? Cause.done() : Effect.fail(error)
      )
    )
  return Stream.fromPull(Effect.succeed(pull))
}

/** A Stream of a response's replies; an error reply fails it after the replies before it. */
const streamItems = (mailbox: Mailbox<Item, ConnectionError>): Stream.Stream<IncomingField, ConnectionError> => {
  // One item per pull: an error reply must fail the stream without taking the replies after it.
  const pull: Pull.Pull<readonly [IncomingField], ConnectionError> = mailbox.take().pipe(
    Effect.flatMap((item) =>
      Result.isSuccess(item) ? Effect.succeed([item.success] as const) : Effect.fail(item.failure)
    ),
    Effect.catch(
      (error: ConnectionError): Pull.Pull<never, ConnectionError> =>
        isClosed(error) ? Cause.done() : Effect.fail(error)
    )
  )
  return Stream.fromPull(Effect.succeed(pull))
}
