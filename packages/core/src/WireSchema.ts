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
 * Every schema derives an `effect/Arbitrary` of values whose round trip through the wire is
 * exact (f32 values already float32, raw and small-element arrays in whole words), so
 * `Arbitrary.schema(Command.params)` property-tests a command end to end.
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
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as SchemaGetter from "effect/SchemaGetter"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Value from "./Value.js"

// ---------------------------------------------------------------------------------------------
// The JavaScript side: the values each wire type holds, with the encoder's checks. They are
// the same constraints as `PacketSchema.Value` and can replace its private copies.
// ---------------------------------------------------------------------------------------------

/** A `number` an i32 holds: an integer in -2^31..2^31-1. */
export const Int32 = Schema.Number.check(Schema.isInt32())

/** A `number` a u32 holds: an integer in 0..2^32-1. */
export const Uint32 = Schema.Number.check(Schema.isUint32())

/** A `bigint` an i64 holds. */
export const Int64 = Schema.BigInt.check(Schema.isBetweenBigInt({ minimum: -(2n ** 63n), maximum: 2n ** 63n - 1n }))

/** A `bigint` a u64 holds. */
export const Uint64 = Schema.BigInt.check(Schema.isBetweenBigInt({ minimum: 0n, maximum: 2n ** 64n - 1n }))

/** Whether an f32 holds `n`, rounded: NaN and the infinities do, a finite number beyond the f32 range does not. */
const isFloat32Range = (n: number): boolean => !Number.isFinite(n) || Number.isFinite(Math.fround(n))

/**
 * A `number` an f32 holds once rounded to the nearest float32: any number but a finite one
 * beyond the f32 range (about ±3.4e38), which would turn into an infinity. Its arbitrary
 * gives float32 values (NaN, ±0 and the infinities included), whose round trip is exact.
 */
export const Float32 = Schema.declare((u: unknown): u is number => typeof u === "number" && isFloat32Range(u), {
  expected: "a number within the f32 range (about ±3.4e38)",
  toCodecArbitrary: () =>
    Schema.link<number>()(Schema.Number, {
      decode: SchemaGetter.transform(Math.fround),
      encode: SchemaGetter.passthrough()
    })
})

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/** A `string` an NCP string holds: no NUL character (it would end the string) and no lone surrogate (UTF-8 cannot hold one). */
export const NcpString = Schema.String.check(
  Schema.makeFilter(
    (s: string) =>
      s.includes("\u0000")
        ? "an NCP string cannot hold a NUL character, which would end it on the wire"
        : loneSurrogate.test(s)
          ? "an NCP string cannot hold a lone surrogate, which UTF-8 cannot hold"
          : true,
    { expected: "a string without NUL characters or lone surrogates" }
  )
)

/**
 * A typed array as a Schema whose arbitrary gives arrays the wire returns unchanged: element
 * counts that fill whole 4-byte words (`multiple`), elements from `element`.
 */
const typedArray = <A extends Value.TypedArray, E>(
  constructor: abstract new (...args: never) => A,
  name: string,
  element: Schema.Codec<E>,
  from: (elements: ReadonlyArray<E>) => A,
  multiple: number
) =>
  Schema.declare((u: unknown): u is A => u instanceof constructor, {
    expected: name,
    toCodecArbitrary: () =>
      Schema.link<A>()(Schema.Array(element), {
        decode: SchemaGetter.transform((elements: ReadonlyArray<E>) =>
          from(elements.slice(0, elements.length - (elements.length % multiple)))
        ),
        encode: SchemaGetter.transform((array: A): ReadonlyArray<E> => Array.from(array as unknown as ArrayLike<E>))
      })
  })

const byte = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))

