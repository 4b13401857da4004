/**
 * Fields and params: a field is a name, a 32-bit id and an ordered list of params; a command
 * is one field, and its replies are fields with the same packet type, name and id.
 *
 * Params keep their order and duplicates. Readers that index by name take the last one, as
 * the Python `ncplib` does.
 *
 * @example
 * ```ts
 * import { Field } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * declare const reply: Field.Field
 * Field.get(reply, "FSTA")      // 10000 (a number), or undefined
 * Field.toRecord(reply)         // { FSTA: 10000, FSTP: 18000, PDAT: Uint8Array(...) }
 *
 * const Sweep = Schema.Struct({ FSTA: Schema.Number, FSTP: Schema.Number, PDAT: Schema.Uint8Array })
 * const sweep = Field.decodeParams(Sweep)(reply) // Effect<{ FSTA: number; ... }, Schema.SchemaError>
 * ```
 *
 * @module
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Value from "./Value.js"

/** A param: a name and one typed value. */
export interface Param {
  readonly name: string
  readonly value: Value.Value
}

/** A decoded field. */
export interface Field {
  readonly name: string
  readonly id: number
  readonly params: ReadonlyArray<Param>
}

/**
 * Params as a caller may give them to the encoder: decoded `Param`s, `[name, value]` pairs, or
 * a record (its key order is the wire order). Values are `Value`s or plain JavaScript values
 * mapped by the defaults of `Value.fromInputOrReason`.
 */
export type ParamsInput =
  | ReadonlyArray<Param | readonly [string, Value.Input]>
  | { readonly [name: string]: Value.Input }

/** A field as a caller may give it to the encoder. */
export interface FieldInput {
  readonly name: string
  readonly id: number
  readonly params: ParamsInput
}

/** A param. */
export const param = (name: string, value: Value.Value): Param => ({ name, value })

/** The value of the last param called `name`, or `undefined`. */
export const getValue = (field: Field, name: string): Value.Value | undefined => {
  const { params } = field
  for (let i = params.length - 1; i >= 0; i--) {
    const param = params[i]
    if (param !== undefined && param.name === name) return param.value
  }
  return undefined
}

/** The last param called `name` as plain JavaScript (`Value.toNatural`), or `undefined`. */
export const get = (field: Field, name: string): Value.Natural | undefined => getValue(field, name)?.value

/** Whether the field has a param called `name`. */
export const has = (field: Field, name: string): boolean => field.params.some((param) => param.name === name)

/** The params as a record of plain JavaScript values; for a repeated name, the last one wins. */
export const toRecord = (field: Field): Record<string, Value.Natural> => {
  const record: Record<string, Value.Natural> = {}
  for (const param of field.params) record[param.name] = param.value.value
  return record
}

/**
 * Decodes the field's params (as {@link toRecord} gives them) with a Schema of the caller's,
 * failing with a `Schema.SchemaError` whose path names the param.
 */
export const decodeParams =
  <S extends Schema.Decoder<unknown>>(schema: S) =>
  (field: Field): Effect.Effect<S["Type"], Schema.SchemaError, S["DecodingServices"]> =>
    Schema.decodeUnknownEffect(schema)(toRecord(field))
