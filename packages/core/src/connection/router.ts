/**
 * Routing: where each received field goes. A field goes to every waiting Response whose packet
 * type, field name and field id it matches, to every subscriber of the connection's `fields`,
 * and otherwise to the inbox read by `recv` and `recvField`. With `autoErro`, `autoWarn` and
 * `autoAckn`, error replies become `CommandError`s, warnings are logged and acknowledgements
 * skipped, as the spec says a client does.
 *
 * Routing runs synchronously in the socket's event for as long as nothing has to wait, and
 * waits (the reader paused, which is backpressure to the peer) only for a full mailbox, a log
 * line, a `LINK ERRO`, a large packet decoded in steps, the packet rate, or the other
 * connections' turn: a server routes at most `packetsPerTurn` packets of one connection before
 * it lets the event loop run the others.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Stream from "effect/Stream"
import type * as Tracer from "effect/Tracer"
import { DecodeError } from "../CodecError.js"
import type { Connection } from "../Connection.js"
import {
  CommandError,
  CommandWarning,
  type ConnectionClosed,
  type ConnectionError,
  errorParams
} from "../ConnectionError.js"
import { type Decoded, PacketDecoder } from "../Decoder.js"
import type * as Field from "../Field.js"
import type { Packet } from "../Packet.js"
import { yieldToEventLoop } from "./inbound.js"
import type { Item, Received } from "./items.js"
import { allOf, Mailbox } from "./mailbox.js"
import { refuseNames } from "./names.js"
import { PacketRate } from "./pacing.js"
import { type ResponseMailbox, Responses } from "./responses.js"
import { CommandSpans } from "./spans.js"
import { Subscriptions } from "./subscriptions.js"
import type { Wire } from "./wire.js"

/** What arrived, at Debug: each command (or reply), or a keep-alive. */
const logReceived = (packet: Packet): Effect.Effect<void> =>
  packet.fields.length === 0
    ? Effect.logDebug(`keep-alive received (${packet.type})`).pipe(Effect.annotateLogs({ ncp: "KeepAlive" }))
    : Effect.forEach(
        packet.fields,
        (field) =>
          Effect.logDebug(`received ${packet.type} ${field.name}`).pipe(
            Effect.annotateLogs({ ncp: "Received", fieldId: field.id, params: field.params.length })
          ),
        { discard: true }
      )

export interface RouterConfig {
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
  /** With `"dropOldest"`: the most (estimated) bytes of fields the inbox keeps. */
  readonly inboxBytes?: number | undefined
  /**
   * Refuse names that are not identifiers (1-4 of A-Z, 0-9), as a server does with what a
   * client sends: a field's bad name ends the connection with a `DecodeError`; a param's gets
   * the field an error reply naming it, and the field is not delivered. Otherwise (a client)
   * names are taken as sent, as a tolerant decoder does.
   */
  readonly checkNames?: boolean | undefined
  /**
   * The most packets routed per second (keep-alives included), bursts up to a second's worth;
   * beyond it reading pauses, which is backpressure to the peer. 0 or missing: no limit.
   */
  readonly maxPacketsPerSecond?: number | undefined
  /**
   * Packets routed before the reader lets the event loop run other connections: a peer that
   * sends thousands of packets in one chunk gets no longer turns than the others. Missing: no
   * limit.
   */
  readonly packetsPerTurn?: number | undefined
}

// What a decoded field is taken to hold, for memory budgets: its objects (the field, the
// IncomingField around it, its reply function, each param and value) beyond the bytes of its
// values. Estimates, on the high side.
const FIELD_COST = 256
const PARAM_COST = 64

// What `route` needs to know of a field's params, found in one pass over them.
const HAS_ACKN = 1
const HAS_ERROR = 2
const HAS_WARNING = 4

const highestBit = (n: number): number => (n === 0 ? -1 : 31 - Math.clz32(n))

export class Router {
  readonly inbox: Mailbox<Item, ConnectionError>
  /** Completes when the connection has ended, with the reason. */
  readonly ended = Deferred.makeUnsafe<ConnectionError>()
  private readonly responses: Responses
  private readonly subscriptions: Subscriptions
  /** On a server with a tracer installed: each command's span. */
  private readonly spans: CommandSpans | undefined
  private dropped = 0
  /** Epoch millis (Clock) of the last command (a field of a packet other than LINK) routed. */
  lastCommand: number
  private readonly rate: PacketRate | undefined
  private readonly perTurn: number

