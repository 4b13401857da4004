/**
 * fast-check arbitraries of NCP identifiers, values, params, fields, timestamps and packets,
 * for property-testing code built on the codec (your own codecs, routers, proxies).
 *
 * Imported from its own subpath, `@effect-ncp/core/Arbitrary`, so that only code that uses it
 * needs `fast-check` (an optional peer dependency).
 *
 * **Equal after a round trip.** The wire keeps no length finer than a 4-byte word and stores
 * some types narrower than JavaScript does, so `decode(encode(p))` is `p` only up to:
 * - raw, unknown, data u8 and data i8 values come back zero-padded to a multiple of 4 bytes,
 *   data u16 and data i16 values to an even number of elements (`raw "foo"` returns as
 *   `66 6f 6f 00`);
 * - an f32 value comes back rounded to the nearest float32 (`Math.fround`);
 * - an i32 or u32 of `-0` comes back as `0`.
 *
 * {@link normalize} gives exactly what a packet decodes to after a round trip, so any packet
 * the encoder accepts satisfies `decode(encode(p)) == normalize(p)`. Strings cannot contain
 * NUL or lone surrogates and integers must be in range: the encoder refuses those, they do
 * not round-trip at all. NaN comes back as NaN (compare with `Object.is`, as Vitest's
 * `toEqual` does).
 *
 * By default every arbitrary here generates values whose round trip is exact (byte lengths
 * multiple of 4, f32 values already float32), so `decode(encode(p))` equals `p` itself. Pass
 * `{ exact: false }` to also get values the wire pads or rounds, and compare with
 * {@link normalize}.
 *
 * @example
 * ```ts
 * import { decodePacket, encodePacket } from "@effect-ncp/core"
 * import * as NcpArbitrary from "@effect-ncp/core/Arbitrary"
 * import * as Result from "effect/Result"
 * import fc from "fast-check"
 *
 * fc.assert(
 *   fc.property(NcpArbitrary.packet({ exact: false }), (packet) => {
 *     const bytes = Result.getOrThrow(encodePacket(packet))
 *     const decoded = Result.getOrThrow(decodePacket(bytes)).packet
 *     expect(decoded).toEqual(NcpArbitrary.normalize(packet))
 *   })
 * )
 * ```
 *
 * @since 0.1.0
 */
import * as fc from "fast-check"
import type * as Field from "./Field.js"
import type * as Packet from "./Packet.js"
import type * as Timestamp from "./Timestamp.js"
import * as Value from "./Value.js"

/** Options of the value arbitraries. */
export interface ValueOptions {
  /** Most elements of a data value, bytes of a raw value, characters of a string. Default 16. */
  readonly maxArrayLength?: number | undefined
  /**
   * Only values whose round trip is exact (default `true`). With `false`, also raw and data
   * values the wire pads and f32 values it rounds: compare those with {@link normalize}.
   */
  readonly exact?: boolean | undefined
}

/** Options of {@link field} and {@link packet}. */
export interface PacketOptions extends ValueOptions {
  /** Most fields in a packet. Default 4. */
  readonly maxFields?: number | undefined
  /** Most params in a field. Default 6. */
  readonly maxParams?: number | undefined
  /** Include values of unknown type codes (which decode with an `UnknownType` warning). Default `false`. */
  readonly unknownTypes?: boolean | undefined
}

const DEFAULT_ARRAY_LENGTH = 16
const maxLength = (options: ValueOptions | undefined): number => options?.maxArrayLength ?? DEFAULT_ARRAY_LENGTH
const isExact = (options: ValueOptions | undefined): boolean => options?.exact !== false

/** Drops trailing elements so that the length is a multiple of `multiple`. */
const trimmed =
  (multiple: number) =>
  <A extends { readonly length: number; slice(start: number, end: number): A }>(array: A): A =>
    array.length % multiple === 0 ? array : array.slice(0, array.length - (array.length % multiple))

const identifierChars = [..."ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"]
// Names real nodes use; drawing them often makes repeated param names likely.
const commonNames = ["DSPC", "SWEP", "LINK", "FSTA", "FSTP", "PDAT", "GAIN", "NAME", "ACKN", "ERRC"]

/** An identifier: 1 to 4 characters of A-Z and 0-9, often one of a few common names. */
export const identifier = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(...commonNames),
    fc.string({ unit: fc.constantFrom(...identifierChars), minLength: 1, maxLength: 4 })
  )

/** An i32 value. */
export const i32 = (): fc.Arbitrary<Value.I32> => fc.integer().map(Value.i32)

/** A u32 value. */
export const u32 = (): fc.Arbitrary<Value.U32> => fc.nat({ max: 0xffffffff }).map(Value.u32)