/** Bytes (`Uint8Array`, Node `Buffer`s included). */
export const Bytes = typedArray(
  globalThis.Uint8Array<ArrayBufferLike>,
  "Uint8Array",
  byte,
  (xs) => Uint8Array.from(xs),
  4
)
/** The elements of data u16. */
export const Uint16Elements = typedArray(
  globalThis.Uint16Array<ArrayBufferLike>,
  "Uint16Array",
  Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })),
  (xs) => Uint16Array.from(xs),
  2
)
/** The elements of data u32. */
export const Uint32Elements = typedArray(
  globalThis.Uint32Array<ArrayBufferLike>,
  "Uint32Array",
  Uint32,
  (xs) => Uint32Array.from(xs),
  1
)
/** The elements of data i8. */
export const Int8Elements = typedArray(
  globalThis.Int8Array<ArrayBufferLike>,
  "Int8Array",
  Schema.Int.check(Schema.isBetween({ minimum: -128, maximum: 127 })),
  (xs) => Int8Array.from(xs),
  4
)
/** The elements of data i16. */
export const Int16Elements = typedArray(
  globalThis.Int16Array<ArrayBufferLike>,
  "Int16Array",
  Schema.Int.check(Schema.isBetween({ minimum: -32768, maximum: 32767 })),
  (xs) => Int16Array.from(xs),
  2
)
/** The elements of data i32. */
export const Int32Elements = typedArray(
  globalThis.Int32Array<ArrayBufferLike>,
  "Int32Array",
  Int32,
  (xs) => Int32Array.from(xs),
  1
)
/** The elements of data u64. */
export const Uint64Elements = typedArray(
  globalThis.BigUint64Array<ArrayBufferLike>,
  "BigUint64Array",
  Uint64,
  (xs) => BigUint64Array.from(xs),
  1
)
/** The elements of data i64. */
export const Int64Elements = typedArray(
  globalThis.BigInt64Array<ArrayBufferLike>,
  "BigInt64Array",
  Int64,
  (xs) => BigInt64Array.from(xs),
  1
)
/** The elements of data f32. */
export const Float32Elements = typedArray(
  globalThis.Float32Array<ArrayBufferLike>,
  "Float32Array",
  Schema.Number,
  (xs) => Float32Array.from(xs),
  1
)
/** The elements of data f64. */
export const Float64Elements = typedArray(
  globalThis.Float64Array<ArrayBufferLike>,
  "Float64Array",
  Schema.Number,
  (xs) => Float64Array.from(xs),
  1
)

// ---------------------------------------------------------------------------------------------
// The wire side: from and to `Value`s.
// ---------------------------------------------------------------------------------------------