  /**
   * The connection the fields come in on. Assigned by `make` right after it builds the
   * connection around this router, before routing delivers any field.
   */
  connection!: Connection

  constructor(
    private readonly wire: Wire,
    private readonly config: RouterConfig,
    /** On a server with a tracer installed: the tracer of each command's span, and the connection's attributes. */
    tracing?: { readonly tracer: Tracer.Tracer; readonly attributes: Record<string, unknown> } | undefined
  ) {
    const budget = wire.reader.budget
    // A dropping inbox (a client's) is bounded by its own limits (`inboxCapacity`,
    // `inboxBytes`) and frees room only when a newer field arrives: counted against the read
    // budget, fields nobody reads would hold back the reading of a reply for ever.
    this.inbox = new Mailbox<Item, ConnectionError>(
      config.inboxCapacity,
      config.inboxOverflow === "dropOldest" ? undefined : budget
    )
    this.responses = new Responses(wire)
    this.subscriptions = new Subscriptions(wire, config.bufferCapacity, budget, this.inbox)
    this.spans = tracing === undefined ? undefined : new CommandSpans(wire, tracing.tracer, tracing.attributes)
    this.lastCommand = wire.clock.currentTimeMillisUnsafe()
    const perSecond = config.maxPacketsPerSecond ?? 0
    this.rate = perSecond > 0 ? new PacketRate(perSecond, wire.clock) : undefined
    this.perTurn = config.packetsPerTurn ?? Number.POSITIVE_INFINITY
  }

  /** The error that ended the connection, once it has ended (the wire keeps it). */
  get terminated(): ConnectionError | undefined {
    return this.wire.ended
  }

  /**
   * Stops delivering fields: later ones are dropped, and the inbox and the `fields` streams end
   * with `reason` once they have handed out what they hold. Responses are left alone.
   */
  stopReceiving(reason: ConnectionClosed): void {
    this.inbox.end(reason)
    this.subscriptions.stop(reason)
  }

  /** Ends routing: every waiting take fails with `error`, later ones once their mailbox is empty. */
  terminate(error: ConnectionError): void {
    if (this.wire.ended !== undefined) return
    this.wire.end(error)
    this.inbox.end(error)
    this.responses.forEach((mailbox) => {
      mailbox.end(error)
    })
    this.subscriptions.end(error)
    Deferred.doneUnsafe(this.ended, Effect.succeed(error))
    this.spans?.endAll(error)
  }

  private incoming(packet: Packet, field: Field.Field): Received {
    const wire = this.wire
    const packetType = packet.type
    const name = field.name
    const id = field.id
    const spans = this.spans
    const span = spans === undefined || packetType === "LINK" ? undefined : spans.start(packetType, field)
    // The reply function holds the wire and the names it needs, not the packet and the field:
    // a queued field would otherwise keep its whole packet alive.
    return {
      packetType,
      packetId: packet.id,
      packetTimestamp: packet.timestamp,
      name,
      id,
      params: field.params,
      reply:
        span === undefined || spans === undefined
          ? (params = {}) => wire.writePacket(packetType, [{ name, id, params }])
          : (params = {}) => spans.replied(span, params, wire.writePacket(packetType, [{ name, id, params }])),
      span,
      connection: this.connection
    }
  }

  /** A warning reply: published to `warnings`, and logged (within the connection's warning rate). */
  private logWarning(packetType: string, field: Field.Field) {
    if (this.subscriptions.hasWarningSubscribers) {
      this.subscriptions.offerWarning(CommandWarning.fromField(packetType, field))
    }
    return this.wire.log.commandWarning(packetType, field)
  }

