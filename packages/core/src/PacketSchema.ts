/**
 * NCP values, params, fields and packets described with `effect/Schema`, and Schema
 * transformations between wire bytes (or the vectors' JSON form) and a `Packet`.
 *
 * Use these when a packet crosses a Schema boundary: validating a packet built elsewhere
 * (`Schema.is(PacketSchema.Packet)`), decoding bytes inside a larger Schema, or handing packets
 * to an API that speaks Schema. The plain functions `decodePacket` and `encodePacket` stay the
 * fast path; {@link PacketFromBytes} calls them.
 *
 * The schemas' types are exactly the codec's interfaces (`Value.Value`, `Field.Param`,
 * `Field.Field`, `Timestamp.Timestamp`, `Packet.Packet`), with the checks the encoder makes:
 * names are identifiers, integers are in their wire type's range, strings hold no NUL and no
 * lone surrogate, the info is 4 bytes. There is one Schema per wire type (`I32Value`,
 * `U64Value`, `F32ArrayValue`, ...) and one per payload (`Int32`, `Uint64`, `Float32Array`,
 * ...), to build your own message Schemas from.
 *
 * **Property tests.** Every Schema here derives a generator through `effect/Arbitrary`, so
 * `it.prop` from `@effect/vitest` takes them as they are, and so does a Schema of your own built
 * from them. Generated packets are valid (the encoder accepts them), shrink to small valid
 * packets, and reach the edges on purpose: empty and one-element arrays, every length modulo the
 * 4-byte word, empty strings and astral characters, unknown type codes, 4-character names, the
 * ends of every integer range (u64 max, i64 min), NaN, -0 and the infinities, typed arrays that
 * start inside their buffer. f32 values are generated exactly float32, but raw and small data
 * arrays may be any length and i32 and u32 values may be `-0`: compare a round trip with
 * `RoundTrip.normalize`. Sizes follow the `size` option of `effect/Arbitrary` (default 10: up to
 * 10 fields of 10 params of 10 elements); bound them further with checks of your own
 * (`PacketSchema.Float32Array.check(Schema.isMaxLength(1024))`), which generation keeps to.
 *
 * @example
 * ```ts
 * import { decodePacket, encodePacket, PacketSchema, RoundTrip } from "@effect-ncp/core"
 * import { expect, it } from "@effect/vitest"
 * import * as Result from "effect/Result"
 *
 * it.prop("decode(encode(p)) is normalize(p)", [PacketSchema.Packet], ([packet]) => {
 *   const bytes = Result.getOrThrow(encodePacket(packet))
 *   expect(Result.getOrThrow(decodePacket(bytes)).packet).toEqual(RoundTrip.normalize(packet))
 * })
 * ```
 *
 * @example
 * ```ts
 * import { PacketSchema } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * declare const bytes: Uint8Array
 * const packet = Schema.decodeSync(PacketSchema.PacketFromBytes)(bytes)
 * const again = Schema.encodeSync(PacketSchema.PacketFromBytes)(packet)
 * ```
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type * as SchemaAST from "effect/SchemaAST"
import * as SchemaGetter from "effect/SchemaGetter"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { decodePacket } from "./Decoder.js"
import { encodePacket } from "./Encoder.js"
import type * as FieldModel from "./Field.js"
import * as Identifier from "./Identifier.js"
import * as Domain from "./internal/domain.js"
import * as Json from "./Json.js"
import type * as PacketModel from "./Packet.js"
import type * as TimestampModel from "./Timestamp.js"
import type * as ValueModel from "./Value.js"

// How `effect/Arbitrary` generates these schemas. It derives strings, unions, structs and arrays
// by itself, and reads the ranges of `isInt32`-like checks (their `arbitraryConstraint`
// annotation). What it cannot see (f32 representability, typed arrays, the values at the edges of
// each range, the unknown codes) goes through the `toCodecArbitrary` annotation of a declaration:
// a Schema to generate from and a function from its values to ours. The declaration still
// validates every generated value, so a wrong generator shows up as discards, never as an
// invalid sample. All ranges and edges come from one table (`internal/domain`), which the
// fast-check arbitraries read too.

type GenerationConstraint<T> = Schema.Annotations.ToArbitrary.GenerationConstraint<T> | undefined

const generatedFrom = <S extends Schema.Top, T>(from: S, toValue: (generated: S["Type"]) => T): SchemaAST.Link =>
  Schema.link<T>()(from, {
    decode: SchemaGetter.transform(toValue),
    encode: SchemaGetter.forbidden(() => "a generation representation is only decoded")
  })

const indexBelow = (length: number) => Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: length - 1 }))

// Arrays start up to 3 elements into their buffer, as views on a received message do.
const OFFSET = indexBelow(4)

const lengthChecked = <S extends Schema.Top>(array: Schema.$Array<S>, constraint: GenerationConstraint<unknown>) => {
  const minimum = constraint?.minLength
  const maximum = constraint?.maxLength
  if (minimum !== undefined && maximum !== undefined) return array.check(Schema.isBetweenLength(minimum, maximum))
  if (minimum !== undefined) return array.check(Schema.isMinLength(minimum))
  if (maximum !== undefined) return array.check(Schema.isMaxLength(maximum))
  return array
}

/**
 * How to generate values of type `A`: one alone (for a payload's declaration), or an array of
 * them (for a typed array's), from the same representation. Typed-array elements are generated
 * straight from the representation rather than through the element's declaration, which would
 * decode and validate every element on its own.
 */
