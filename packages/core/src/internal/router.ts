/**
 * Routing: where each received field goes. A field goes to every waiting Response whose packet
 * type, field name and field id it matches, to every subscriber of the connection's `fields`,
 * and otherwise to the inbox read by `recv` and `recvField`. With `autoErro`, `autoWarn` and
 * `autoAckn`, error replies become `CommandError`s, warnings are logged and acknowledgements
 * skipped, as the spec says a client does.
 *
 * Routing is synchronous for as long as nothing has to wait, and waits (stopping the reader,
 * which is backpressure to the peer) only for a full mailbox, a log line or a `LINK ERRO`.
 */
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { DecodeError } from "../CodecError.js"
import { CommandError, ConnectionClosed, type ConnectionError } from "../ConnectionError.js"
import { type Decoded, PacketDecoder } from "../Decoder.js"
import * as Field from "../Field.js"
import * as Identifier from "../Identifier.js"
import type { Packet } from "../Packet.js"
import type * as Timestamp from "../Timestamp.js"
import { Mailbox } from "./mailbox.js"
import type { Wire } from "./wire.js"

/** A field as routing delivers it: the connection's `IncomingField`. */
export interface Received extends Field.Field {
  readonly packetType: string
  readonly packetId: number
  readonly packetTimestamp: Timestamp.Timestamp
  readonly reply: (params?: Field.ParamsInput) => Effect.Effect<void, ConnectionError>
}

/** What a Response or the inbox holds: a reply, or the error an error reply stands for. */
export type Item = Result.Result<Received, CommandError>

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
}

// What a decoded field is taken to hold, for memory budgets: its objects (the field, the
// IncomingField around it, its reply function, each param and value) beyond the bytes of its
// values. Estimates, on the high side.
const FIELD_COST = 256
const PARAM_COST = 64

/** The params of an error reply: `ERRO` with the detail, `ERRC` with the code. */
export const errorParams = (detail: string, code: number): Field.ParamsInput => [
  ["ERRO", { type: "string", value: detail }],
  ["ERRC", { type: "i32", value: code }]
]

/** One Effect waiting for all of `waits`, or `undefined` when there is nothing to wait for. */
const allOf = (waits: Array<Effect.Effect<void>> | undefined): Effect.Effect<void> | undefined =>
  waits === undefined ? undefined : waits.length === 1 ? waits[0] : Effect.all(waits, { discard: true })

// What `route` needs to know of a field's params, found in one pass over them.
const HAS_ACKN = 1
const HAS_ERROR = 2
const HAS_WARNING = 4

/** Sent fields a Response waits for: name and id of each. */
export type Sent = ReadonlyArray<readonly [name: string, id: number]>

// Waiting Responses by field id, then packet type and name: ids are nearly unique, so a lookup
// is one Map probe and a short scan, with no key string built per field.
interface Registration {
  readonly packetType: string
  readonly name: string
  readonly mailbox: Mailbox<Item, ConnectionError>
}

/** Whether an item is a reply (or an error reply) to this packet type and field name. */
export const itemMatches = (packetType: string, name: string) => (item: Item) =>
  Result.isSuccess(item)
    ? item.success.packetType === packetType && item.success.name === name
    : item.failure.packetType === packetType && item.failure.fieldName === name

const isClosed = (error: ConnectionError): boolean => error._tag === "ConnectionClosed"

const highestBit = (n: number): number => (n === 0 ? -1 : 31 - Math.clz32(n))

export class Router {
  readonly inbox: Mailbox<Item, ConnectionError>
  /** Completes when the connection has ended, with the reason. */
  readonly ended = Deferred.makeUnsafe<ConnectionError>()
  private readonly responses = new Map<number, Array<Registration>>()
  private readonly subscribers = new Set<Mailbox<Received, ConnectionError>>()
  private readonly allResponses = new Set<Mailbox<Item, ConnectionError>>()
  /** Why fields are no longer delivered, once they are not. */
  private stopped: ConnectionClosed | undefined
  private dropped = 0
  // One shared error for every released Response: building an error captures a stack trace,
  // too costly to do once per request.
  private responseClosedError: ConnectionClosed | undefined