  /** Routes one field: `undefined` when it was delivered, an Effect only for what must wait. */
  private route(packet: Packet, field: Field.Field): Effect.Effect<void, ConnectionError> | undefined {
    // Once stopped, the inbox and the `fields` mailboxes have ended and drop what they are
    // offered; replies to Responses still arrive.
    const config = this.config
    if (config.checkNames === true) {
      const refused = refuseNames(packet.type, field)
      if (refused instanceof DecodeError) return Effect.fail(refused)
      // a param's bad name: the field gets an error reply naming it, and is not delivered
      if (refused !== undefined) {
        return this.wire.writePacket(packet.type, [
          { name: field.name, id: field.id, params: errorParams(refused, 400) }
        ])
      }
    }
    if (config.autoErro && field.name === "ERRO") {
      const error = CommandError.fromField(packet.type, field)
      // A LINK ERRO answers no particular command: it ends the connection.
      if (packet.type === "LINK") return Effect.fail(error)
      this.inbox.failWaiters(error)
      this.responses.forEach((mailbox) => {
        mailbox.failWaiters(error)
      })
      return undefined
    }
    if (config.autoWarn && field.name === "WARN") return this.logWarning(packet.type, field)
    // One pass over the params: the names routing looks for, and the estimated bytes the field
    // holds while it waits in a mailbox (its objects beyond the bytes of its values).
    let found = 0
    let cost = FIELD_COST
    const params = field.params
    for (let i = 0; i < params.length; i++) {
      const param = params[i] as Field.Param
      switch (param.name) {
        case "ACKN":
          found |= HAS_ACKN
          break
        case "ERRO":
        case "ERRC":
          found |= HAS_ERROR
          break
        case "WARN":
        case "WARC":
          found |= HAS_WARNING
      }
      const v = param.value.value
      cost += PARAM_COST + (typeof v === "string" ? v.length * 2 : typeof v === "object" ? v.byteLength : 0)
    }
    if (config.autoAckn && (found & HAS_ACKN) !== 0) return undefined
    const received = this.incoming(packet, field)
    const item: Item =
      config.autoErro && (found & HAS_ERROR) !== 0 ? CommandError.fromField(packet.type, field) : received
    // A warning is logged before the field is delivered, as it comes first on the wire.
    if (config.autoWarn && (found & HAS_WARNING) !== 0) {
      return Effect.andThen(
        this.logWarning(packet.type, field),
        Effect.suspend(() => this.deliver(received, item, cost) ?? Effect.void)
      )
    }
    return this.deliver(received, item, cost)
  }

  private deliver(received: Received, item: Item, cost: number): Effect.Effect<void> | undefined {
    const claimed = this.responses.offer(received.id, received.packetType, received.name, item, cost)
    const subscriptions = this.subscriptions
    let waits: Array<Effect.Effect<void>> | undefined = typeof claimed === "boolean" ? undefined : [claimed]
    if (subscriptions.hasFieldSubscribers) waits = subscriptions.offerField(received, cost, waits)
    else if (claimed === false) {
      if (this.config.inboxOverflow === "backpressure") {
        const wait = this.offerUnclaimed(received, item, cost)
        if (wait !== undefined) (waits ??= []).push(wait)
      } else {
        const dropped = this.inbox.offerDroppingOldest(item, cost, this.config.inboxBytes ?? Number.POSITIVE_INFINITY)
        if (dropped > 0) {
          const before = this.dropped
          this.dropped += dropped
          // One warning each time the count passes a power of two: visible, without a log line per field.
          if (highestBit(this.dropped) !== highestBit(before)) {
            const config = this.config
            ;(waits ??= []).push(this.wire.log.inboxOverflow(this.dropped, config.inboxCapacity, config.inboxBytes))
          }
        }
      }
    }
    return allOf(waits)
  }

  /**
   * Queues an unclaimed field in the inbox, waiting while it is full. Where it goes is decided
   * again once there is room: a `fields` stream started meanwhile (which drained the inbox) gets
   * it, rather than the inbox behind that stream's back.
   */
  private offerUnclaimed(received: Received, item: Item, cost: number): Effect.Effect<void> | undefined {
    if (this.subscriptions.hasFieldSubscribers) return allOf(this.subscriptions.offerField(received, cost, undefined))
    if (this.inbox.tryOffer(item, cost)) return undefined
    return Effect.andThen(
      this.inbox.room(),
      Effect.suspend(() => this.offerUnclaimed(received, item, cost) ?? Effect.void)
    )
  }