interface Generator<A> {
  readonly one: SchemaAST.Link
  readonly many: <T>(
    constraint: GenerationConstraint<unknown>,
    from: (elements: ReadonlyArray<A>, offset: number) => T
  ) => SchemaAST.Link
}

const generator = <A, B>(representation: Schema.Schema<B>, toValue: (generated: B) => A): Generator<A> => ({
  one: generatedFrom(representation, toValue),
  many: (constraint, from) =>
    generatedFrom(
      Schema.Tuple([OFFSET, lengthChecked(Schema.Array(representation), constraint)]),
      ([offset, generated]) => from(generated.map(toValue), offset)
    )
})

// One draw in EDGE_ONE_IN is an edge of the domain (a range's ends, 0, -0, NaN, the infinities):
// the values where codecs break, which uniform draws over 2^32 or 2^64 values would almost never
// hit. The pick comes first so that shrinking moves toward edge 0, the simplest value.
const EDGE_ONE_IN = 4
const PICK_EDGE = indexBelow(EDGE_ONE_IN)

const edgesOr = <A, B>(edges: ReadonlyArray<A>, base: Schema.Schema<B>, toValue: (generated: B) => A) =>
  edges.length === 0
    ? generator(base, toValue)
    : generator(Schema.Tuple([PICK_EDGE, indexBelow(edges.length), base]), ([pick, edge, generated]) => {
        const value = pick === 0 ? edges[edge] : undefined
        return value === undefined ? toValue(generated) : value
      })

const identity = <A>(a: A): A => a

// A user's own bounds on one of these (`Int32.check(Schema.isBetween(...))`) arrive as a
// constraint; generation keeps to them so that it does not discard.
const integerBounds = (domain: Domain.IntegerDomain, constraint: GenerationConstraint<number>) => {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = constraint ?? {}
  const low = Math.max(
    domain.minimum,
    minimum === undefined ? -Infinity : exclusiveMinimum ? Math.floor(minimum) + 1 : Math.ceil(minimum)
  )
  const high = Math.min(
    domain.maximum,
    maximum === undefined ? Infinity : exclusiveMaximum ? Math.ceil(maximum) - 1 : Math.floor(maximum)
  )
  return low <= high ? { low, high } : { low: domain.minimum, high: domain.maximum }
}

