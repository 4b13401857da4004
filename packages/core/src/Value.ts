/**
 * NCP parameter values: the 18 wire types, lossless.
 *
 * A `Value` is a plain object `{ type, value }` whose `type` is the wire type's name as the
 * vectors' JSON form spells it (`"i32"`, `"u64"`, `"f32[]"`, ...). Every decoded value keeps
 * its wire type, so decoding a packet and encoding it again gives the same bytes. A value
 * whose type code this library does not know is kept as `{ type: "unknown", code, value }`
 * with its bytes, and is re-encoded unchanged.
 *
 * Build values with the explicit constructors (`Value.u32(7)`, `Value.f32Array([1, 2])`), or
 * give plain JavaScript values, whose wire type the encoder picks ({@link fromInputOrReason}):
 *
 * | JavaScript                        | wire type                                  |
 * | --------------------------------- | ------------------------------------------ |
 * | integer `number` in i32 range     | i32                                        |
 * | other safe integer                | i64 (read back as `bigint`)                |
 * | any other `number` (fractions, -0, NaN, +-Infinity, unsafe integers) | f64   |
 * | `boolean`                         | i32 (1 or 0)                               |
 * | `string`                          | string                                     |
 * | `bigint` in i64 range             | i64; above it, up to 2^64-1: u64           |
 * | `Uint8Array` (and Node `Buffer`)  | raw                                        |
 * | `Uint8ClampedArray`               | data u8                                    |
 * | `Int8Array` ... `Float64Array`    | the matching data type (`Float32Array` -> data f32, `BigInt64Array` -> data i64) |
 *
 * Nothing is rounded: a value no wire type holds exactly is refused with an `EncodeError`.
 *
 * @example
 * ```ts
 * import { Value } from "@effect-ncp/core"
 *
 * Value.fromInputOrReason(2400) // { type: "i32", value: 2400 }
 * Value.fromInputOrReason(0.5)  // { type: "f64", value: 0.5 }
 * Value.u32(4_000_000_000)     // { type: "u32", value: 4000000000 }
 * Value.toNatural(Value.i64(5n)) // 5n
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as WireType from "./codec/wireType.js"

/** The wire type codes (spec section 3). */
export const TypeCode: { readonly [K in KnownType]: number } = WireType.codes

/** The name of a known wire type, as the JSON form spells it. */
export type KnownType = WireType.Name

/** Every known wire type name, in type-code order. */
export const knownTypes: ReadonlyArray<KnownType> = WireType.all.map((type) => type.name)

/** The known wire type for a type code, or `undefined` for a code this library does not know. */
export const typeOfCode = (code: number): KnownType | undefined => WireType.byCode[code]?.name

/** A signed 32-bit integer. */
export interface I32 {
  readonly type: "i32"
  readonly value: number
}
/** An unsigned 32-bit integer. */
export interface U32 {
  readonly type: "u32"
  readonly value: number
}
/** A signed 64-bit integer. */
export interface I64 {
  readonly type: "i64"
  readonly value: bigint
}
/** An unsigned 64-bit integer. */
export interface U64 {
  readonly type: "u64"
  readonly value: bigint
}
/** An IEEE 754 single. Encoding rounds to the nearest float32, as the type implies. */
export interface F32 {
  readonly type: "f32"
  readonly value: number
}
/** An IEEE 754 double. */
export interface F64 {
  readonly type: "f64"
  readonly value: number
}
/** UTF-8 text without NUL characters. */
export interface Str {
  readonly type: "string"
  readonly value: string
}
/** Opaque bytes. They come back from the wire zero-padded to a multiple of 4 bytes. */
export interface Raw {
  readonly type: "raw"
  readonly value: Uint8Array
}
/** data u8 */
export interface U8Array {
  readonly type: "u8[]"
  readonly value: Uint8Array
}
/** data u16 */
export interface U16Array {
  readonly type: "u16[]"
  readonly value: Uint16Array
}
/** data u32 */
export interface U32Array {
  readonly type: "u32[]"
  readonly value: Uint32Array
}
/** data i8 */
export interface I8Array {
  readonly type: "i8[]"
  readonly value: Int8Array
}
/** data i16 */
export interface I16Array {
  readonly type: "i16[]"
  readonly value: Int16Array
}
/** data i32 */
export interface I32Array {
  readonly type: "i32[]"
  readonly value: Int32Array
}
/** data u64 */
export interface U64Array {
  readonly type: "u64[]"
  readonly value: BigUint64Array
}
/** data i64 */
export interface I64Array {
  readonly type: "i64[]"
  readonly value: BigInt64Array
}
/** data f32 */
export interface F32Array {
  readonly type: "f32[]"
  readonly value: Float32Array
}
/** data f64 */
export interface F64Array {
  readonly type: "f64[]"
  readonly value: Float64Array
}
/**
 * A value of a type code this library does not know: its code and its bytes, padding
 * included, kept so the packet can be passed on unchanged.
 */
export interface Unknown {
  readonly type: "unknown"
  readonly code: number
  readonly value: Uint8Array
}

/** A data array value (type codes 0x81-0x91). */
export type DataArray =
  | U8Array
  | U16Array
  | U32Array
  | I8Array
  | I16Array
  | I32Array
  | U64Array
  | I64Array
  | F32Array
  | F64Array

/** Any NCP value. */
export type Value = I32 | U32 | I64 | U64 | F32 | F64 | Str | Raw | DataArray | Unknown

/** The typed array class of each data type. */
export type TypedArray = DataArray["value"]

/** A value as plain JavaScript: what {@link toNatural} gives and what readers see by default. */
export type Natural = number | bigint | string | Uint8Array | TypedArray