  /** Routes `packet`'s fields from `index` on; `undefined` when all went synchronously. */
  private routeFields(packet: Packet, index: number): Effect.Effect<void, ConnectionError> | undefined {
    const fields = packet.fields
    for (let i = index; i < fields.length; i++) {
      const wait = this.route(packet, fields[i] as Field.Field)
      if (wait !== undefined) {
        const next = i + 1
        return next === fields.length
          ? wait
          : Effect.andThen(
              wait,
              Effect.suspend(() => this.routeFields(packet, next) ?? Effect.void)
            )
      }
    }
    return undefined
  }

  /**
   * Decodes and routes every whole packet received, synchronously: `undefined` once all are
   * routed, an Effect for what must wait (then routes the rest) or fails.
   */
  readonly routeAvailable = (): Effect.Effect<void, ConnectionError> | undefined => {
    const inbound = this.wire.reader.inbound
    for (let routed = 0; ; routed++) {
      // another connection's turn (a wasted one now and then, when no packet is left)
      if (routed >= this.perTurn) return Effect.andThen(yieldToEventLoop, this.routeRest)
      let next = inbound.nextDecoded()
      if (next === undefined) return undefined
      if (next instanceof PacketDecoder) {
        // The first step runs now: a large packet of few records (a data array) is decoded by
        // it and routed without waiting; only one that needs more steps yields to the event
        // loop between them.
        const first = next.step()
        if (first === undefined) {
          return inbound.decodeInSteps(next).pipe(
            Effect.flatMap((decoded) => this.routeDecoded(decoded) ?? Effect.void),
            Effect.andThen(this.routeRest)
          )
        }
        next = first
      }
      if (Result.isFailure(next)) return Effect.fail(next.failure)
      const decoded = next.success
      // over the packet rate: this packet waits for its token, and nothing more is decoded meanwhile
      const early = this.rate?.take()
      if (early !== undefined) {
        this.wire.telemetry.budgetWait("rate")
        return Effect.sleep(early).pipe(
          Effect.andThen(Effect.suspend(() => this.routeDecoded(decoded) ?? Effect.void)),
          Effect.andThen(this.routeRest)
        )
      }
      const wait = this.routeDecoded(decoded)
      if (wait !== undefined) return Effect.andThen(wait, this.routeRest)
    }
  }

  /** What {@link routeAvailable} does after a wait: the packets left, as an Effect. */
  private readonly routeRest: Effect.Effect<void, ConnectionError> = Effect.suspend(
    () => this.routeAvailable() ?? Effect.void
  )

  /** Routes a decoded packet's fields, after logging its warnings; `undefined` when all went at once. */
  private readonly routeDecoded = (decoded: Decoded): Effect.Effect<void, ConnectionError> | undefined => {
    const packet = decoded.packet
    const telemetry = this.wire.telemetry
    if (packet.type !== "LINK") {
      this.lastCommand = this.wire.clock.currentTimeMillisUnsafe()
      if (telemetry.role === "server")
        for (const field of packet.fields) telemetry.commandHandled(packet.type, field.name)
    }
    if (decoded.warningCount === 0 && !telemetry.debug) return this.routeFields(packet, 0)
    const logged =
      decoded.warningCount === 0
        ? logReceived(packet)
        : telemetry.debug
          ? Effect.andThen(this.wire.log.decodeWarnings(decoded), logReceived(packet))
          : this.wire.log.decodeWarnings(decoded)
    return Effect.andThen(
      logged,
      Effect.suspend(() => this.routeFields(packet, 0) ?? Effect.void)
    )
  }

  /** How many fields a Response holds before routing waits. */
  get responseCapacity(): number {
    return this.config.bufferCapacity
  }

  /** Registers a Response for the sent fields, before they go out. */
  register(response: ResponseMailbox): void {
    this.responses.register(response)
  }

  /** Releases a Response: later replies to its fields go to the inbox. */
  unregister(response: ResponseMailbox): void {
    this.responses.unregister(response)
  }

  /** Every field from now on, the queued unclaimed ones first. */
  get fields(): Stream.Stream<Received, ConnectionError> {
    return this.subscriptions.fields
  }

  /** The node's warnings from now on; it ends when the connection does. */
  get warnings(): Stream.Stream<CommandWarning> {
    return this.subscriptions.warnings
  }
}