const bigIntBounds = (domain: Domain.BigIntDomain, constraint: GenerationConstraint<bigint>) => {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum } = constraint ?? {}
  const fromMinimum = minimum === undefined ? domain.minimum : exclusiveMinimum ? minimum + 1n : minimum
  const fromMaximum = maximum === undefined ? domain.maximum : exclusiveMaximum ? maximum - 1n : maximum
  const low = fromMinimum > domain.minimum ? fromMinimum : domain.minimum
  const high = fromMaximum < domain.maximum ? fromMaximum : domain.maximum
  return low <= high ? { low, high } : { low: domain.minimum, high: domain.maximum }
}

const integerGenerator = (domain: Domain.IntegerDomain, constraint?: GenerationConstraint<number>) => {
  const { low, high } = integerBounds(domain, constraint)
  return edgesOr(
    domain.edges.filter((edge) => edge >= low && edge <= high),
    Schema.Int.check(Schema.isBetween({ minimum: low, maximum: high })),
    identity
  )
}

const bigIntGenerator = (domain: Domain.BigIntDomain, constraint?: GenerationConstraint<bigint>) => {
  const { low, high } = bigIntBounds(domain, constraint)
  return edgesOr(
    domain.edges.filter((edge) => edge >= low && edge <= high),
    Schema.BigInt.check(Schema.isBetweenBigInt({ minimum: low, maximum: high })),
    identity
  )
}

// A number within a user's bounds on a float payload (`Float64.check(Schema.isBetween(...))`),
// which arrive as a constraint: draws and edges keep to them.
const numberWithin = (constraint: GenerationConstraint<number>) => {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum, number } = constraint ?? {}
  const checks: Array<SchemaAST.Check<number>> = []
  if (minimum !== undefined)
    checks.push(exclusiveMinimum ? Schema.isGreaterThan(minimum) : Schema.isGreaterThanOrEqualTo(minimum))
  if (maximum !== undefined)
    checks.push(exclusiveMaximum ? Schema.isLessThan(maximum) : Schema.isLessThanOrEqualTo(maximum))
  if (number === "finite") checks.push(Schema.isFinite())
  if (number === "integer") checks.push(Schema.isInt())
  const [first, ...rest] = checks
  return first === undefined ? Schema.Number : Schema.Number.check(first, ...rest)
}

// Float32 values come from an index over every float32 (`internal/domain`), so each binade is as
// likely as any other; one step past each infinity is NaN. Bounds become a range of indexes.
const float32Generator = (constraint?: GenerationConstraint<number>) => {
  const within = numberWithin(constraint)
  const { low, high } = float32IndexBounds(constraint)
  return edgesOr(
    Domain.float32.edges.filter(Schema.is(within)),
    Schema.Int.check(Schema.isBetween({ minimum: low, maximum: high })),
    Domain.float32AtIndex
  )
}

const float32IndexBounds = (constraint: GenerationConstraint<number>) => {
  const { minimum, maximum, exclusiveMinimum, exclusiveMaximum, number } = constraint ?? {}
  // NaN lies one step past each infinity
  const finite = number === "finite" || number === "integer"
  let low = finite ? -Domain.FLOAT32_INFINITY_INDEX : -Domain.FLOAT32_INFINITY_INDEX - 2
  let high = finite ? Domain.FLOAT32_INFINITY_INDEX - 1 : Domain.FLOAT32_INFINITY_INDEX + 1
  if (minimum !== undefined) low = Math.max(low, Domain.float32IndexFrom(minimum, exclusiveMinimum === true))
  if (maximum !== undefined) high = Math.min(high, Domain.float32IndexTo(maximum, exclusiveMaximum === true))
  return low <= high
    ? { low, high }
    : { low: -Domain.FLOAT32_INFINITY_INDEX - 2, high: Domain.FLOAT32_INFINITY_INDEX + 1 }
}

const float64Generator = (constraint?: GenerationConstraint<number>) => {
  const within = numberWithin(constraint)
  return edgesOr(Domain.float64.edges.filter(Schema.is(within)), within, identity)
}

/**
 * An integer payload: validates `domain`, generates within `generation` (the same by default)
 * with its edges.
 */
