/**
 * The wire: one connection's socket as NCP sees it, made of the link it drives (the socket, see
 * `link.ts`), its reading half ({@link Reader}), its writing half ({@link Outbox}) and its
 * rate-limited warning log, plus the state every other part reads: the remote's name and the
 * error that ended the connection. Packets written here are stamped with the Clock's time.
 *
 * Everything else (the tunnel, the handshakes, routing, liveness) works through the wire; only
 * the wire and its parts change its state.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Scheduler from "effect/Scheduler"
import type * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import type { ConnectionError, NetworkError } from "../ConnectionError.js"
import * as Encoder from "../Encoder.js"
import type * as Field from "../Field.js"
import type * as Limits from "../Limits.js"
import * as Timestamp from "../Timestamp.js"
import * as Transport from "../Transport.js"
import type { ByteBudget } from "./budget.js"
import { Inbound } from "./inbound.js"
import { fromDirect, fromSocket, type Link, type LinkHandlers } from "./link.js"
import { WarningLog } from "./log.js"
import { Outbox } from "./outbox.js"
import { type InputEnd, isGraceful, Reader } from "./reader.js"
import { networkError } from "./socketError.js"
import { type Role, Telemetry } from "./telemetry.js"

export interface WireOptions {
  /** Which end of the connection this is. */
  readonly role: Role
  /** The peer as errors and logs name it. */
  readonly remote: string
  readonly limits: Limits.ConnectionLimits
  /** The packets' info bytes; `undefined` for the encoder's shared 4 zero bytes. */
  readonly info?: Uint8Array | undefined
  /** The wire type of plain numbers that are not integers: f64 (lossless) or f32 (as ncplib). */
  readonly floats?: "f64" | "f32" | undefined
  /** A budget every received byte also counts against: a server's total. */
  readonly totalBudget?: ByteBudget | undefined
  /** A budget every outstanding outgoing byte also counts against: a server's total. */
  readonly totalWriteBudget?: ByteBudget | undefined
}

/** How long a closing connection may take to hand what it queued to the socket before it is aborted. */
const FLUSH_ON_CLOSE = "5 seconds"

/**
 * The scheduler of the fibers routing waits in: they resume in a microtask rather than a
 * macrotask when what they wait for comes, saving a turn of the event loop. They cannot starve
 * the loop: each goes back to the socket's events once it is done.
 */
export const syncScheduler = new Scheduler.MixedScheduler("sync")

export class Wire {
  private readonly remoteName: string
  private endedWith: ConnectionError | undefined
  private readonly info: Uint8Array | undefined
  private readonly encodeOptions: Encoder.EncodeOptions | undefined
  readonly reader: Reader
  readonly outbox: Outbox
  readonly log: WarningLog

  constructor(
    readonly link: Link,
    options: WireOptions,
    /** The fiber's Clock, read synchronously on the hot path (TestClock in tests). */
    readonly clock: Clock.Clock,
    /** Its metrics and the names it goes by in logs and spans. */
    readonly telemetry: Telemetry,
    /**
     * Runs an Effect in a fiber of the connection's scope, with the services of the fiber that
     * made the wire: what routing has to wait for, and how the connection ends.
     */
    readonly spawn: (effect: Effect.Effect<void>) => void
  ) {
    this.remoteName = options.remote
    this.info = options.info
    this.encodeOptions = options.floats === "f32" ? { floats: "f32" } : undefined
    this.log = new WarningLog(this, clock, telemetry)
    const inbound = new Inbound(this, options.limits, options.totalBudget, telemetry)
    this.reader = new Reader(link, inbound, this, this.log, clock, spawn)
    this.outbox = new Outbox(
      this,
      link,
      clock,
      options.limits.maxWriteBufferBytes,
      options.totalWriteBudget,
      telemetry,
      spawn
    )
  }

  /** The link's handlers, bound to this wire's reader and writer. */
  readonly handlers: LinkHandlers = {
    data: (chunk) => this.reader.receive(chunk),
    end: () => this.reader.receiveEnd({ _tag: "End" }),
    fail: (error) => {
      const end: InputEnd = { _tag: "Fail", error }
      this.reader.receiveEnd(end)
      // The socket is dead both ways: writes stop now, not once routing (perhaps waiting for
      // room) gets to the end of input, so keep-alives and requests do not go into the void.
      if (!isGraceful(end)) this.outbox.breakWith(networkError(error, this.remoteName))
    },
    writeFailed: (error) => this.outbox.breakWith(networkError(error, this.remoteName)),
    defect: (part, cause) => {
      if (part === "reader") this.reader.defect(cause)
      else this.outbox.writerDefect(Cause.squash(cause), cause)
    }
  }

  /** The annotations of every log entry of this connection: the remote, the node's name, the connection id, the role. */
  get annotations(): Record<string, string> {
    return {
      remote: this.remoteName,
      node: this.peerHostname ?? this.remoteName,
      connection: this.telemetry.id,
      role: this.telemetry.role
    }
  }

