/**
 * Fields as the Promise API gives them: the Effect API's field (name, id, params with their
 * wire types, the packet's type and timestamp) with ncplib's dict-like reads, `get(name)` and
 * `toRecord()`, and for a field that came in as a command, `reply` (ncplib's `send`).
 *
 * @internal
 */
import { type InspectOptionsStylized, inspect } from "node:util"
import { Field as CoreField, type Connection as EffectConnection, type Timestamp, type Value } from "@effect-ncp/core"
import type * as Effect from "effect/Effect"
import type { Connection, Field, IncomingField } from "./api.js"
import type { Services } from "./runtime.js"

/** Runs the Effects of a field, a Response or a stream on their connection (holding it while they run). */
export interface Owner {
  readonly perform: <A, E>(effect: Effect.Effect<A, E, Services>) => Promise<A>
}

/** A received field, copied from the Effect API's. */
export class ReplyField implements Field {
  readonly packetType: string
  readonly packetId: number
  readonly packetTimestamp: Timestamp.Timestamp
  readonly name: string
  readonly id: number
  readonly params: ReadonlyArray<CoreField.Param>

  constructor(field: EffectConnection.IncomingField) {
    this.packetType = field.packetType
    this.packetId = field.packetId
    this.packetTimestamp = field.packetTimestamp
    this.name = field.name
    this.id = field.id
    this.params = field.params
  }

  get(name: string): Value.Natural | undefined {
    return CoreField.get(this, name)
  }

  has(name: string): boolean {
    return CoreField.has(this, name)
  }

  toRecord(): Record<string, Value.Natural> {
    return CoreField.toRecord(this)
  }

  /** `DSPC SWEP #7 { FSTA: 10000, ... }` in `console.log`, as ncplib prints a field. */
  [inspect.custom](_depth: number, options: InspectOptionsStylized, inspectValue: typeof inspect): string {
    return `${this.packetType} ${this.name} #${this.id} ${inspectValue(this.toRecord(), options)}`
  }
}

/** A received field that can be replied to. */
export class CommandField extends ReplyField implements IncomingField {
  private readonly incoming: EffectConnection.IncomingField
  private readonly owner: Connection & Owner

  constructor(field: EffectConnection.IncomingField, owner: Connection & Owner) {
    super(field)
    this.incoming = field
    this.owner = owner
  }

  get connection(): Connection {
    return this.owner
  }

  reply(params?: CoreField.ParamsInput): Promise<void> {
    return this.owner.perform(this.incoming.reply(params))
  }

  send(params?: CoreField.ParamsInput): Promise<void> {
    return this.reply(params)
  }
}