const integer = (domain: Domain.IntegerDomain, generation: Domain.IntegerDomain = domain) =>
  Schema.declare(
    (input): input is number =>
      typeof input === "number" && Number.isInteger(input) && input >= domain.minimum && input <= domain.maximum,
    {
      expected: domain.description,
      toCodecArbitrary: ({ constraint }) => integerGenerator(generation, constraint).one
    }
  )

const bigInteger = (domain: Domain.BigIntDomain) =>
  Schema.declare(
    (input): input is bigint => typeof input === "bigint" && input >= domain.minimum && input <= domain.maximum,
    {
      expected: domain.description,
      toCodecArbitrary: ({ constraint }) => bigIntGenerator(domain, constraint).one
    }
  )

const isNumber = (input: unknown): input is number => typeof input === "number"

/**
 * An i32 payload: an integer from -2^31 to 2^31-1.
 *
 * @example
 * ```ts
 * import { PacketSchema } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * const Gain = PacketSchema.Int32.check(Schema.isBetween({ minimum: -40, maximum: 40 }))
 * ```
 */
export const Int32 = integer(Domain.int32)

/** A u32 payload: an integer from 0 to 2^32-1. */
export const Uint32 = integer(Domain.uint32)

// Ids and timestamp seconds: validated as u32, generated without -0 (see internal/domain).
const Word = integer(Domain.uint32, Domain.word)

/** An i64 payload: a `bigint` from -2^63 to 2^63-1. */
export const Int64 = bigInteger(Domain.int64)

/** A u64 payload: a `bigint` from 0 to 2^64-1. */
export const Uint64 = bigInteger(Domain.uint64)

/**
 * An f32 payload: any number, as the encoder accepts it (it rounds to the nearest float32).
 * Generated values are exactly float32, NaN, infinities and -0 included, so they round-trip.
 */
export const Float32 = Schema.declare(isNumber, {
  expected: Domain.float32.description,
  toCodecArbitrary: ({ constraint }) => float32Generator(constraint).one
})

/** An f64 payload: any number (NaN, infinities and -0 included). */
export const Float64 = Schema.declare(isNumber, {
  expected: Domain.float64.description,
  toCodecArbitrary: ({ constraint }) => float64Generator(constraint).one
})

/**
 * A string payload: text without NUL (which would end it on the wire) or lone surrogates (which
 * UTF-8 cannot hold). Generated strings use any other code point, astral ones included.
 */
export const WireString = Schema.String.check(
  Schema.makeFilter((text: string) => Domain.wireStringProblem(text) ?? true, {
    expected: "an NCP string (no NUL, no lone surrogate)",
    arbitraryConstraint: { patterns: [Domain.wireStringPattern] }
  })
)

/** What a payload needs of a typed array class (`Uint16Array` and the others). */
interface TypedArrayClass<E, A> {
  new (...args: ReadonlyArray<never>): A
  readonly name: string
  readonly from: (elements: ReadonlyArray<E>) => A
}

// A typed array over any buffer (`ArrayBufferLike`, as the codec's interfaces declare them) whose
// elements are generated by `element`.
const typedArray = <E, A extends Domain.TypedArray>(Class: TypedArrayClass<E, A>, element: Generator<E>) =>
  Schema.declare((input): input is A => input instanceof Class, {
    expected: Class.name,
    toCodecArbitrary: ({ constraint }) =>
      element.many(constraint, (elements, offset) => Domain.atOffset(Class.from(elements), offset))
  })

const uint8Generator = integerGenerator(Domain.uint8)

/**
 * The bytes of a raw, data u8 or unknown value: any `Uint8Array` (a Node `Buffer` too), at any
 * offset in its buffer. Generated arrays start 0 to 3 bytes into theirs.
 */
export const Bytes = Schema.Uint8Array.annotate({
  toCodecArbitrary: ({ constraint }: { readonly constraint: GenerationConstraint<unknown> }) =>
    uint8Generator.many(constraint, (bytes, offset) => Domain.atOffset(globalThis.Uint8Array.from(bytes), offset))
})