  constructor(
    private readonly wire: Wire,
    private readonly config: RouterConfig
  ) {
    this.inbox = new Mailbox<Item, ConnectionError>(config.inboxCapacity, wire.readBudget)
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
    this.stopped ??= reason
    this.inbox.end(reason)
    for (const mailbox of this.subscribers) mailbox.end(reason)
  }

  /** Ends routing: every waiting take fails with `error`, later ones once their mailbox is empty. */
  terminate(error: ConnectionError): void {
    if (this.wire.ended !== undefined) return
    this.wire.end(error)
    this.inbox.end(error)
    for (const mailbox of this.allResponses) mailbox.end(error)
    for (const mailbox of this.subscribers) mailbox.end(error)
    Deferred.doneUnsafe(this.ended, Effect.succeed(error))
  }

  private responseClosed(): ConnectionClosed {
    return (this.responseClosedError ??= new ConnectionClosed({
      detail: "the response's scope closed",
      remote: this.wire.remote
    }))
  }

  private incoming(packet: Packet, field: Field.Field): Received {
    const wire = this.wire
    return {
      packetType: packet.type,
      packetId: packet.id,
      packetTimestamp: packet.timestamp,
      name: field.name,
      id: field.id,
      params: field.params,
      reply: (params = {}) => wire.writePacket(packet.type, [{ name: field.name, id: field.id, params }])
    }
  }

  private logWarning(packetType: string, field: Field.Field) {
    const detail = Field.get(field, "WARN")
    const code = Field.get(field, "WARC")
    return this.wire.warn(
      "CommandWarning",
      `${packetType} ${field.name}: ${typeof detail === "string" ? detail : "warning"}${
        typeof code === "number" ? ` (code ${code})` : ""
      }`,
      {
        packetType,
        field: field.name,
        fieldId: field.id,
        detail: typeof detail === "string" ? detail : "",
        code: typeof code === "number" ? code : ""
      }
    )
  }

  private logInboxOverflow(count: number) {
    const bytes = this.config.inboxBytes
    return this.wire.warn(
      "InboxOverflow",
      `${count} unclaimed field(s) dropped so far: the inbox keeps the newest ${this.config.inboxCapacity} fields${
        bytes === undefined ? "" : ` and at most ${bytes} bytes of them`
      }; read them with recv, recvField or fields, or claim them with a Response`,
      { dropped: count }
    )
  }

  /** `undefined` when the field's and its params' names are identifiers; else what to do instead of delivering it. */
  private checkNames(packet: Packet, field: Field.Field): Effect.Effect<void, ConnectionError> | undefined {
    if (!Identifier.isIdentifier(packet.type) || !Identifier.isIdentifier(field.name)) {
      const [what, name] = Identifier.isIdentifier(packet.type)
        ? (["field", field.name] as const)
        : (["packet type", packet.type] as const)
      return Effect.fail(
        new DecodeError({
          reason: "InvalidName",
          offset: 0,
          detail: `${what} name ${JSON.stringify(name)} is not an identifier (1-4 of A-Z, 0-9)`,
          packetType: packet.type,
          field: field.name
        })
      )
    }
    for (const param of field.params) {
      if (!Identifier.isIdentifier(param.name)) {
        return this.wire.writePacket(packet.type, [
          {
            name: field.name,
            id: field.id,
            params: errorParams(`param name ${JSON.stringify(param.name)} is not an identifier (1-4 of A-Z, 0-9)`, 400)
          }
        ])
      }
    }
    return undefined
  }