  /**
   * The peer as errors and logs name it: `host:port` for a client (or its `remoteHostname`),
   * the client's address and port for a server.
   */
  get remote(): string {
    return this.remoteName
  }

  /** The host name the client gave in its handshake (`CIW`), on a server once known. */
  peerHostname: string | undefined

  /** The error that ended the connection, once it has ended. */
  get ended(): ConnectionError | undefined {
    return this.endedWith
  }

  /** Marks the connection ended: later writes fail with `ConnectionClosed`. The first error wins. */
  end(error: ConnectionError): void {
    this.endedWith ??= error
  }

  /** Encodes and writes one packet stamped with the Clock's time. */
  writePacket(
    type: string,
    fields: ReadonlyArray<Field.FieldInput>,
    packetId = 1
  ): Effect.Effect<void, ConnectionError> {
    return Effect.suspend(() => this.sendNow(type, fields, packetId) ?? Effect.void)
  }

  /**
   * Encodes and queues one packet now, stamped with the Clock's time: `undefined` when it is
   * queued, an Effect when the writer must wait first (then it is encoded once there is room),
   * or for the failure.
   */
  sendNow(
    type: string,
    fields: ReadonlyArray<Field.FieldInput>,
    packetId = 1
  ): Effect.Effect<void, ConnectionError> | undefined {
    const outbox = this.outbox
    if (outbox.full) return Effect.andThen(outbox.room, this.writePacket(type, fields, packetId))
    const now = this.clock.currentTimeMillisUnsafe()
    const encoded = Encoder.encodePacket(
      { type, id: packetId, timestamp: Timestamp.fromMillis(now), info: this.info, fields },
      this.encodeOptions
    )
    return Result.isFailure(encoded) ? Effect.fail(encoded.failure) : outbox.offerNow(encoded.success, now)
  }

  /**
   * A keep-alive: a LINK packet without fields, packet id 0, nanoseconds 0. Never waits: while
   * the writer's queue is full, bytes are queued already and the keep-alive is not needed.
   */
  writeKeepAlive(): Effect.Effect<void, ConnectionError> {
    return Effect.suspend((): Effect.Effect<void, ConnectionError> => {
      const encoded = Encoder.encodePacket({
        type: "LINK",
        id: 0,
        timestamp: { seconds: Math.floor(this.clock.currentTimeMillisUnsafe() / 1000), nanos: 0 },
        info: this.info,
        fields: []
      })
      if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
      this.telemetry.keepAliveSent()
      const write = this.outbox.offerUnlessFull(encoded.success)
      return this.telemetry.debug
        ? Effect.andThen(Effect.logDebug("keep-alive sent").pipe(Effect.annotateLogs({ ncp: "KeepAlive" })), write)
        : write
    })
  }
}

/**
 * Acquires the socket in the current scope: driven directly when it can be (see
 * `Transport.DirectSocket`), through its reader and writer otherwise.
 */
export const makeWire = (socket: Socket.Socket, options: WireOptions): Effect.Effect<Wire, NetworkError, Scope.Scope> =>
  Effect.gen(function* () {
    const toNetworkError = (error: Socket.SocketError) => networkError(error, options.remote)
    const link: Link = Transport.isDirectCapable(socket)
      ? fromDirect(yield* Effect.mapError(socket[Transport.DirectTypeId], toNetworkError))
      : yield* Effect.mapError(fromSocket(socket), toNetworkError)
    const clock = yield* Effect.clockWith(Effect.succeed)
    const scope = yield* Effect.scope
    const services = yield* Effect.context<never>()
    // What routing waits for runs in fibers of this scope, with this fiber's services (its
    // logger, its Clock), on the synchronous scheduler. They are started from the socket's own
    // events, where no fiber runs to fork from: so each is run as a root fiber and then handed
    // to the connection's scope (`Fiber.runIn`), which interrupts it when the connection
    // closes; what they run ends the connection on any exit, defects included (`endOnExit`).
    const run = Effect.runForkWith(Context.add(services, Scheduler.Scheduler, syncScheduler))
    const wire = new Wire(link, options, clock, new Telemetry(services, options.role), (effect) => {
      Fiber.runIn(run(effect), scope)
    })
    link.start(wire.handlers)
    // Runs before the socket's own finalizers: deliver what was written, then close. Bounded,
    // so a peer that stopped reading cannot hold the close forever: past the bound the socket
    // is aborted, since a graceful close would wait for that peer too.
    const outbox = wire.outbox
    const abort = link.abort
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        wire.reader.close()
        outbox.close()
        if (outbox.aborting) return abort
        return Effect.raceFirst(outbox.flushed, Deferred.await(outbox.abortSignal)).pipe(
          Effect.timeoutOrElse({ duration: FLUSH_ON_CLOSE, orElse: () => abort }),
          Effect.andThen(Effect.suspend(() => (outbox.aborting ? abort : Effect.void)))
        )
      }).pipe(Effect.ensuring(Effect.sync(() => outbox.finish())))
    )
    return wire
  })