/** A data u16 payload. */
export const Uint16Array = typedArray(globalThis.Uint16Array<ArrayBufferLike>, integerGenerator(Domain.uint16))
/** A data u32 payload. */
export const Uint32Array = typedArray(globalThis.Uint32Array<ArrayBufferLike>, integerGenerator(Domain.uint32))
/** A data i8 payload. */
export const Int8Array = typedArray(globalThis.Int8Array<ArrayBufferLike>, integerGenerator(Domain.int8))
/** A data i16 payload. */
export const Int16Array = typedArray(globalThis.Int16Array<ArrayBufferLike>, integerGenerator(Domain.int16))
/** A data i32 payload. */
export const Int32Array = typedArray(globalThis.Int32Array<ArrayBufferLike>, integerGenerator(Domain.int32))
/** A data u64 payload. */
export const BigUint64Array = typedArray(globalThis.BigUint64Array<ArrayBufferLike>, bigIntGenerator(Domain.uint64))
/** A data i64 payload. */
export const BigInt64Array = typedArray(globalThis.BigInt64Array<ArrayBufferLike>, bigIntGenerator(Domain.int64))
/** A data f32 payload. */
export const Float32Array = typedArray(globalThis.Float32Array<ArrayBufferLike>, float32Generator())
/** A data f64 payload. */
export const Float64Array = typedArray(globalThis.Float64Array<ArrayBufferLike>, float64Generator())

/**
 * A type code this library does not know (0-255, none of the 18 wire types): the code of an
 * `unknown` value.
 */
export const UnknownCode = Schema.declare(
  (input): input is number => typeof input === "number" && Domain.unknownCodes.includes(input),
  {
    expected: "a type code this library does not know",
    toCodecArbitrary: () =>
      generatedFrom(indexBelow(Domain.unknownCodes.length), (index) => Domain.unknownCodes[index] ?? 0)
  }
)

/**
 * An i32 value (`Value.I32`). One Schema per wire type, to build your own message Schemas from:
 * `Schema.Struct({ FSTA: PacketSchema.I32Value, PDAT: PacketSchema.F32ArrayValue })` validates,
 * and `effect/Arbitrary` (`it.prop`) generates, like the packet Schemas.
 *
 * @example
 * ```ts
 * import { PacketSchema, Value } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * Schema.is(PacketSchema.I32Value)(Value.i32(-5)) // true
 * ```
 */
export const I32Value = Schema.Struct({ type: Schema.Literal("i32"), value: Int32 })
/** A u32 value (`Value.U32`). */
export const U32Value = Schema.Struct({ type: Schema.Literal("u32"), value: Uint32 })
/** An i64 value (`Value.I64`). */
export const I64Value = Schema.Struct({ type: Schema.Literal("i64"), value: Int64 })
/** A u64 value (`Value.U64`). */
export const U64Value = Schema.Struct({ type: Schema.Literal("u64"), value: Uint64 })
/** An f32 value (`Value.F32`). */
export const F32Value = Schema.Struct({ type: Schema.Literal("f32"), value: Float32 })
/** An f64 value (`Value.F64`). */
export const F64Value = Schema.Struct({ type: Schema.Literal("f64"), value: Float64 })
/** A string value (`Value.Str`). */
export const StringValue = Schema.Struct({ type: Schema.Literal("string"), value: WireString })
/** A raw value (`Value.Raw`). */
export const RawValue = Schema.Struct({ type: Schema.Literal("raw"), value: Bytes })
/** A data u8 value (`Value.U8Array`). */
export const U8ArrayValue = Schema.Struct({ type: Schema.Literal("u8[]"), value: Bytes })
/** A data u16 value (`Value.U16Array`). */
export const U16ArrayValue = Schema.Struct({ type: Schema.Literal("u16[]"), value: Uint16Array })
/** A data u32 value (`Value.U32Array`). */
export const U32ArrayValue = Schema.Struct({ type: Schema.Literal("u32[]"), value: Uint32Array })
/** A data i8 value (`Value.I8Array`). */
export const I8ArrayValue = Schema.Struct({ type: Schema.Literal("i8[]"), value: Int8Array })
/** A data i16 value (`Value.I16Array`). */
export const I16ArrayValue = Schema.Struct({ type: Schema.Literal("i16[]"), value: Int16Array })
/** A data i32 value (`Value.I32Array`). */
export const I32ArrayValue = Schema.Struct({ type: Schema.Literal("i32[]"), value: Int32Array })
/** A data u64 value (`Value.U64Array`). */
export const U64ArrayValue = Schema.Struct({ type: Schema.Literal("u64[]"), value: BigUint64Array })
/** A data i64 value (`Value.I64Array`). */
export const I64ArrayValue = Schema.Struct({ type: Schema.Literal("i64[]"), value: BigInt64Array })
/** A data f32 value (`Value.F32Array`). */
export const F32ArrayValue = Schema.Struct({ type: Schema.Literal("f32[]"), value: Float32Array })
/** A data f64 value (`Value.F64Array`). */
export const F64ArrayValue = Schema.Struct({ type: Schema.Literal("f64[]"), value: Float64Array })
/** A value of a type code this library does not know (`Value.Unknown`), with its bytes. */
export const UnknownValue = Schema.Struct({ type: Schema.Literal("unknown"), code: UnknownCode, value: Bytes })

