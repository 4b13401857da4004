/**
 * The Responses a connection's commands wait with, and their registry: what routing looks up
 * for every field received, by field id, then packet type and name. A Response is registered
 * before its command is sent, so no reply is missed, and released with the scope it was sent
 * in (or, for `request`, with its one take).
 *
 * A Response is its own mailbox and its own registration for its first field: one object per
 * command rather than three, since a pipelining client holds thousands and every garbage
 * collection they live through copies them.
 */
import type * as Effect from "effect/Effect"
import { ConnectionClosed, type ConnectionError } from "../ConnectionError.js"
import type { ByteBudget } from "./budget.js"
import type { Item } from "./items.js"
import { allOf, Mailbox } from "./mailbox.js"
import { Registry } from "./registry.js"

/** Sent fields a Response waits for: name and id of each (the sent fields themselves will do). */
export type Sent = ReadonlyArray<{ readonly name: string; readonly id: number }>

/** A Response waiting for replies to one field it sent: the field's packet type and name, and where replies go. */
interface Registration {
  readonly packetType: string
  readonly name: string
  readonly mailbox: Mailbox<Item, ConnectionError>
}

/**
 * The mailbox of a Response, registered for the fields sent: its first field's packet type,
 * name and id, and any others. The connection's Response extends it.
 */
export class ResponseMailbox extends Mailbox<Item, ConnectionError> implements Registration {
  constructor(
    capacity: number,
    budget: ByteBudget,
    readonly packetType: string,
    readonly name: string,
    readonly id: number,
    /** The fields sent after the first, for a packet of several. */
    readonly others: Sent | undefined
  ) {
    super(capacity, budget)
  }

  get mailbox(): Mailbox<Item, ConnectionError> {
    return this
  }
}

// A field id with one Response waiting (the usual case) is stored without an array.
type Registered = Registration | Array<Registration>

/** The waiting Responses of one connection. */
export class Responses {
  private readonly byId = new Registry<Registered>()
  // One shared error for every released Response: building an error captures a stack trace,
  // too costly to do once per request.
  private closedError: ConnectionClosed | undefined

  constructor(private readonly peer: { readonly remote: string; readonly ended: ConnectionError | undefined }) {}

  /**
   * Offers a field to every Response waiting for it (its id, packet type and name): `false` when
   * none is, `true` when those that are took it, or what to wait for while some are full.
   */
  offer(id: number, packetType: string, name: string, item: Item, cost: number): boolean | Effect.Effect<void> {
    const registered = this.byId.get(id)
    if (registered === undefined) return false
    if (!Array.isArray(registered)) {
      if (registered.packetType !== packetType || registered.name !== name) return false
      return registered.mailbox.offerNow(item, cost) ?? true
    }
    let claimed = false
    let waits: Array<Effect.Effect<void>> | undefined
    for (const registration of registered) {
      if (registration.packetType === packetType && registration.name === name) {
        claimed = true
        const wait = registration.mailbox.offerNow(item, cost)
        if (wait !== undefined) (waits ??= []).push(wait)
      }
    }
    return allOf(waits) ?? claimed
  }

  /** Every registered Response's mailbox (once per field it waits for): for the rare fan-outs. */
  forEach(f: (mailbox: Mailbox<Item, ConnectionError>) => void): void {
    this.byId.forEach((registered) => {
      if (Array.isArray(registered)) for (const registration of registered) f(registration.mailbox)
      else f(registered.mailbox)
    })
  }

  /** Registers a Response for the sent fields, before they go out. */
  register(response: ResponseMailbox): void {
    const terminal = this.peer.ended
    if (terminal !== undefined) response.end(terminal)
    this.add(response.id, response)
    const others = response.others
    if (others !== undefined) {
      for (const { name, id } of others) this.add(id, { packetType: response.packetType, name, mailbox: response })
    }
  }

  private add(id: number, registration: Registration): void {
    const registered = this.byId.get(id)
    if (registered === undefined) this.byId.set(id, registration)
    else if (Array.isArray(registered)) registered.push(registration)
    else this.byId.set(id, [registered, registration])
  }

  /** Releases a Response: later replies to its fields go to the inbox. */
  unregister(response: ResponseMailbox): void {
    this.remove(response.id, response)
    const others = response.others
    if (others !== undefined) for (const { id } of others) this.remove(id, response)
    // Unblock routing waiting on this mailbox, and give back what it holds: nobody will read
    // it any more.
    response.discard(
      (this.closedError ??= new ConnectionClosed({ detail: "the response's scope closed", remote: this.peer.remote }))
    )
  }

  private remove(id: number, mailbox: Mailbox<Item, ConnectionError>): void {
    const registered = this.byId.get(id)
    if (registered === undefined) return
    // the usual case: the only Response waiting for this id
    if (!Array.isArray(registered)) {
      if (registered.mailbox === mailbox) this.byId.delete(id)
      return
    }
    const kept = registered.filter((registration) => registration.mailbox !== mailbox)
    if (kept.length === 0) this.byId.delete(id)
    else this.byId.set(id, kept.length === 1 ? (kept[0] as Registration) : kept)
  }
}
