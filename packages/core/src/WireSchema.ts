/**
 * Schemas of NCP params with their wire type: each one decodes a `Value` from a field into a
 * plain JavaScript value and encodes it back into a `Value` of its wire type. They are the
 * building blocks of command descriptions (`NcpCommand.make`): a param declared
 * `WireSchema.f32` goes out as f32 whatever JavaScript number it holds, and a value the wire
 * type cannot hold (an integer out of range, a string with a NUL, a finite number beyond the
 * f32 range) fails the Schema, naming the param, before anything is sent.
 *
 * | schema                  | JavaScript           | sent as                                      |
 * | ----------------------- | -------------------- | -------------------------------------------- |
 * | `i32`, `u32`            | `number` (integer)   | i32, u32                                     |
 * | `i64`, `u64`            | `bigint`             | i64, u64                                     |
 * | `f32`, `f64`            | `number`             | f32 (rounded to the nearest float32), f64    |
 * | `number`                | `number`             | i32 for a whole number in i32 range, else f64 (the untyped API's mapping, minus i64) |
 * | `boolean`               | `boolean`            | i32 1 or 0                                   |
 * | `string`                | `string`             | string                                       |
 * | `raw`                   | `Uint8Array`         | raw                                          |
 * | `u8Array` ... `f64Array`| the typed array      | the matching data type                       |
 *
 * **Decoding is exact, not strict about numeric types.** A numeric param decodes from any
 * numeric wire type whose value the declared type holds exactly: a node that answers `FSTA`
 * as i32 400 where f64 is declared gives 400, and one that answers u32 3,000,000,000 where
 * i32 is declared fails (it does not wrap). A decoded number is never rounded (an f64 0.1
 * read as `f32` stays 0.1). Strings, raw bytes and data arrays decode only from their own wire
 * type. Raw and data values come back zero-padded to whole 4-byte words, as the wire keeps
 * them (`raw "foo"` returns as `66 6f 6f 00`); a count param such as `BINS` says how many are
 * real.
 *
 * The JavaScript side of each is `PacketSchema`'s payload Schema for its wire type
 * (`PacketSchema.Int32`, `Uint64`, `Float32`, `WireString`, `Bytes`, `Int16Array`, ...): the
 * same checks, messages and generators as the packet Schemas, with one addition: `f32` refuses
 * a finite number beyond the f32 range, which the encoder would send as an infinity. Use those
 * payload Schemas where a plain JavaScript value is wanted, and these where a param is.
 *
 * Every schema derives an `effect/Arbitrary` of values whose round trip through the wire is
 * exact: its payload's values, as the wire gives them back (`-0` integers as `0`, raw and
 * small-element arrays in whole words; see `RoundTrip.normalizeValue`), edges included (the
 * ends of each range, NaN, -0, the infinities, empty arrays), so
 * `Arbitrary.schema(Command.params)` property-tests a command end to end. Checks you add
 * (`WireSchema.i32.check(Schema.isBetween(...))`) bound what is generated.
 *
 * @example
 * ```ts
 * import { WireSchema } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * const SweepParams = Schema.Struct({
 *   FSTA: WireSchema.number,
 *   FSTP: WireSchema.number,
 *   BINS: Schema.optionalKey(WireSchema.i32.check(Schema.isBetween({ minimum: 1, maximum: 65536 })))
 * })
 * Schema.encodeSync(SweepParams)({ FSTA: 400, FSTP: 500.5 })
 * // { FSTA: { type: "i32", value: 400 }, FSTP: { type: "f64", value: 500.5 } }
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as SchemaAST from "effect/SchemaAST"
import * as SchemaGetter from "effect/SchemaGetter"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Domain from "./codec/domain.js"
import * as WireType from "./codec/wireType.js"
import * as PacketSchema from "./PacketSchema.js"
import * as RoundTrip from "./RoundTrip.js"
import * as Value from "./Value.js"

// The encoded side of every wire schema: any `Value`, by its type tag only. Each schema's own
// decode then reads the payload and checks it against its payload Schema, so the deep checks of
// `PacketSchema.Value` here would do that work twice for every param.
const AnyValue = Schema.declare((u: unknown): u is Value.Value => Value.isValue(u), {
  expected: "an NCP value"
})

/** A short description of a value for an error message, bounded whatever the value's size. */
export const describeValue = (u: unknown): string => {
  if (Value.isValue(u)) return `${u.type} ${describeValue(u.value)}`
  switch (typeof u) {
    case "number":
      return Object.is(u, -0) ? "-0" : String(u)
    case "bigint":
      return `${u}n`
    case "string":
      return u.length > 40 ? `${JSON.stringify(u.slice(0, 40))}...` : JSON.stringify(u)
    case "undefined":
      return "nothing"
    case "object":
      if (u === null) return "null"
      if (ArrayBuffer.isView(u)) {
        const length = "length" in u && typeof u.length === "number" ? u.length : u.byteLength
        return `${u.constructor.name}(${length})`
      }
      return "an object"
    default:
      return `a ${typeof u}`
  }
}