/**
 * Any NCP value (`Value.Value`): a struct `{ type, value }` per wire type, plus
 * `{ type: "unknown", code, value }` for a type code this library does not know.
 *
 * @example
 * ```ts
 * import { PacketSchema, Value } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * Schema.is(PacketSchema.Value)(Value.u32(7))              // true
 * Schema.is(PacketSchema.Value)({ type: "u32", value: -1 }) // false: not a u32
 * ```
 */
export const Value = Schema.Union([
  I32Value,
  U32Value,
  I64Value,
  U64Value,
  F32Value,
  F64Value,
  StringValue,
  RawValue,
  U8ArrayValue,
  U16ArrayValue,
  U32ArrayValue,
  I8ArrayValue,
  I16ArrayValue,
  I32ArrayValue,
  U64ArrayValue,
  I64ArrayValue,
  F32ArrayValue,
  F64ArrayValue,
  UnknownValue
]).annotate({ identifier: "Value" })

/**
 * A param (`Field.Param`): an identifier and one value.
 *
 * @example
 * ```ts
 * import { PacketSchema, Value } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(PacketSchema.Param)({ name: "FSTA", value: Value.i32(10000) })
 * ```
 */
export const Param = Schema.Struct({ name: Identifier.Identifier, value: Value }).annotate({ identifier: "Param" })

/**
 * A field (`Field.Field`): an identifier, a u32 id and its params in wire order.
 *
 * @example
 * ```ts
 * import { PacketSchema } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(PacketSchema.Field)({ name: "SWEP", id: 1, params: [] })
 * ```
 */
export const Field = Schema.Struct({
  name: Identifier.Identifier,
  id: Word,
  params: Schema.Array(Param)
}).annotate({ identifier: "Field" })

/**
 * A packet timestamp (`Timestamp.Timestamp`): two u32 words, whole seconds since 1970 and
 * nanoseconds.
 *
 * @example
 * ```ts
 * import { PacketSchema } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(PacketSchema.Timestamp)({ seconds: 1715949045, nanos: 123456789 })
 * ```
 */
export const Timestamp = Schema.Struct({
  seconds: Word,
  // The wire word holds any u32; generated nanoseconds stay below 10^9, the ones a time has.
  nanos: integer(Domain.uint32, Domain.nanos)
}).annotate({ identifier: "Timestamp" })

const Info = Bytes.check(
  Schema.makeFilter(
    (info: globalThis.Uint8Array) =>
      info.length === Domain.infoBytes ? true : `info must be ${Domain.infoBytes} bytes, got ${info.length}`,
    { arbitraryConstraint: { minLength: Domain.infoBytes, maxLength: Domain.infoBytes } }
  )
)

