/**
 * The wire: one connection's socket as NCP sees it. Reading pulls byte chunks into a packet
 * framer and decodes whole packets; writing encodes packets stamped with the Clock's time and
 * hands them to the writer. It also keeps the connection's deadlines and the state the other
 * parts read: the remote's name, when a pull started waiting (for the receive timeout), when
 * bytes last went out (for keep-alives), and the error that ended the connection.
 *
 * Everything else (the tunnel, the handshakes, routing, liveness) works through this module's
 * methods; only this module changes wire state.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import * as Bytes from "../Bytes.js"
import { DecodeError } from "../CodecError.js"
import {
  ConnectionClosed,
  ConnectionDefect,
  type ConnectionError,
  type NetworkError,
  NetworkTimeout
} from "../ConnectionError.js"
import { type Decoded, type DecodeOptions, decodePacket, PacketDecoder } from "../Decoder.js"
import { encodePacket } from "../Encoder.js"
import type * as Field from "../Field.js"
import { PacketFramer } from "../Framing.js"
import * as Timestamp from "../Timestamp.js"
import { ByteBudget } from "./budget.js"
import { networkError } from "./socketError.js"
import { Outbox } from "./writer.js"

export interface WireOptions {
  readonly remote: string
  readonly maxPacketBytes?: number | undefined
  /** Decoding limits: fields per packet, params per field and per packet (the decoder's defaults otherwise). */
  readonly maxFieldsPerPacket?: number | undefined
  readonly maxParamsPerField?: number | undefined
  readonly maxParamsPerPacket?: number | undefined
  readonly info?: Uint8Array | undefined
  /**
   * What received data may hold before reading pauses: the packet being framed plus decoded
   * fields not yet taken (their estimated cost). Default 64 MiB.
   */
  readonly maxBufferedBytes?: number | undefined
  /** A budget every received byte also counts against: a server's total. */
  readonly totalBudget?: ByteBudget | undefined
  /** The most outgoing bytes held before writers wait. Default 1 MiB. */
  readonly maxWriteBufferBytes?: number | undefined
}

/**
 * Warning log entries a connection may write per second; beyond, they are counted and the count
 * is logged with the next entry allowed, so a peer cannot turn its data into a log storm.
 */
const WARNINGS_PER_SECOND = 10

/** Packets from this size on are decoded in steps, yielding to the event loop between them. */
const STEPPED_DECODE_BYTES = 256 * 1024

/** A yield to the event loop (a macrotask), whatever scheduler the fiber runs on. */
const yieldToEventLoop = Effect.yieldNow.pipe(
  Effect.provideService(Scheduler.Scheduler, new Scheduler.MixedScheduler())
)

/** How long a closing connection may take to hand what it queued to the socket before it is aborted. */
const FLUSH_ON_CLOSE = "5 seconds"

export class Wire {
  private readonly framer: PacketFramer
  private readonly outbox: Outbox
  private remoteName: string
  private endedWith: ConnectionError | undefined
  /**
   * Epoch millis (Clock) since which a pull has been waiting for bytes, or `undefined` while
   * none waits. The receive timeout watches it, so time spent waiting for a slow consumer
   * (backpressure) never counts as the peer's silence.
   */
  private waitingSinceMillis: number | undefined
  /** The packets' info bytes; `undefined` for the encoder's shared 4 zero bytes. */
  private readonly info: Uint8Array | undefined
  private readonly maxFieldsPerPacket: number | undefined
  private readonly maxParamsPerField: number | undefined
  private readonly maxParamsPerPacket: number | undefined
  /** The next chunk of bytes, or `undefined` at a graceful end of input. Built once: every read runs it. */
  readonly pullBytes: Effect.Effect<Uint8Array | undefined, NetworkError>

  /**
   * What received data holds: bytes in the framer, and the cost of decoded fields queued for
   * Responses, subscribers and the inbox (routing's mailboxes count against it).
   */
  readonly readBudget: ByteBudget
  /** Fails with what broke the writer: a failed write, or a defect in the writer fiber. */
  readonly broken = Deferred.makeUnsafe<never, ConnectionError>()