/** An i64 value. */
export const i64 = (): fc.Arbitrary<Value.I64> => fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(Value.i64)

/** A u64 value. */
export const u64 = (): fc.Arbitrary<Value.U64> => fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(Value.u64)

/** An f32 value: a float32 (NaN, infinities and -0 included), or with `exact: false` any double. */
export const f32 = (options?: ValueOptions): fc.Arbitrary<Value.F32> =>
  (isExact(options) ? fc.float() : fc.oneof(fc.float(), fc.double())).map(Value.f32)

/** An f64 value (NaN, infinities and -0 included). */
export const f64 = (): fc.Arbitrary<Value.F64> => fc.double().map(Value.f64)

/** A string value: any Unicode text without NUL. */
export const string = (options?: ValueOptions): fc.Arbitrary<Value.Str> =>
  fc.string({ unit: "binary", maxLength: maxLength(options) }).map((s) => Value.string(s.split("\u0000").join("")))

const bytes = (options: ValueOptions | undefined): fc.Arbitrary<Uint8Array> => {
  const arbitrary = fc.uint8Array({ maxLength: maxLength(options) })
  return isExact(options) ? arbitrary.map(trimmed(4)) : arbitrary
}

/** A raw value; with `exact: true` (the default) its length is a multiple of 4. */
export const raw = (options?: ValueOptions): fc.Arbitrary<Value.Raw> => bytes(options).map(Value.raw)

/** A data u8 value; with `exact: true` (the default) its length is a multiple of 4. */
export const u8Array = (options?: ValueOptions): fc.Arbitrary<Value.U8Array> => bytes(options).map(Value.u8Array)

/** A data u16 value; with `exact: true` (the default) its length is even. */
export const u16Array = (options?: ValueOptions): fc.Arbitrary<Value.U16Array> => {
  const arbitrary = fc.uint16Array({ maxLength: maxLength(options) })
  return (isExact(options) ? arbitrary.map(trimmed(2)) : arbitrary).map(Value.u16Array)
}

/** A data u32 value. */
export const u32Array = (options?: ValueOptions): fc.Arbitrary<Value.U32Array> =>
  fc.uint32Array({ maxLength: maxLength(options) }).map(Value.u32Array)

/** A data i8 value; with `exact: true` (the default) its length is a multiple of 4. */
export const i8Array = (options?: ValueOptions): fc.Arbitrary<Value.I8Array> => {
  const arbitrary = fc.int8Array({ maxLength: maxLength(options) })
  return (isExact(options) ? arbitrary.map(trimmed(4)) : arbitrary).map(Value.i8Array)
}

/** A data i16 value; with `exact: true` (the default) its length is even. */
export const i16Array = (options?: ValueOptions): fc.Arbitrary<Value.I16Array> => {
  const arbitrary = fc.int16Array({ maxLength: maxLength(options) })
  return (isExact(options) ? arbitrary.map(trimmed(2)) : arbitrary).map(Value.i16Array)
}

/** A data i32 value. */
export const i32Array = (options?: ValueOptions): fc.Arbitrary<Value.I32Array> =>
  fc.int32Array({ maxLength: maxLength(options) }).map(Value.i32Array)

/** A data u64 value. */
export const u64Array = (options?: ValueOptions): fc.Arbitrary<Value.U64Array> =>
  fc.bigUint64Array({ maxLength: maxLength(options) }).map(Value.u64Array)

/** A data i64 value. */
export const i64Array = (options?: ValueOptions): fc.Arbitrary<Value.I64Array> =>
  fc.bigInt64Array({ maxLength: maxLength(options) }).map(Value.i64Array)

/** A data f32 value (NaN, infinities and -0 included). */
export const f32Array = (options?: ValueOptions): fc.Arbitrary<Value.F32Array> =>
  fc.float32Array({ maxLength: maxLength(options) }).map(Value.f32Array)

/** A data f64 value (NaN, infinities and -0 included). */
export const f64Array = (options?: ValueOptions): fc.Arbitrary<Value.F64Array> =>
  fc.float64Array({ maxLength: maxLength(options) }).map(Value.f64Array)

/** A value of any known wire type. */
export const value = (options?: ValueOptions): fc.Arbitrary<Value.Value> =>
  fc.oneof(
    i32(),
    u32(),
    i64(),
    u64(),
    f32(options),
    f64(),
    string(options),
    raw(options),
    u8Array(options),
    u16Array(options),
    u32Array(options),
    i8Array(options),
    i16Array(options),
    i32Array(options),
    u64Array(options),
    i64Array(options),
    f32Array(options),
    f64Array(options)
  )

