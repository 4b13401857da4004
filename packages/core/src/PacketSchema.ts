/**
 * NCP values, params, fields and packets described with `effect/Schema`, and Schema
 * transformations between wire bytes (or the vectors' JSON form) and a `Packet`.
 *
 * Use these when a packet crosses a Schema boundary: validating a packet built elsewhere
 * (`Schema.is(PacketSchema.Packet)`), decoding bytes inside a larger Schema, or handing packets
 * to an API that speaks Schema. The plain functions `Decoder.decodePacket` and
 * `Encoder.encodePacket` stay the fast path; {@link PacketFromBytes} calls them.
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
 * import { Decoder, Encoder, PacketSchema, RoundTrip } from "@effect-ncp/core"
 * import { expect, it } from "@effect/vitest"
 * import * as Result from "effect/Result"
 *
 * it.prop("decode(encode(p)) is normalize(p)", [PacketSchema.Packet], ([packet]) => {
 *   const bytes = Result.getOrThrow(Encoder.encodePacket(packet))
 *   expect(Result.getOrThrow(Decoder.decodePacket(bytes)).packet).toEqual(RoundTrip.normalize(packet))
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
 * @module
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Domain from "./codec/domain.js"
import * as Generators from "./codec/schemaGenerators.js"
import * as WireType from "./codec/wireType.js"
import { decodePacket } from "./Decoder.js"
import { encodePacket } from "./Encoder.js"
import type * as FieldModel from "./Field.js"
import * as Identifier from "./Identifier.js"
import * as Json from "./Json.js"
import type * as PacketModel from "./Packet.js"
import type * as TimestampModel from "./Timestamp.js"
import type * as ValueModel from "./Value.js"

// How `effect/Arbitrary` generates these schemas. It derives strings, unions, structs and arrays
// by itself, and reads the ranges of `isInt32`-like checks (their `arbitraryConstraint`
// annotation). What it cannot see goes through the `toCodecArbitrary` annotation of a
// declaration, which names a generator of `internal/codec/schemaGenerators`. Every range, class
// and edge comes from the wire-type table (`internal/codec/wireType`), which the codec and the
// fast-check arbitraries read too.

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
      toCodecArbitrary: ({ constraint }) => Generators.integerGenerator(generation, constraint).one
    }
  )

const bigInteger = (domain: Domain.BigIntDomain) =>
  Schema.declare(
    (input): input is bigint => typeof input === "bigint" && input >= domain.minimum && input <= domain.maximum,
    {
      expected: domain.description,
      toCodecArbitrary: ({ constraint }) => Generators.bigIntGenerator(domain, constraint).one
    }
  )

const float = (domain: Domain.FloatDomain) =>
  Schema.declare((input): input is number => typeof input === "number", {
    expected: domain.description,
    toCodecArbitrary: ({ constraint }) => Generators.floatGenerator(domain, constraint).one
  })

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
export const Int32 = integer(WireType.i32.domain)

/** A u32 payload: an integer from 0 to 2^32-1. */
export const Uint32 = integer(WireType.u32.domain)

// Ids and timestamp seconds: validated as u32, generated without -0 (see internal/codec/domain).
const Word = integer(WireType.u32.domain, Domain.word)

/** An i64 payload: a `bigint` from -2^63 to 2^63-1. */
export const Int64 = bigInteger(WireType.i64.domain)

/** A u64 payload: a `bigint` from 0 to 2^64-1. */
export const Uint64 = bigInteger(WireType.u64.domain)

/**
 * An f32 payload: any number, as the encoder accepts it (it rounds to the nearest float32).
 * Generated values are exactly float32, NaN, infinities and -0 included, so they round-trip.
 */
export const Float32 = float(WireType.f32.domain)

/** An f64 payload: any number (NaN, infinities and -0 included). */
export const Float64 = float(WireType.f64.domain)

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

// The payload of a data type: its typed array over any buffer (`ArrayBufferLike`, as the codec's
// interfaces declare them), whose elements `generatorOf` generates from the type's domain.
const typedArray = <A extends ValueModel.TypedArray, E extends WireType.Element, D extends Domain.NumericDomain>(
  type: WireType.DataType<string, A, E, D>,
  generatorOf: (domain: D) => Generators.Generator<E>
) => {
  const Class = type.ArrayClass
  const element = generatorOf(type.domain)
  return Schema.declare((input): input is A => input instanceof Class, {
    expected: Class.name,
    toCodecArbitrary: ({ constraint }) =>
      element.many(constraint, (elements, offset) => Domain.atOffset(Class.from(elements), offset))
  })
}