/** What {@link fromInputOrReason} (and every param of a packet to encode) accepts: a `Value`, or a plain JavaScript value mapped by the defaults. */
export type Input = Value | number | bigint | boolean | string | Uint8Array | Uint8ClampedArray | TypedArray

// Constructors. They do not validate: the encoder checks ranges and reports the packet, field
// and param of a bad value, which a constructor could not name.

/** An i32 value. */
export const i32 = (value: number): I32 => ({ type: "i32", value })
/** A u32 value. */
export const u32 = (value: number): U32 => ({ type: "u32", value })
/** An i64 value. */
export const i64 = (value: bigint): I64 => ({ type: "i64", value })
/** A u64 value. */
export const u64 = (value: bigint): U64 => ({ type: "u64", value })
/** An f32 value. */
export const f32 = (value: number): F32 => ({ type: "f32", value })
/** An f64 value. */
export const f64 = (value: number): F64 => ({ type: "f64", value })
/** A string value. */
export const string = (value: string): Str => ({ type: "string", value })
/** A raw value. */
export const raw = (value: Uint8Array): Raw => ({ type: "raw", value })

// A data type's constructor: its typed array as it is, anything else copied into one.
const dataArray = <Name extends WireType.DataName, A, E extends WireType.Element>(
  type: WireType.DataType<Name, A, E, WireType.AnyDataType["domain"]>
) => {
  const isArray = (value: A | ArrayLike<E>): value is A => value instanceof type.ArrayClass
  return (value: A | ArrayLike<E>): { readonly type: Name; readonly value: A } => ({
    type: type.name,
    value: isArray(value) ? value : type.ArrayClass.from(value)
  })
}

/** A data u8 value. */
export const u8Array: (value: Uint8Array | ArrayLike<number>) => U8Array = dataArray(WireType.u8Array)
/** A data u16 value. */
export const u16Array: (value: Uint16Array | ArrayLike<number>) => U16Array = dataArray(WireType.u16Array)
/** A data u32 value. */
export const u32Array: (value: Uint32Array | ArrayLike<number>) => U32Array = dataArray(WireType.u32Array)
/** A data i8 value. */
export const i8Array: (value: Int8Array | ArrayLike<number>) => I8Array = dataArray(WireType.i8Array)
/** A data i16 value. */
export const i16Array: (value: Int16Array | ArrayLike<number>) => I16Array = dataArray(WireType.i16Array)
/** A data i32 value. */
export const i32Array: (value: Int32Array | ArrayLike<number>) => I32Array = dataArray(WireType.i32Array)
/** A data u64 value. */
export const u64Array: (value: BigUint64Array | ArrayLike<bigint>) => U64Array = dataArray(WireType.u64Array)
/** A data i64 value. */
export const i64Array: (value: BigInt64Array | ArrayLike<bigint>) => I64Array = dataArray(WireType.i64Array)
/** A data f32 value. Elements round to the nearest float32. */
export const f32Array: (value: Float32Array | ArrayLike<number>) => F32Array = dataArray(WireType.f32Array)
/** A data f64 value. */
export const f64Array: (value: Float64Array | ArrayLike<number>) => F64Array = dataArray(WireType.f64Array)
/** A value of a type code this library does not know, with its bytes. */
export const unknown = (code: number, value: Uint8Array): Unknown => ({ type: "unknown", code, value })

const int32 = WireType.i32.domain
const int64 = WireType.i64.domain
const uint64 = WireType.u64.domain

/** Whether `input` is already a `Value` (an object with a known `type` tag). */
export const isValue = (input: unknown): input is Value => {
  if (typeof input !== "object" || input === null || ArrayBuffer.isView(input)) return false
  const type = (input as { readonly type?: unknown }).type
  return typeof type === "string" && (WireType.byName.has(type) || type === "unknown")
}

/**
 * Maps a plain JavaScript value to a `Value` by the documented defaults (module doc), or
 * returns a `string` saying why no wire type holds it exactly. A `Value` passes unchanged.
 */
export const fromInputOrReason = (input: Input): Value | string => {
  switch (typeof input) {
    case "number":
      if (Number.isInteger(input) && !Object.is(input, -0)) {
        if (input >= int32.minimum && input <= int32.maximum) return { type: "i32", value: input }
        if (Number.isSafeInteger(input)) return { type: "i64", value: BigInt(input) }
      }
      return { type: "f64", value: input }
    case "boolean":
      return { type: "i32", value: input ? 1 : 0 }
    case "string":
      return { type: "string", value: input }
    case "bigint":
      if (input >= int64.minimum && input <= int64.maximum) return { type: "i64", value: input }
      if (input > int64.maximum && input <= uint64.maximum) return { type: "u64", value: input }
      return `bigint ${input} is outside the i64 and u64 ranges`
    case "object":
      if (input instanceof Uint8Array) return { type: "raw", value: input }
      if (input instanceof Uint8ClampedArray) {
        return { type: "u8[]", value: new Uint8Array(input.buffer, input.byteOffset, input.length) }
      }
      // every other typed array is the data type of its class (Uint8Array, raw, is above)
      for (const type of WireType.dataTypes) {
        if (input instanceof type.ArrayClass) return WireType.dataValue(type, input)
      }
      if (isValue(input)) return input
      return `${describe(input)} has no NCP wire type`
    default:
      return `${describe(input)} has no NCP wire type`
  }
}

const describe = (input: unknown): string => {
  if (input === null) return "null"
  if (typeof input === "object") return `an object (${Object.prototype.toString.call(input)})`
  return `a ${typeof input}`
}

/**
 * The value as plain JavaScript: numbers for 32-bit and float types, `bigint` for 64-bit
 * integers, `string`, `Uint8Array` for raw and unknown values, typed arrays for data.
 */
export const toNatural = (value: Value): Natural => value.value