  /** Routes one field: `undefined` when it was delivered, an Effect only for what must wait. */
  private route(packet: Packet, field: Field.Field): Effect.Effect<void, ConnectionError> | undefined {
    // Once stopped, the inbox and the `fields` mailboxes have ended and drop what they are
    // offered; replies to Responses still arrive.
    const config = this.config
    if (config.checkNames === true) {
      const refused = this.checkNames(packet, field)
      if (refused !== undefined) return refused
    }
    if (config.autoErro && field.name === "ERRO") {
      const error = CommandError.fromField(packet.type, field)
      // A LINK ERRO answers no particular command: it ends the connection.
      if (packet.type === "LINK") return Effect.fail(error)
      this.inbox.failWaiters(error)
      for (const mailbox of this.allResponses) mailbox.failWaiters(error)
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
      config.autoErro && (found & HAS_ERROR) !== 0
        ? Result.fail(CommandError.fromField(packet.type, field))
        : Result.succeed(received)
    // A warning is logged before the field is delivered, as it comes first on the wire.
    if (config.autoWarn && (found & HAS_WARNING) !== 0) {
      return Effect.andThen(
        this.logWarning(packet.type, field),
        Effect.suspend(() => this.deliver(packet, received, item, cost) ?? Effect.void)
      )
    }
    return this.deliver(packet, received, item, cost)
  }

  private deliver(packet: Packet, received: Received, item: Item, cost: number): Effect.Effect<void> | undefined {
    let waits: Array<Effect.Effect<void>> | undefined
    let claimed = false
    const registered = this.responses.get(received.id)
    if (registered !== undefined) {
      for (const registration of registered) {
        if (registration.packetType === packet.type && registration.name === received.name) {
          claimed = true
          const wait = registration.mailbox.offerNow(item, cost)
          if (wait !== undefined) (waits ??= []).push(wait)
        }
      }
    }
    waits = this.offerSubscribers(received, cost, waits)
    if (!claimed && this.subscribers.size === 0) {
      if (this.config.inboxOverflow === "backpressure") {
        const wait = this.offerUnclaimed(received, item, cost)
        if (wait !== undefined) (waits ??= []).push(wait)
      } else {
        const dropped = this.inbox.offerDroppingOldest(item, cost, this.config.inboxBytes ?? Number.POSITIVE_INFINITY)
        if (dropped > 0) {
          const before = this.dropped
          this.dropped += dropped
          // One warning each time the count passes a power of two: visible, without a log line per field.
          if (highestBit(this.dropped) !== highestBit(before)) (waits ??= []).push(this.logInboxOverflow(this.dropped))
        }
      }
    }
    return allOf(waits)
  }

  /** Offers a field to every `fields` subscriber; adds the waits of those that are full to `waits`. */
  private offerSubscribers(
    received: Received,
    cost: number,
    waits: Array<Effect.Effect<void>> | undefined
  ): Array<Effect.Effect<void>> | undefined {
    for (const mailbox of this.subscribers) {
      const wait = mailbox.offerNow(received, cost)
      if (wait !== undefined) (waits ??= []).push(wait)
    }
    return waits
  }

  /**
   * Queues an unclaimed field in the inbox, waiting while it is full. Where it goes is decided
   * again once there is room: a `fields` stream started meanwhile (which drained the inbox) gets
   * it, rather than the inbox behind that stream's back.
   */
  private offerUnclaimed(received: Received, item: Item, cost: number): Effect.Effect<void> | undefined {
    if (this.subscribers.size > 0) return allOf(this.offerSubscribers(received, cost, undefined))
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

  /** Decodes and routes every whole packet the wire holds. */
  readonly routeAvailable = (): Effect.Effect<void, ConnectionError> => {
    for (;;) {
      const next = this.wire.nextDecoded()
      if (next === undefined) return Effect.void
      if (next instanceof PacketDecoder) {
        return this.wire.decodeInSteps(next).pipe(
          Effect.flatMap((decoded) => this.routeDecoded(decoded) ?? Effect.void),
          Effect.andThen(Effect.suspend(this.routeAvailable))
        )
      }
      if (Result.isFailure(next)) return Effect.fail(next.failure)
      const wait = this.routeDecoded(next.success)
      if (wait !== undefined) return Effect.andThen(wait, Effect.suspend(this.routeAvailable))
    }
  }

  /** Routes a decoded packet's fields, after logging its warnings; `undefined` when all went at once. */
  private readonly routeDecoded = (decoded: Decoded): Effect.Effect<void, ConnectionError> | undefined => {
    const packet = decoded.packet
    if (decoded.warningCount === 0) return this.routeFields(packet, 0)
    return Effect.andThen(
      this.wire.logDecodeWarnings(decoded),
      Effect.suspend(() => this.routeFields(packet, 0) ?? Effect.void)
    )
  }

  /** Registers a Response for the sent fields, before they go out. */
  register(packetType: string, sent: Sent): Mailbox<Item, ConnectionError> {
    const mailbox = new Mailbox<Item, ConnectionError>(this.config.bufferCapacity, this.wire.readBudget)
    const terminal = this.wire.ended
    if (terminal !== undefined) mailbox.end(terminal)
    this.allResponses.add(mailbox)
    for (const [name, id] of sent) {
      const registered = this.responses.get(id)
      if (registered === undefined) this.responses.set(id, [{ packetType, name, mailbox }])
      else registered.push({ packetType, name, mailbox })
    }
    return mailbox
  }

  /** Releases a Response: later replies to its fields go to the inbox. */
  unregister(sent: Sent, mailbox: Mailbox<Item, ConnectionError>): void {
    this.allResponses.delete(mailbox)
    for (const [, id] of sent) {
      const registered = this.responses.get(id)
      if (registered === undefined) continue
      // the usual case: the only Response waiting for this id
      if (registered.length === 1 && registered[0]?.mailbox === mailbox) {
        this.responses.delete(id)
        continue
      }
      const kept = registered.filter((registration) => registration.mailbox !== mailbox)
      if (kept.length === 0) this.responses.delete(id)
      else this.responses.set(id, kept)
    }
    // Unblock a routing fiber waiting on this mailbox, and give back what it holds: nobody
    // will read it any more.
    mailbox.discard(this.responseClosed())
  }

  private readonly subscribe = Effect.acquireRelease(
    Effect.sync(() => {
      const mailbox = new Mailbox<Received, ConnectionError>(this.config.bufferCapacity, this.wire.readBudget)
      const ended = this.wire.ended ?? this.stopped
      if (ended !== undefined) mailbox.end(ended)
      this.subscribers.add(mailbox)
      return mailbox
    }),
    (mailbox) =>
      Effect.sync(() => {
        this.subscribers.delete(mailbox)
        mailbox.discard(new ConnectionClosed({ detail: "the fields stream ended", remote: this.wire.remote }))
      })
  )

  /** Every field from now on, the queued unclaimed ones first. */
  readonly fields: Stream.Stream<Received, ConnectionError> = Stream.unwrap(
    Effect.map(this.subscribe, (mailbox) => {
      // Fields that arrived before the stream started come first.
      const queued = this.inbox.drain()
      const first = Stream.fromIterable(queued).pipe(Stream.mapEffect(Effect.fromResult))
      return Stream.concat(first, streamFields(mailbox))
    })
  )
}

/** A Stream of a mailbox's fields; it ends at a graceful close, fails on other errors. */
const streamFields = (mailbox: Mailbox<Received, ConnectionError>): Stream.Stream<Received, ConnectionError> => {
  const pull: Pull.Pull<readonly [Received, ...Array<Received>], ConnectionError> = mailbox
    .takeAll()
    .pipe(
      Effect.catch(
        (error: ConnectionError): Pull.Pull<never, ConnectionError> =>
          isClosed(error) ? Cause.done() : Effect.fail(error)
      )
    )
  return Stream.fromPull(Effect.succeed(pull))
}

/**
 * A Stream of a response's replies; an error reply fails it after the replies before it. Each
 * take goes through `deadline` (the Response's reply deadline).
 */
export const streamItems = (
  mailbox: Mailbox<Item, ConnectionError>,
  deadline: (take: Effect.Effect<Received, ConnectionError>) => Effect.Effect<Received, ConnectionError>
): Stream.Stream<Received, ConnectionError> => {
  // One item per pull: an error reply must fail the stream without taking the replies after it.
  const pull: Pull.Pull<readonly [Received], ConnectionError> = deadline(
    Effect.flatMap(mailbox.take(), Effect.fromResult)
  ).pipe(
    Effect.map((received) => [received] as const),
    Effect.catch(
      (error: ConnectionError): Pull.Pull<never, ConnectionError> =>
        isClosed(error) ? Cause.done() : Effect.fail(error)
    )
  )
  return Stream.fromPull(Effect.succeed(pull))
}