/** The number a numeric value holds exactly, or `undefined`. */
const exactNumber = (value: Value.Value): number | undefined => {
  const x = value.value
  if (typeof x === "number") return x
  if (typeof x === "bigint") {
    const n = Number(x)
    return BigInt(n) === x ? n : undefined
  }
  return undefined
}

/** The bigint a numeric value holds exactly, or `undefined`. */
const exactBigInt = (value: Value.Value): bigint | undefined => {
  const x = value.value
  if (typeof x === "bigint") return x
  if (typeof x === "number" && Number.isInteger(x)) return BigInt(x)
  return undefined
}

// A user's checks on a param (`WireSchema.i32.check(Schema.isBetween(...))`) reach the arbitrary
// of its payload as a constraint. A filter that lets every value through carries that
// constraint on to the payload generated from, so that generation keeps to it.
const constrained = <S extends Schema.Top>(
  payload: S,
  constraint: Schema.Annotations.ToArbitrary.GenerationConstraint | undefined
) =>
  constraint === undefined ? payload : payload.check(Schema.makeFilter(() => true, { arbitraryConstraint: constraint }))

/**
 * `payload` (one of `PacketSchema`'s) generating only values whose trip over the wire is exact:
 * each value its arbitrary gives is sent, normalized as `RoundTrip.normalizeValue` says the wire
 * does (a `-0` integer comes back `0`, raw and small data arrays padded to whole words), and
 * read back. Those are the fixed points of the wire, as the fast-check arbitraries' `exact`
 * option gives. Booleans and strings (not declarations, so with no arbitrary to map) cross the
 * wire unchanged already.
 */
const exactOnTheWire = <A>(
  payload: Schema.Codec<A>,
  fromValue: (value: Value.Value) => A | undefined,
  toValue: (value: A) => Value.Value
): Schema.Codec<A> =>
  SchemaAST.isDeclaration(payload.ast)
    ? payload.annotate({
        toCodecArbitrary: ({ constraint }: Schema.Annotations.ToArbitrary.DeclarationInput<A, readonly []>) =>
          Schema.link<A>()(constrained(payload, constraint), {
            decode: SchemaGetter.transformOptional((generated: Option.Option<A>) =>
              Option.flatMap(generated, (value) =>
                Option.fromUndefinedOr(fromValue(RoundTrip.normalizeValue(toValue(value))))
              )
            ),
            encode: SchemaGetter.passthrough()
          })
      })
    : payload

/**
 * A wire schema: `Value`s on the encoded side, `payload`'s values on the decoded side.
 * `fromValue` reads a received `Value` (or `undefined` when it holds no such value: the issue
 * says what was expected), `toValue` builds the `Value` to send from a value `payload` accepted.
 */
const wire = <A>(
  payload: Schema.Codec<A>,
  expected: string,
  fromValue: (value: Value.Value) => A | undefined,
  toValue: (value: A) => Value.Value
) =>
  AnyValue.pipe(
    Schema.decodeTo(
      exactOnTheWire(payload, fromValue, toValue),
      SchemaTransformation.transformEffect<A, Value.Value>({
        decode: (value: Value.Value, options: SchemaAST.ParseOptions) => {
          const decoded = fromValue(value)
          return decoded === undefined
            ? Effect.fail(
                new SchemaIssue.InvalidValue(
                  { message: `Expected ${expected}, got ${describeValue(value)}` },
                  value,
                  options
                )
              )
            : Effect.succeed(decoded)
        },
        encode: (value: A) => Effect.succeed(toValue(value))
      })
    )
  )

/**
 * A wire schema of a type that decodes from its own wire type only: strings, raw bytes and data
 * arrays. `expected` defaults to the name the spec gives the type (`data u16`).
 */
const ownType = <T extends Value.Value["type"]>(
  type: { readonly name: T; readonly label: string },
  payload: Schema.Codec<PayloadOf[T]>,
  toValue: (value: PayloadOf[T]) => Value.Value,
  expected: string = type.label
) =>
  wire(
    payload,
    expected,
    // the compiler does not narrow a union by a generic tag: `type` says which member it is
    (value) => (value.type === type.name ? (value.value as PayloadOf[T]) : undefined),
    toValue
  )