  constructor(
    pull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError>,
    options: WireOptions,
    /** The fiber's Clock, read synchronously on the hot path (TestClock in tests). */
    readonly clock: Clock.Clock
  ) {
    this.framer = new PacketFramer({ maxPacketBytes: options.maxPacketBytes })
    this.maxFieldsPerPacket = options.maxFieldsPerPacket
    this.maxParamsPerField = options.maxParamsPerField
    this.maxParamsPerPacket = options.maxParamsPerPacket
    this.readBudget = new ByteBudget(options.maxBufferedBytes ?? 64 * 1024 * 1024, options.totalBudget)
    // The pull, stamped for the receive-timeout watchdog.
    const waited = Effect.ensuring(
      pull,
      Effect.sync(() => {
        this.waitingSinceMillis = undefined
      })
    )
    const timedPull = Effect.suspend(() => {
      this.waitingSinceMillis = clock.currentTimeMillisUnsafe()
      return waited
    })
    this.pullBytes = timedPull.pipe(
      Effect.map(concatChunks),
      Effect.catch((error: Socket.SocketError) => {
        const reason = error.reason
        if (reason._tag === "SocketCloseError" && reason.code === 1000) return Effect.succeed(undefined)
        return Effect.fail(networkError(error, this.remoteName))
      })
    )
    this.remoteName = options.remote
    this.info = options.info
    this.outbox = new Outbox(this, clock, options.maxWriteBufferBytes ?? 1024 * 1024)
  }

  /** The peer's name: `host:port` for a client, the client's `CIW` for a server once known. */
  get remote(): string {
    return this.remoteName
  }

  /** Names the peer, as a server does once the client's `CIW` arrives. */
  rename(remote: string): void {
    this.remoteName = remote
  }

  /** The error that ended the connection, once it has ended. */
  get ended(): ConnectionError | undefined {
    return this.endedWith
  }

  /** Marks the connection ended: later writes fail with `ConnectionClosed`. The first error wins. */
  end(error: ConnectionError): void {
    this.endedWith ??= error
  }

  /** Epoch millis since which a pull has been waiting for bytes, or `undefined`. */
  get waitingSince(): number | undefined {
    return this.waitingSinceMillis
  }

  /** Epoch millis of the last bytes queued for the socket. */
  get lastSent(): number {
    return this.outbox.lastSent
  }

  /** Epoch millis since which the socket has held bytes it could not hand on, or `undefined`. */
  get writingSince(): number | undefined {
    return this.outbox.writingSince
  }

  /** Gives back bytes read past the end of something else (a tunnel head): packets come next. */
  unread(bytes: Uint8Array): void {
    this.framer.push(bytes)
    this.readBudget.take(bytes.length)
  }

  /**
   * Pulls the next chunk into the framer. The end of input fails: with `ConnectionClosed`
   * between packets, with a `Truncated` `DecodeError` inside one.
   *
   * While decoded fields nobody has taken yet fill the read budget (or the server's total),
   * it waits for them to be taken before reading on: backpressure to the peer. The packet being
   * framed never waits, so one always completes.
   */
  fill(): Effect.Effect<void, ConnectionError> {
    return this.filling
  }

  private readonly pullIntoFramer: Effect.Effect<void, ConnectionError> = Effect.flatMap(
    Effect.suspend(() => this.pullBytes),
    (bytes): Effect.Effect<void, ConnectionError> => {
      if (bytes === undefined) {
        return Effect.fail(
          this.framer.end() ??
            new ConnectionClosed({ detail: "the peer closed the connection", remote: this.remoteName })
        )
      }
      this.framer.push(bytes)
      this.readBudget.take(bytes.length)
      return Effect.void
    }
  )

  private readonly filling: Effect.Effect<void, ConnectionError> = Effect.suspend(() => {
    const budget = this.readBudget
    return budget.full && budget.used > this.framer.pending
      ? Effect.andThen(budget.room, this.pullIntoFramer)
      : this.pullIntoFramer
  })

  /**
   * The next whole packet the framer holds: decoded at once, or, when it is large, a
   * `PacketDecoder` to run with {@link decodeInSteps}; `undefined` when more bytes are needed.
   */
  nextDecoded(): Result.Result<Decoded, DecodeError> | PacketDecoder | undefined {
    const offset = this.framer.offset
    const next = this.framer.next()
    if (next === undefined) return undefined
    if (next instanceof DecodeError) return Result.fail(next)
    this.readBudget.give(next.length)
    // A literal of one shape for every packet: a spread made objects the decoder's reads of
    // its options could not optimise, costing about an eighth of the round-trip rate.
    const options: DecodeOptions = {
      maxFieldsPerPacket: this.maxFieldsPerPacket,
      maxParamsPerField: this.maxParamsPerField,
      maxParamsPerPacket: this.maxParamsPerPacket,
      baseOffset: offset
    }
    return next.length >= STEPPED_DECODE_BYTES ? new PacketDecoder(next, options) : decodePacket(next, options)
  }