/**
 * A packet (`Packet.Packet`) as the encoder accepts it.
 *
 * @example
 * ```ts
 * import { PacketSchema, Value } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * const packet = Schema.decodeUnknownSync(PacketSchema.Packet)({
 *   type: "DSPC",
 *   id: 1,
 *   timestamp: { seconds: 0, nanos: 0 },
 *   info: new Uint8Array(4),
 *   fields: [{ name: "SWEP", id: 1, params: [{ name: "FSTA", value: Value.i32(10000) }] }]
 * })
 * ```
 */
export const Packet = Schema.Struct({
  type: Identifier.Identifier,
  id: Word,
  timestamp: Timestamp,
  info: Info,
  fields: Schema.Array(Field)
}).annotate({ identifier: "Packet" })

/**
 * The wire bytes of one packet, decoded to a `Packet` with `decodePacket` and encoded with
 * `encodePacket`. A `DecodeError` (or `EncodeError`) becomes a Schema issue whose message is
 * the codec error's message, byte offset included. Decode warnings are dropped (use
 * `decodePacket` to see them), and raw and data values may view the given bytes without
 * copying, as `decodePacket` documents. Names must be identifiers: a packet whose names are
 * not (which `decodePacket` accepts) fails to decode here.
 *
 * @example
 * ```ts
 * import { PacketSchema } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 * import * as Schema from "effect/Schema"
 *
 * declare const bytes: Uint8Array
 * const program = Schema.decodeEffect(PacketSchema.PacketFromBytes)(bytes).pipe(
 *   Effect.map((packet) => packet.fields.map((field) => field.name))
 * )
 * // fails with a Schema.SchemaError: "bad header magic de ad be ef, expected dd cc bb aa (at offset 0)"
 * ```
 */
export const PacketFromBytes = Schema.Uint8Array.pipe(
  Schema.decodeTo(
    Packet,
    SchemaTransformation.transformEffect({
      decode: (bytes: Uint8Array, options) => {
        const result = decodePacket(bytes)
        return Result.isSuccess(result)
          ? Effect.succeed(result.success.packet)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: result.failure.message }, bytes, options))
      },
      encode: (packet: PacketModel.Packet, options) => {
        const result = encodePacket(packet)
        return Result.isSuccess(result)
          ? Effect.succeed(result.success)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: result.failure.message }, packet, options))
      }
    })
  )
).annotate({ identifier: "PacketFromBytes" })

const JsonNumber = Schema.Union([Schema.Number, Schema.Literals(["Infinity", "-Infinity", "NaN"])])

/**
 * A value in the vectors' JSON form (`Json.ValueJson`). Its generator follows this shape only
 * (any string where an i64 goes): for the JSON form of valid values, generate `Value` and map it
 * through `Json.fromValue`.
 *
 * @example
 * ```ts
 * import { PacketSchema } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * Schema.is(PacketSchema.ValueJson)({ type: "u64", value: "18446744073709551615" }) // true
 * ```
 */
export const ValueJson = Schema.Union([
  Schema.Struct({ type: Schema.Literals(["i32", "u32", "f32", "f64"]), value: JsonNumber }),
  Schema.Struct({ type: Schema.Literals(["i64", "u64"]), value: Schema.String }),
  Schema.Struct({ type: Schema.Literal("string"), value: Schema.String }),
  Schema.Struct({ type: Schema.Literal("raw"), hex: Schema.String }),
  Schema.Struct({
    type: Schema.Literals(["u8[]", "u16[]", "u32[]", "i8[]", "i16[]", "i32[]", "f32[]", "f64[]"]),
    value: Schema.Array(JsonNumber)
  }),
  Schema.Struct({ type: Schema.Literals(["u64[]", "i64[]"]), value: Schema.Array(Schema.String) }),
  Schema.Struct({ type: Schema.Literal("unknown"), code: Schema.Number, hex: Schema.String })
]).annotate({ identifier: "ValueJson" })

/**
 * A packet in the vectors' JSON form (`Json.PacketJson`). Its generator follows this shape only:
 * for the JSON form of valid packets, generate `Packet` (or `PacketFromJson`) and map it through
 * `Json.fromPacket`.
 *
 * @example
 * ```ts
 * import { PacketSchema } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * declare const text: string
 * const json = Schema.decodeUnknownSync(PacketSchema.PacketJson)(JSON.parse(text))
 * ```
 */