const unknownCodes = Array.from({ length: 256 }, (_, code) => code).filter(
  (code) => Value.typeOfCode(code) === undefined
)

/**
 * A value of a type code this library does not know, with its bytes (a multiple of 4 long
 * with `exact: true`, the default). It decodes with an `UnknownType` warning.
 */
export const unknownValue = (options?: ValueOptions): fc.Arbitrary<Value.Unknown> =>
  fc.tuple(fc.constantFrom(...unknownCodes), bytes(options)).map(([code, value]) => Value.unknown(code, value))

/** A param: an identifier and a value (of an unknown type too with `unknownTypes: true`). */
export const param = (options?: PacketOptions): fc.Arbitrary<Field.Param> =>
  fc.record({
    name: identifier(),
    value: options?.unknownTypes === true ? fc.oneof(value(options), unknownValue(options)) : value(options)
  })

/** A field of up to `maxParams` params (default 6). */
export const field = (options?: PacketOptions): fc.Arbitrary<Field.Field> =>
  fc.record({
    name: identifier(),
    id: fc.nat({ max: 0xffffffff }),
    params: fc.array(param(options), { maxLength: options?.maxParams ?? 6 })
  })

/** A timestamp: any u32 seconds, nanoseconds below 10^9. */
export const timestamp = (): fc.Arbitrary<Timestamp.Timestamp> =>
  fc.record({ seconds: fc.nat({ max: 0xffffffff }), nanos: fc.nat({ max: 999_999_999 }) })

/** A packet of up to `maxFields` fields (default 4) of up to `maxParams` params (default 6). */
export const packet = (options?: PacketOptions): fc.Arbitrary<Packet.Packet> =>
  fc.record({
    type: identifier(),
    id: fc.nat({ max: 0xffffffff }),
    timestamp: timestamp(),
    info: fc.uint8Array({ minLength: 4, maxLength: 4 }),
    fields: fc.array(field(options), { maxLength: options?.maxFields ?? 4 })
  })

const padded = (bytes: Uint8Array, multiple: number): Uint8Array => {
  const rest = bytes.length % multiple
  if (rest === 0) return bytes
  const out = new Uint8Array(bytes.length + multiple - rest)
  out.set(bytes)
  return out
}

/**
 * The value as it comes back from the wire: padded to whole words, f32 rounded to float32,
 * `-0` integers as `0` (module doc). A value that needs no change is returned as is.
 *
 * @example
 * ```ts
 * import * as NcpArbitrary from "@effect-ncp/core/Arbitrary"
 * import { Value } from "@effect-ncp/core"
 *
 * NcpArbitrary.normalizeValue(Value.raw(new TextEncoder().encode("foo"))) // raw 66 6f 6f 00
 * NcpArbitrary.normalizeValue(Value.f32(0.1))                               // f32 0.10000000149011612
 * ```
 */
export const normalizeValue = (value: Value.Value): Value.Value => {
  switch (value.type) {
    case "i32":
    case "u32":
      return Object.is(value.value, -0) ? { type: value.type, value: 0 } : value
    case "f32": {
      const rounded = Math.fround(value.value)
      return Object.is(rounded, value.value) ? value : Value.f32(rounded)
    }
    case "raw":
    case "u8[]":
    case "unknown": {
      const out = padded(value.value, 4)
      return out === value.value ? value : { ...value, value: out }
    }
    case "i8[]": {
      const out = padded(new Uint8Array(value.value.buffer, value.value.byteOffset, value.value.length), 4)
      return out.length === value.value.length ? value : Value.i8Array(new Int8Array(out.buffer))
    }
    case "u16[]":
      return value.value.length % 2 === 0 ? value : Value.u16Array([...value.value, 0])
    case "i16[]":
      return value.value.length % 2 === 0 ? value : Value.i16Array([...value.value, 0])
    default:
      return value
  }
}

/**
 * What a packet decodes to after `encodePacket` then `decodePacket`: every value passed
 * through {@link normalizeValue}. For any packet the encoder accepts,
 * `decodePacket(encodePacket(p)).packet` equals `normalize(p)`.
 *
 * @example
 * ```ts
 * import * as NcpArbitrary from "@effect-ncp/core/Arbitrary"
 *
 * expect(decoded).toEqual(NcpArbitrary.normalize(sent))
 * ```
 */
export const normalize = (packet: Packet.Packet): Packet.Packet => ({
  ...packet,
  fields: packet.fields.map((field) => ({
    ...field,
    params: field.params.map((param) => ({ name: param.name, value: normalizeValue(param.value) }))
  }))
})