  /**
   * Decodes a large packet a slice at a time, letting the event loop run between slices, so
   * that one connection's huge packet does not stall every other connection.
   */
  decodeInSteps(decoder: PacketDecoder): Effect.Effect<Decoded, DecodeError> {
    const step: Effect.Effect<Decoded, DecodeError> = Effect.suspend(() => {
      const result = decoder.step()
      if (result === undefined) return Effect.andThen(yieldToEventLoop, step)
      return Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(result.failure)
    })
    return step
  }

  /** The next whole packet, decoded; its decode warnings are logged. */
  readPacket(): Effect.Effect<Decoded, ConnectionError> {
    return Effect.suspend(() => {
      const next = this.nextDecoded()
      if (next === undefined) return Effect.andThen(this.fill(), this.readPacket())
      const decoded =
        next instanceof PacketDecoder
          ? this.decodeInSteps(next)
          : Result.isFailure(next)
            ? Effect.fail(next.failure)
            : Effect.succeed(next.success)
      return Effect.tap(decoded, (packet) => (packet.warningCount === 0 ? Effect.void : this.logDecodeWarnings(packet)))
    })
  }

  private warningWindow = Number.NEGATIVE_INFINITY
  private warningsInWindow = 0
  private warningsSuppressed = 0

  /**
   * Logs a warning about this connection, annotated with `ncp: kind`, the remote and
   * `annotations`: at most {@link WARNINGS_PER_SECOND} entries a second; the rest are counted,
   * and the next entry says how many were left out.
   */
  warn(kind: string, message: string, annotations: Record<string, unknown> = {}): Effect.Effect<void> {
    return Effect.suspend(() => {
      const now = this.clock.currentTimeMillisUnsafe()
      if (now - this.warningWindow >= 1000) {
        this.warningWindow = now
        this.warningsInWindow = 0
      }
      if (this.warningsInWindow >= WARNINGS_PER_SECOND) {
        this.warningsSuppressed++
        return Effect.void
      }
      this.warningsInWindow++
      const suppressed = this.warningsSuppressed
      this.warningsSuppressed = 0
      return Effect.logWarning(
        suppressed === 0 ? message : `${message} (${suppressed} earlier warning(s) left out of the log)`
      ).pipe(
        Effect.annotateLogs({
          ...annotations,
          ncp: kind,
          remote: this.remoteName,
          ...(suppressed === 0 ? {} : { suppressed })
        })
      )
    })
  }

  /**
   * Logs one packet's decode warnings: one entry per kind (count, first offset and where),
   * never one per param, and within the connection's warning rate.
   */
  logDecodeWarnings(decoded: Decoded): Effect.Effect<void> {
    return Effect.forEach(
      decoded.warningSummary,
      (summary) =>
        this.warn("DecodeWarning", summary.message, {
          kind: summary.kind,
          count: summary.count,
          offset: summary.offset,
          packetType: summary.packetType ?? "",
          field: summary.field ?? "",
          param: summary.param ?? ""
        }),
      { discard: true }
    )
  }

  /** Hands bytes (the tunnel's text, or an encoded packet) to the writer. */
  writeBytes(bytes: Uint8Array): Effect.Effect<void, NetworkError | ConnectionClosed | ConnectionDefect> {
    return this.outbox.write(bytes)
  }