const byteGenerator = Generators.integerGenerator(WireType.u8Array.domain)

/**
 * The bytes of a raw, data u8 or unknown value: any `Uint8Array` (a Node `Buffer` too), at any
 * offset in its buffer. Generated arrays start 0 to 3 bytes into theirs.
 */
export const Bytes = Schema.Uint8Array.annotate({
  toCodecArbitrary: ({ constraint }: { readonly constraint: Generators.GenerationConstraint<unknown> }) =>
    byteGenerator.many(constraint, (bytes, offset) => Domain.atOffset(globalThis.Uint8Array.from(bytes), offset))
})

/** A data u16 payload. */
export const Uint16Array = typedArray(WireType.u16Array, Generators.integerGenerator)
/** A data u32 payload. */
export const Uint32Array = typedArray(WireType.u32Array, Generators.integerGenerator)
/** A data i8 payload. */
export const Int8Array = typedArray(WireType.i8Array, Generators.integerGenerator)
/** A data i16 payload. */
export const Int16Array = typedArray(WireType.i16Array, Generators.integerGenerator)
/** A data i32 payload. */
export const Int32Array = typedArray(WireType.i32Array, Generators.integerGenerator)
/** A data u64 payload. */
export const BigUint64Array = typedArray(WireType.u64Array, Generators.bigIntGenerator)
/** A data i64 payload. */
export const BigInt64Array = typedArray(WireType.i64Array, Generators.bigIntGenerator)
/** A data f32 payload. */
export const Float32Array = typedArray(WireType.f32Array, Generators.floatGenerator)
/** A data f64 payload. */
export const Float64Array = typedArray(WireType.f64Array, Generators.floatGenerator)

/**
 * A type code this library does not know (0-255, none of the 18 wire types): the code of an
 * `unknown` value.
 */
export const UnknownCode = Schema.declare(
  (input): input is number => typeof input === "number" && WireType.unknownCodes.includes(input),
  {
    expected: "a type code this library does not know",
    toCodecArbitrary: () =>
      Generators.generatedFrom(
        Generators.indexBelow(WireType.unknownCodes.length),
        (index) => WireType.unknownCodes[index] ?? 0
      )
  }
)

// The Schema of a wire type's values: its name as the tag, its payload as the value.
const tagged = <Name extends WireType.Name, S extends Schema.Top>(type: { readonly name: Name }, payload: S) =>
  Schema.Struct({ type: Schema.Literal(type.name), value: payload })

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
export const I32Value = tagged(WireType.i32, Int32)
/** A u32 value (`Value.U32`). */
export const U32Value = tagged(WireType.u32, Uint32)
/** An i64 value (`Value.I64`). */
export const I64Value = tagged(WireType.i64, Int64)
/** A u64 value (`Value.U64`). */
export const U64Value = tagged(WireType.u64, Uint64)
/** An f32 value (`Value.F32`). */
export const F32Value = tagged(WireType.f32, Float32)
/** An f64 value (`Value.F64`). */
export const F64Value = tagged(WireType.f64, Float64)
/** A string value (`Value.Str`). */
export const StringValue = tagged(WireType.string, WireString)
/** A raw value (`Value.Raw`). */
export const RawValue = tagged(WireType.raw, Bytes)
/** A data u8 value (`Value.U8Array`). */
export const U8ArrayValue = tagged(WireType.u8Array, Bytes)
/** A data u16 value (`Value.U16Array`). */
export const U16ArrayValue = tagged(WireType.u16Array, Uint16Array)
/** A data u32 value (`Value.U32Array`). */
export const U32ArrayValue = tagged(WireType.u32Array, Uint32Array)
/** A data i8 value (`Value.I8Array`). */
export const I8ArrayValue = tagged(WireType.i8Array, Int8Array)
/** A data i16 value (`Value.I16Array`). */
export const I16ArrayValue = tagged(WireType.i16Array, Int16Array)
/** A data i32 value (`Value.I32Array`). */
export const I32ArrayValue = tagged(WireType.i32Array, Int32Array)
/** A data u64 value (`Value.U64Array`). */
export const U64ArrayValue = tagged(WireType.u64Array, BigUint64Array)
/** A data i64 value (`Value.I64Array`). */
export const I64ArrayValue = tagged(WireType.i64Array, BigInt64Array)
/** A data f32 value (`Value.F32Array`). */
export const F32ArrayValue = tagged(WireType.f32Array, Float32Array)
/** A data f64 value (`Value.F64Array`). */
export const F64ArrayValue = tagged(WireType.f64Array, Float64Array)
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