export const PacketJson = Schema.Struct({
  packet_type: Schema.String,
  packet_id: Schema.Number,
  timestamp: Schema.String,
  info_hex: Schema.String,
  fields: Schema.Array(
    Schema.Struct({
      name: Schema.String,
      id: Schema.Number,
      params: Schema.Array(Schema.Tuple([Schema.String, ValueJson]))
    })
  )
}).annotate({ identifier: "PacketJson" })

/**
 * The vectors' JSON form of a packet, decoded to a `Packet` with `Json.toPacket` and encoded
 * with `Json.fromPacket`. A `JsonError` becomes a Schema issue with its message (path included).
 *
 * @example
 * ```ts
 * import { PacketSchema } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * declare const text: string
 * const packet = Schema.decodeUnknownSync(PacketSchema.PacketFromJson)(JSON.parse(text))
 * const json = Schema.encodeSync(PacketSchema.PacketFromJson)(packet)
 * ```
 */
export const PacketFromJson = PacketJson.pipe(
  Schema.decodeTo(
    Packet,
    SchemaTransformation.transformEffect({
      decode: (json: Json.PacketJson, options) => {
        const result = Json.toPacket(json)
        return Result.isSuccess(result)
          ? Effect.succeed(result.success)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: result.failure.message }, json, options))
      },
      encode: (packet: PacketModel.Packet) => Effect.succeed(Json.fromPacket(packet))
    })
  )
).annotate({ identifier: "PacketFromJson" })

// The schemas' types are exactly the codec's interfaces: a change to either breaks the build.
type Equals<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
const typesMatch: [
  Equals<typeof I32Value.Type, ValueModel.I32>,
  Equals<typeof U32Value.Type, ValueModel.U32>,
  Equals<typeof I64Value.Type, ValueModel.I64>,
  Equals<typeof U64Value.Type, ValueModel.U64>,
  Equals<typeof F32Value.Type, ValueModel.F32>,
  Equals<typeof F64Value.Type, ValueModel.F64>,
  Equals<typeof StringValue.Type, ValueModel.Str>,
  Equals<typeof RawValue.Type, ValueModel.Raw>,
  Equals<typeof U8ArrayValue.Type, ValueModel.U8Array>,
  Equals<typeof U16ArrayValue.Type, ValueModel.U16Array>,
  Equals<typeof U32ArrayValue.Type, ValueModel.U32Array>,
  Equals<typeof I8ArrayValue.Type, ValueModel.I8Array>,
  Equals<typeof I16ArrayValue.Type, ValueModel.I16Array>,
  Equals<typeof I32ArrayValue.Type, ValueModel.I32Array>,
  Equals<typeof U64ArrayValue.Type, ValueModel.U64Array>,
  Equals<typeof I64ArrayValue.Type, ValueModel.I64Array>,
  Equals<typeof F32ArrayValue.Type, ValueModel.F32Array>,
  Equals<typeof F64ArrayValue.Type, ValueModel.F64Array>,
  Equals<typeof UnknownValue.Type, ValueModel.Unknown>,
  Equals<typeof Value.Type, ValueModel.Value>,
  Equals<typeof Param.Type, FieldModel.Param>,
  Equals<typeof Field.Type, FieldModel.Field>,
  Equals<typeof Timestamp.Type, TimestampModel.Timestamp>,
  Equals<typeof Packet.Type, PacketModel.Packet>,
  Equals<typeof PacketFromBytes.Type, PacketModel.Packet>,
  Equals<typeof PacketFromBytes.Encoded, Uint8Array>,
  Equals<typeof ValueJson.Type, Json.ValueJson>,
  Equals<typeof PacketJson.Type, Json.PacketJson>,
  Equals<typeof PacketFromJson.Encoded, Json.PacketJson>
] = [
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true,
  true
]
void typesMatch