/** The JavaScript value each wire type holds. */
type PayloadOf = { readonly [V in Value.Value as V["type"]]: V["value"] }

/** A signed 32-bit integer, sent as i32. */
export const i32 = wire(PacketSchema.Int32, "a number", exactNumber, Value.i32)

/** An unsigned 32-bit integer, sent as u32. */
export const u32 = wire(PacketSchema.Uint32, "a number", exactNumber, Value.u32)

/** A signed 64-bit integer as a `bigint`, sent as i64. */
export const i64 = wire(PacketSchema.Int64, "an integer", exactBigInt, Value.i64)

/** An unsigned 64-bit integer as a `bigint`, sent as u64. */
export const u64 = wire(PacketSchema.Uint64, "an integer", exactBigInt, Value.u64)

/**
 * A number sent as f32, rounded to the nearest float32. A finite number beyond the f32 range
 * (about ±3.4e38) fails rather than turn into an infinity; NaN and the infinities pass.
 */
export const f32 = wire(PacketSchema.Float32, "a number", exactNumber, Value.f32).check(
  Schema.makeFilter(Domain.fitsFloat32, { expected: "a number within the f32 range (about ±3.4e38)" })
)

/** A number sent as f64. */
export const f64 = wire(PacketSchema.Float64, "a number", exactNumber, Value.f64)

/**
 * A number sent as the untyped API sends it: i32 when it is a whole number in i32 range (not
 * -0), f64 otherwise (never i64, so that it reads back as a number). For params nodes take as
 * "a number" whatever its type, such as frequencies in MHz.
 */
export const number = wire(PacketSchema.Float64, "a number", exactNumber, (n: number) =>
  Number.isInteger(n) && !Object.is(n, -0) && n >= WireType.i32.domain.minimum && n <= WireType.i32.domain.maximum
    ? Value.i32(n)
    : Value.f64(n)
)

/** A boolean, sent as i32 1 or 0; decodes from a numeric 0 or 1 only. */
export const boolean = wire(
  Schema.Boolean,
  "0 or 1",
  (value) => {
    const n = exactNumber(value)
    return n === 0 ? false : n === 1 ? true : undefined
  },
  (b: boolean) => Value.i32(b ? 1 : 0)
)

/** A string (no NUL, no lone surrogate), sent as string. */
export const string = ownType(WireType.string, PacketSchema.WireString, Value.string, "a string")

/** Opaque bytes, sent as raw. They come back zero-padded to whole 4-byte words. */
export const raw = ownType(WireType.raw, PacketSchema.Bytes, Value.raw, "raw bytes")

/** data u8. Comes back zero-padded to whole 4-byte words. */
export const u8Array = ownType(WireType.u8Array, PacketSchema.Bytes, Value.u8Array)
/** data u16. Comes back zero-padded to an even number of elements. */
export const u16Array = ownType(WireType.u16Array, PacketSchema.Uint16Array, Value.u16Array)
/** data u32. */
export const u32Array = ownType(WireType.u32Array, PacketSchema.Uint32Array, Value.u32Array)
/** data i8. Comes back zero-padded to whole 4-byte words. */
export const i8Array = ownType(WireType.i8Array, PacketSchema.Int8Array, Value.i8Array)
/** data i16. Comes back zero-padded to an even number of elements. */
export const i16Array = ownType(WireType.i16Array, PacketSchema.Int16Array, Value.i16Array)
/** data i32. */
export const i32Array = ownType(WireType.i32Array, PacketSchema.Int32Array, Value.i32Array)
/** data u64. */
export const u64Array = ownType(WireType.u64Array, PacketSchema.BigUint64Array, Value.u64Array)
/** data i64. */
export const i64Array = ownType(WireType.i64Array, PacketSchema.BigInt64Array, Value.i64Array)
/** data f32. */
export const f32Array = ownType(WireType.f32Array, PacketSchema.Float32Array, Value.f32Array)
/** data f64. */
export const f64Array = ownType(WireType.f64Array, PacketSchema.Float64Array, Value.f64Array)

/**
 * A Schema of one param: its encoded side is a `Value` (or `undefined` for an optional param
 * left out), which is what fixes its wire type. Every schema of this module is one, and so is
 * any Schema built on them (`Schema.optionalKey(WireSchema.i32)`, `WireSchema.f64.check(...)`,
 * `WireSchema.number.pipe(Schema.decodeTo(...))`).
 */
export interface Param extends Schema.Codec<unknown, Value.Value | undefined> {}

/** The params of a field as the wire schemas encode them: a `Value` for each name, `undefined` for one left out. */
export type Encoded = { readonly [name: string]: Value.Value | undefined }