  /**
   * The writer fiber: drains the outbox into the socket until the wire closes. Its failure,
   * or a defect, breaks the wire ({@link broken}) with one error, the same one later writes
   * fail with, so that the connection ends with the error its users see.
   */
  runWriter(writer: Socket.Writer): Effect.Effect<void> {
    return this.outbox.run(writer).pipe(
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        const failure = Cause.findErrorOption(cause)
        const error =
          failure._tag === "Some"
            ? failure.value
            : new ConnectionDefect({
                detail: "the connection's writer failed unexpectedly",
                remote: this.remoteName,
                cause: Cause.squash(cause)
              })
        // Later writes fail at once rather than queue for a writer that is gone.
        this.outbox.break(error)
        Deferred.doneUnsafe(this.broken, Effect.fail(error))
        return error._tag === "ConnectionDefect"
          ? Effect.logError(error.detail, cause).pipe(
              Effect.annotateLogs({ ncp: "ConnectionDefect", remote: this.remoteName })
            )
          : Effect.void
      })
    )
  }

  /** Stops taking bytes; the writer fiber ends once it has written what is queued. */
  closeWriter(): void {
    this.outbox.close()
  }

  /** Whether closing drops what is still queued and aborts the socket, rather than flush first. */
  get aborting(): boolean {
    return this.abortRequested
  }

  /**
   * Makes closing abort the socket at once, and cuts short a close already flushing: for a
   * server whose shutdown grace has run out.
   */
  abortNow(): void {
    this.abortRequested = true
    Deferred.doneUnsafe(this.abortSignal, Effect.void)
  }

  private abortRequested = false
  /** Completes when {@link abortNow} is called. */
  readonly abortSignal = Deferred.makeUnsafe<void>()

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
   * Fails `effect` with a `NetworkTimeout` unless it completes within `deadline` (seconds, 0
   * for no limit, or a Duration); `command` names the command waited for, if any.
   */
  withDeadline<A, E>(
    effect: Effect.Effect<A, E>,
    deadline: number | Duration.Duration,
    during: string,
    command?: string
  ): Effect.Effect<A, E | NetworkTimeout> {
    if (typeof deadline === "number" && deadline <= 0) return effect
    const duration = typeof deadline === "number" ? Duration.seconds(deadline) : deadline
    return Effect.timeoutOrElse(effect, {
      duration,
      orElse: () =>
        Effect.fail(
          new NetworkTimeout({
            seconds: Duration.toMillis(duration) / 1000,
            during,
            remote: this.remoteName,
            ...(command === undefined ? {} : { command })
          })
        )
    })
  }
}

const textEncoder = new TextEncoder()

/**
 * The scheduler of the reader and writer fibers: they resume in a microtask rather than a
 * macrotask when bytes arrive or are queued, saving a turn of the event loop per packet. They
 * cannot starve the loop, since each goes back to waiting on the socket or the queue.
 */
export const syncScheduler = new Scheduler.MixedScheduler("sync")

const concatChunks = (chunks: ReadonlyArray<Uint8Array | string>): Uint8Array => {
  const [first] = chunks
  // The usual case: one chunk of bytes, passed on as it is.
  if (chunks.length === 1 && first instanceof Uint8Array) return first
  return Bytes.concat(chunks.map((chunk) => (typeof chunk === "string" ? textEncoder.encode(chunk) : chunk)))
}

/** Acquires the socket's reader and writer in the current scope. */
export const makeWire = (socket: Socket.Socket, options: WireOptions): Effect.Effect<Wire, NetworkError, Scope.Scope> =>
  Effect.gen(function* () {
    const reader = yield* socket.reader.pipe(Effect.mapError((error) => networkError(error, options.remote)))
    const writer = yield* socket.writer
    const clock = yield* Effect.clockWith(Effect.succeed)
    const wire = new Wire(reader.pull, options, clock)
    const writing = yield* Effect.forkScoped(
      wire.runWriter(writer).pipe(Effect.provideService(Scheduler.Scheduler, syncScheduler))
    )
    // Runs before the writer fiber is interrupted and the socket's own finalizers: deliver what
    // was written, then close. Bounded, so a peer that stopped reading cannot hold the close
    // forever: past the bound the socket is aborted, since a graceful close would wait for that
    // peer too.
    const abort = Effect.ignore(writer.write(new Socket.CloseEvent(1006, "the peer stopped reading")))
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        wire.closeWriter()
        if (wire.aborting) return abort
        return Effect.raceFirst(Effect.asVoid(Fiber.await(writing)), Deferred.await(wire.abortSignal)).pipe(
          Effect.timeoutOrElse({ duration: FLUSH_ON_CLOSE, orElse: () => abort }),
          Effect.andThen(Effect.suspend(() => (wire.aborting ? abort : Effect.void)))
        )
      })
    )
    return wire
  })
