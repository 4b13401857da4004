/**
 * What routing hands out: each field received, as the connection's `IncomingField`, and, where
 * an error reply stands for one, the `CommandError` it fails its take with. Responses, the
 * inbox and the `fields` streams hold them.
 */
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"
import type { Connection } from "../Connection.js"
import { CommandError, type ConnectionError } from "../ConnectionError.js"
import type * as Field from "../Field.js"
import type * as Timestamp from "../Timestamp.js"

/** A field as routing delivers it: the connection's `IncomingField`. */
export interface Received extends Field.Field {
  readonly packetType: string
  readonly packetId: number
  readonly packetTimestamp: Timestamp.Timestamp
  readonly reply: (params?: Field.ParamsInput) => Effect.Effect<void, ConnectionError>
  readonly span: Tracer.Span | undefined
  readonly connection: Connection
}

/**
 * What a Response or the inbox holds: a reply, or the error an error reply stands for. Not
 * wrapped in a `Result`: thousands may be queued at once (a pipelining client's replies), and
 * every object each holds is copied by the garbage collections it lives through.
 */
export type Item = Received | CommandError

/** An item as the Effect a take gives: the reply, or the failure of an error reply. */
export const fromItem = (item: Item): Effect.Effect<Received, CommandError> =>
  item instanceof CommandError ? Effect.fail(item) : Effect.succeed(item)

/** Any item: a take of the next one. */
export const anyItem = (_: Item): boolean => true

/** Whether an item is a reply (or an error reply) to this packet type and field name. */
export const itemMatches = (packetType: string, name: string) => (item: Item) =>
  item instanceof CommandError
    ? item.packetType === packetType && item.fieldName === name
    : item.packetType === packetType && item.name === name

/** Whether an error is a graceful close, which ends a stream rather than failing it. */
export const isClosed = (error: ConnectionError): boolean => error._tag === "ConnectionClosed"