/** Any NCP `Value`: the encoded side of every wire schema. */
export const AnyValue = Schema.declare((u: unknown): u is Value.Value => Value.isValue(u), {
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
  if (typeof x === "number") return value.type === "unknown" ? undefined : x
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

/**
 * A wire schema: `Value`s on the encoded side, `target`'s values on the decoded side.
 * `fromValue` reads a received `Value` (or `undefined` when it holds no such value: the issue
 * says what was expected), `toValue` builds the `Value` to send from a value `target` accepted.
 */
const wire = <S extends Schema.Top & { readonly DecodingServices: never; readonly EncodingServices: never }>(
  target: S,
  expected: string,
  fromValue: (value: Value.Value) => S["Encoded"] | undefined,
  toValue: (value: S["Encoded"]) => Value.Value
) =>
  AnyValue.pipe(
    Schema.decodeTo(
      target,
      SchemaTransformation.transformEffect<S["Encoded"], Value.Value>({
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
        encode: (value: S["Encoded"]) => Effect.succeed(toValue(value))
      })
    )
  )

/** A signed 32-bit integer, sent as i32. */
export const i32 = wire(Int32, "a number", exactNumber, Value.i32)

/** An unsigned 32-bit integer, sent as u32. */
export const u32 = wire(Uint32, "a number", exactNumber, Value.u32)

/** A signed 64-bit integer as a `bigint`, sent as i64. */
export const i64 = wire(Int64, "an integer", exactBigInt, Value.i64)

/** An unsigned 64-bit integer as a `bigint`, sent as u64. */
export const u64 = wire(Uint64, "an integer", exactBigInt, Value.u64)

/** A number sent as f32, rounded to the nearest float32; a finite number beyond the f32 range fails. */
export const f32 = wire(Float32, "a number", exactNumber, Value.f32)

/** A number sent as f64. */
export const f64 = wire(Schema.Number, "a number", exactNumber, Value.f64)

/**
 * A number sent as the untyped API sends it: i32 when it is a whole number in i32 range (not
 * -0), f64 otherwise (never i64, so that it reads back as a number). For params nodes take as
 * "a number" whatever its type, such as frequencies in MHz.
 */
export const number = wire(Schema.Number, "a number", exactNumber, (n: number) =>
  Number.isInteger(n) && !Object.is(n, -0) && n >= -2147483648 && n <= 2147483647 ? Value.i32(n) : Value.f64(n)
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
export const string = wire(
  NcpString,
  "a string",
  (value) => (value.type === "string" ? value.value : undefined),
  Value.string
)

/** Opaque bytes, sent as raw. They come back zero-padded to whole 4-byte words. */
export const raw = wire(Bytes, "raw bytes", (value) => (value.type === "raw" ? value.value : undefined), Value.raw)

/** data u8. Comes back zero-padded to whole 4-byte words. */
export const u8Array = wire(
  Bytes,
  "data u8",
  (value) => (value.type === "u8[]" ? value.value : undefined),
  Value.u8Array
)
/** data u16. Comes back zero-padded to an even number of elements. */
export const u16Array = wire(
  Uint16Elements,
  "data u16",
  (value) => (value.type === "u16[]" ? value.value : undefined),
  Value.u16Array
)
/** data u32. */
export const u32Array = wire(
  Uint32Elements,
  "data u32",
  (value) => (value.type === "u32[]" ? value.value : undefined),
  Value.u32Array
)
/** data i8. Comes back zero-padded to whole 4-byte words. */
export const i8Array = wire(
  Int8Elements,
  "data i8",
  (value) => (value.type === "i8[]" ? value.value : undefined),
  Value.i8Array
)
/** data i16. Comes back zero-padded to an even number of elements. */
export const i16Array = wire(
  Int16Elements,
  "data i16",
  (value) => (value.type === "i16[]" ? value.value : undefined),
  Value.i16Array
)
/** data i32. */
export const i32Array = wire(
  Int32Elements,
  "data i32",
  (value) => (value.type === "i32[]" ? value.value : undefined),
  Value.i32Array
)
/** data u64. */
export const u64Array = wire(
  Uint64Elements,
  "data u64",
  (value) => (value.type === "u64[]" ? value.value : undefined),
  Value.u64Array
)
/** data i64. */
export const i64Array = wire(
  Int64Elements,
  "data i64",
  (value) => (value.type === "i64[]" ? value.value : undefined),
  Value.i64Array
)
/** data f32. */
export const f32Array = wire(
  Float32Elements,
  "data f32",
  (value) => (value.type === "f32[]" ? value.value : undefined),
  Value.f32Array
)
/** data f64. */
export const f64Array = wire(
  Float64Elements,
  "data f64",
  (value) => (value.type === "f64[]" ? value.value : undefined),
  Value.f64Array
)

/**
 * A Schema of one param: its encoded side is a `Value` (or `undefined` for an optional param
 * left out), which is what fixes its wire type. Every schema of this module is one, and so is
 * any Schema built on them (`Schema.optionalKey(WireSchema.i32)`, `WireSchema.f64.check(...)`,
 * `WireSchema.number.pipe(Schema.decodeTo(...))`).
 */
export interface Param extends Schema.Codec<unknown, Value.Value | undefined> {}

/** The params of a field as the wire schemas encode them: a `Value` for each name, `undefined` for one left out. */
export type Encoded = { readonly [name: string]: Value.Value | undefined }
