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
 * lone surrogate, the info is 4 bytes.
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
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { decodePacket } from "./Decoder.js"
import { encodePacket } from "./Encoder.js"
import type * as FieldModel from "./Field.js"
import * as Identifier from "./Identifier.js"
import * as Json from "./Json.js"
import type * as PacketModel from "./Packet.js"
import type * as TimestampModel from "./Timestamp.js"
import * as ValueModel from "./Value.js"

const I32 = Schema.Number.check(Schema.isInt32())
const U32 = Schema.Number.check(Schema.isUint32())
const I64 = Schema.BigInt.check(Schema.isBetweenBigInt({ minimum: -(2n ** 63n), maximum: 2n ** 63n - 1n }))
const U64 = Schema.BigInt.check(Schema.isBetweenBigInt({ minimum: 0n, maximum: 2n ** 64n - 1n }))

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const WireString = Schema.String.check(
  Schema.makeFilter((s: string) =>
    s.includes("\u0000")
      ? "an NCP string cannot hold a NUL character, which would end it on the wire"
      : loneSurrogate.test(s)
        ? "an NCP string cannot hold a lone surrogate, which UTF-8 cannot hold"
        : true
  )
)

const UnknownCode = Schema.Number.check(
  Schema.isInt(),
  Schema.isBetween({ minimum: 0, maximum: 255 }),
  Schema.makeFilter((code: number) =>
    ValueModel.typeOfCode(code) === undefined ? true : `type code ${code} is a known type, not an unknown one`
  )
)

// Typed arrays over any buffer (`ArrayBufferLike`), as the codec's interfaces declare them.
const Uint16ArraySchema = Schema.instanceOf(globalThis.Uint16Array<ArrayBufferLike>, { expected: "Uint16Array" })
const Uint32ArraySchema = Schema.instanceOf(globalThis.Uint32Array<ArrayBufferLike>, { expected: "Uint32Array" })
const Int8ArraySchema = Schema.instanceOf(globalThis.Int8Array<ArrayBufferLike>, { expected: "Int8Array" })
const Int16ArraySchema = Schema.instanceOf(globalThis.Int16Array<ArrayBufferLike>, { expected: "Int16Array" })
const Int32ArraySchema = Schema.instanceOf(globalThis.Int32Array<ArrayBufferLike>, { expected: "Int32Array" })
const BigUint64ArraySchema = Schema.instanceOf(globalThis.BigUint64Array<ArrayBufferLike>, {
  expected: "BigUint64Array"
})
const BigInt64ArraySchema = Schema.instanceOf(globalThis.BigInt64Array<ArrayBufferLike>, {
  expected: "BigInt64Array"
})
const Float32ArraySchema = Schema.instanceOf(globalThis.Float32Array<ArrayBufferLike>, { expected: "Float32Array" })
const Float64ArraySchema = Schema.instanceOf(globalThis.Float64Array<ArrayBufferLike>, { expected: "Float64Array" })

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
  Schema.Struct({ type: Schema.Literal("i32"), value: I32 }),
  Schema.Struct({ type: Schema.Literal("u32"), value: U32 }),
  Schema.Struct({ type: Schema.Literal("i64"), value: I64 }),
  Schema.Struct({ type: Schema.Literal("u64"), value: U64 }),
  Schema.Struct({ type: Schema.Literal("f32"), value: Schema.Number }),
  Schema.Struct({ type: Schema.Literal("f64"), value: Schema.Number }),
  Schema.Struct({ type: Schema.Literal("string"), value: WireString }),
  Schema.Struct({ type: Schema.Literal("raw"), value: Schema.Uint8Array }),
  Schema.Struct({ type: Schema.Literal("u8[]"), value: Schema.Uint8Array }),
  Schema.Struct({ type: Schema.Literal("u16[]"), value: Uint16ArraySchema }),
  Schema.Struct({ type: Schema.Literal("u32[]"), value: Uint32ArraySchema }),
  Schema.Struct({ type: Schema.Literal("i8[]"), value: Int8ArraySchema }),
  Schema.Struct({ type: Schema.Literal("i16[]"), value: Int16ArraySchema }),
  Schema.Struct({ type: Schema.Literal("i32[]"), value: Int32ArraySchema }),
  Schema.Struct({ type: Schema.Literal("u64[]"), value: BigUint64ArraySchema }),
  Schema.Struct({ type: Schema.Literal("i64[]"), value: BigInt64ArraySchema }),
  Schema.Struct({ type: Schema.Literal("f32[]"), value: Float32ArraySchema }),
  Schema.Struct({ type: Schema.Literal("f64[]"), value: Float64ArraySchema }),
  Schema.Struct({ type: Schema.Literal("unknown"), code: UnknownCode, value: Schema.Uint8Array })
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
  id: U32,
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
export const Timestamp = Schema.Struct({ seconds: U32, nanos: U32 }).annotate({ identifier: "Timestamp" })

const Info = Schema.Uint8Array.check(
  Schema.makeFilter((info: Uint8Array) => (info.length === 4 ? true : `info must be 4 bytes, got ${info.length}`))
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
  id: U32,
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
 * A value in the vectors' JSON form (`Json.ValueJson`).
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
 * A packet in the vectors' JSON form (`Json.PacketJson`).
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
] = [true, true, true, true, true, true, true, true, true, true]
void typesMatch
