/**
 * fast-check arbitraries of NCP identifiers, values, params, fields, timestamps and packets,
 * for property-testing code built on the codec (your own codecs, routers, proxies) with
 * fast-check.
 *
 * With `@effect/vitest`, you need none of this: the Schemas of `PacketSchema` derive their own
 * generators through `effect/Arbitrary`, so `it.prop([PacketSchema.Packet], ([p]) => ...)`
 * works as is. Both are built from one table of what each wire type holds (ranges, element
 * types, the identifier alphabet, the string rule, the values at the edges), so they agree on
 * what a valid packet is.
 *
 * Imported from its own subpath, `@effect-ncp/core/Arbitrary`, so that only code that uses it
 * needs `fast-check` (an optional peer dependency).
 *
 * **Equal after a round trip.** The wire pads lengths to 4-byte words and rounds f32 values,
 * so `decode(encode(p))` is `normalize(p)` ({@link normalize}, the same function as
 * `RoundTrip.normalize`), which is `p` itself only when every value is exact. By default every
 * arbitrary here generates exact values (already padded, f32 already float32, no `-0`
 * integers), so `decode(encode(p))` equals `p`. Pass `{ exact: false }` to also get values the
 * wire pads or rounds, and compare with {@link normalize}. NaN comes back as NaN (compare with
 * `Object.is`, as Vitest's `toEqual` does). Strings never hold NUL or lone surrogates and
 * integers stay in range: the encoder refuses those, they do not round-trip at all.
 *
 * Besides uniform draws, every arbitrary reaches the edges of its domain on purpose (a range's
 * ends, 0, NaN, the infinities, -0, empty and one-element arrays), and typed arrays start 0 to 3
 * elements into their buffer, as views on a received message do.
 *
 * @example
 * ```ts
 * import { Decoder, Encoder } from "@effect-ncp/core"
 * import * as NcpArbitrary from "@effect-ncp/core/Arbitrary"
 * import * as Result from "effect/Result"
 * import fc from "fast-check"
 *
 * fc.assert(
 *   fc.property(NcpArbitrary.packet({ exact: false }), (packet) => {
 *     const bytes = Result.getOrThrow(Encoder.encodePacket(packet))
 *     const decoded = Result.getOrThrow(Decoder.decodePacket(bytes)).packet
 *     expect(decoded).toEqual(NcpArbitrary.normalize(packet))
 *   })
 * )
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as fc from "fast-check"
import * as Domain from "./codec/domain.js"
import * as WireType from "./codec/wireType.js"
import type * as Field from "./Field.js"
import type * as Packet from "./Packet.js"
import * as RoundTrip from "./RoundTrip.js"
import type * as Timestamp from "./Timestamp.js"
import * as Value from "./Value.js"

/** Options of the value arbitraries. */
export interface ValueOptions {
  /** Most elements of a data value, bytes of a raw value, characters of a string. Default 16. */
  readonly maxArrayLength?: number | undefined
  /**
   * Only values whose round trip is exact (default `true`). With `false`, also raw and data
   * values the wire pads, f32 values it rounds and `-0` integers: compare those with
   * {@link normalize}.
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

// One draw in four is an edge of the domain: the values where codecs break, which uniform
// draws would almost never hit.
const withEdges = <A>(base: fc.Arbitrary<A>, edges: ReadonlyArray<A>): fc.Arbitrary<A> =>
  edges.length === 0
    ? base
    : fc.oneof({ arbitrary: fc.constantFrom(...edges), weight: 1 }, { arbitrary: base, weight: 3 })

const integerOf = (domain: Domain.IntegerDomain): fc.Arbitrary<number> =>
  withEdges(fc.integer({ min: domain.minimum, max: domain.maximum }), domain.edges)

const bigIntOf = (domain: Domain.BigIntDomain): fc.Arbitrary<bigint> =>
  withEdges(fc.bigInt({ min: domain.minimum, max: domain.maximum }), domain.edges)

// A normalized value keeps its wire type; the guard tells the compiler so.
const hasType = <V extends Value.Value>(value: Value.Value, type: V["type"]): value is V => value.type === type

// Exact values are the fixed points of `RoundTrip.normalizeValue`: padded, rounded, without -0.
const exactly =
  (options: ValueOptions | undefined) =>
  <V extends Value.Value>(arbitrary: fc.Arbitrary<V>): fc.Arbitrary<V> =>
    isExact(options)
      ? arbitrary.map((value) => {
          const normalized = RoundTrip.normalizeValue(value)
          return hasType<V>(normalized, value.type) ? normalized : value
        })
      : arbitrary

// Typed arrays start 0 to 3 elements into their buffer, as views on a received message do.
const atSomeOffset = <A extends Value.TypedArray>(arbitrary: fc.Arbitrary<A>): fc.Arbitrary<A> =>
  fc.tuple(fc.nat({ max: 3 }), arbitrary).map(([offset, array]) => Domain.atOffset(array, offset))

/** An identifier: 1 to 4 characters of A-Z and 0-9, often one of a few common names. */
export const identifier = (): fc.Arbitrary<string> =>
  fc.oneof(
    fc.constantFrom(...Domain.commonNames),
    fc.string({
      unit: fc.constantFrom(...Domain.identifierAlphabet),
      minLength: 1,
      maxLength: Domain.identifierMaxLength
    })
  )

/** An i32 value (`-0` too with `exact: false`). */
export const i32 = (options?: ValueOptions): fc.Arbitrary<Value.I32> =>
  exactly(options)(integerOf(WireType.i32.domain).map(Value.i32))

/** A u32 value (`-0` too with `exact: false`). */
export const u32 = (options?: ValueOptions): fc.Arbitrary<Value.U32> =>
  exactly(options)(integerOf(WireType.u32.domain).map(Value.u32))

/** An i64 value. */
export const i64 = (): fc.Arbitrary<Value.I64> => bigIntOf(WireType.i64.domain).map(Value.i64)

/** A u64 value. */
export const u64 = (): fc.Arbitrary<Value.U64> => bigIntOf(WireType.u64.domain).map(Value.u64)

/** An f32 value: a float32 (NaN, infinities and -0 included), or with `exact: false` any double. */
export const f32 = (options?: ValueOptions): fc.Arbitrary<Value.F32> => {
  const float32 = withEdges(fc.float(), WireType.f32.domain.edges)
  return (isExact(options) ? float32 : fc.oneof(float32, fc.double())).map(Value.f32)
}

/** An f64 value (NaN, infinities and -0 included). */
export const f64 = (): fc.Arbitrary<Value.F64> => withEdges(fc.double(), WireType.f64.domain.edges).map(Value.f64)

/** A string value: any Unicode text without NUL or lone surrogates (the empty string included). */
export const string = (options?: ValueOptions): fc.Arbitrary<Value.Str> =>
  fc.string({ unit: "binary", maxLength: maxLength(options) }).map((text) => Value.string(Domain.toWireString(text)))

const bytes = (options: ValueOptions | undefined): fc.Arbitrary<Uint8Array> =>
  atSomeOffset(fc.uint8Array({ maxLength: maxLength(options) }))

/** A raw value; with `exact: true` (the default) its length is a multiple of 4. */
export const raw = (options?: ValueOptions): fc.Arbitrary<Value.Raw> => exactly(options)(bytes(options).map(Value.raw))

/** A data u8 value; with `exact: true` (the default) its length is a multiple of 4. */
export const u8Array = (options?: ValueOptions): fc.Arbitrary<Value.U8Array> =>
  exactly(options)(bytes(options).map(Value.u8Array))

const integers = (domain: Domain.IntegerDomain, options: ValueOptions | undefined) => ({
  min: domain.minimum,
  max: domain.maximum,
  maxLength: maxLength(options)
})

/** A data u16 value; with `exact: true` (the default) its length is even. */
export const u16Array = (options?: ValueOptions): fc.Arbitrary<Value.U16Array> =>
  exactly(options)(atSomeOffset(fc.uint16Array(integers(WireType.u16Array.domain, options))).map(Value.u16Array))

/** A data u32 value. */
export const u32Array = (options?: ValueOptions): fc.Arbitrary<Value.U32Array> =>
  atSomeOffset(fc.uint32Array(integers(WireType.u32Array.domain, options))).map(Value.u32Array)

/** A data i8 value; with `exact: true` (the default) its length is a multiple of 4. */
export const i8Array = (options?: ValueOptions): fc.Arbitrary<Value.I8Array> =>
  exactly(options)(atSomeOffset(fc.int8Array(integers(WireType.i8Array.domain, options))).map(Value.i8Array))

/** A data i16 value; with `exact: true` (the default) its length is even. */
export const i16Array = (options?: ValueOptions): fc.Arbitrary<Value.I16Array> =>
  exactly(options)(atSomeOffset(fc.int16Array(integers(WireType.i16Array.domain, options))).map(Value.i16Array))

/** A data i32 value. */
export const i32Array = (options?: ValueOptions): fc.Arbitrary<Value.I32Array> =>
  atSomeOffset(fc.int32Array(integers(WireType.i32Array.domain, options))).map(Value.i32Array)

const bigIntegers = (domain: Domain.BigIntDomain, options: ValueOptions | undefined) => ({
  min: domain.minimum,
  max: domain.maximum,
  maxLength: maxLength(options)
})

/** A data u64 value. */
export const u64Array = (options?: ValueOptions): fc.Arbitrary<Value.U64Array> =>
  atSomeOffset(fc.bigUint64Array(bigIntegers(WireType.u64Array.domain, options))).map(Value.u64Array)

/** A data i64 value. */
export const i64Array = (options?: ValueOptions): fc.Arbitrary<Value.I64Array> =>
  atSomeOffset(fc.bigInt64Array(bigIntegers(WireType.i64Array.domain, options))).map(Value.i64Array)

/** A data f32 value (NaN, infinities and -0 included). */
export const f32Array = (options?: ValueOptions): fc.Arbitrary<Value.F32Array> =>
  atSomeOffset(fc.float32Array({ maxLength: maxLength(options) })).map(Value.f32Array)

/** A data f64 value (NaN, infinities and -0 included). */
export const f64Array = (options?: ValueOptions): fc.Arbitrary<Value.F64Array> =>
  atSomeOffset(fc.float64Array({ maxLength: maxLength(options) })).map(Value.f64Array)

/** A value of any known wire type. */
export const value = (options?: ValueOptions): fc.Arbitrary<Value.Value> =>
  fc.oneof(
    i32(options),
    u32(options),
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

/**
 * A value of a type code this library does not know, with its bytes (a multiple of 4 long
 * with `exact: true`, the default). It decodes with an `UnknownType` warning.
 */
export const unknownValue = (options?: ValueOptions): fc.Arbitrary<Value.Unknown> =>
  exactly(options)(
    fc
      .tuple(fc.constantFrom(...WireType.unknownCodes), bytes(options))
      .map(([code, value]) => Value.unknown(code, value))
  )

/** A param: an identifier and a value (of an unknown type too with `unknownTypes: true`). */
export const param = (options?: PacketOptions): fc.Arbitrary<Field.Param> =>
  fc.record({
    name: identifier(),
    value: options?.unknownTypes === true ? fc.oneof(value(options), unknownValue(options)) : value(options)
  })

const word = integerOf(Domain.word)

/** A field of up to `maxParams` params (default 6). */
export const field = (options?: PacketOptions): fc.Arbitrary<Field.Field> =>
  fc.record({
    name: identifier(),
    id: word,
    params: fc.array(param(options), { maxLength: options?.maxParams ?? 6 })
  })

/** A timestamp: any u32 seconds, nanoseconds below 10^9. */
export const timestamp = (): fc.Arbitrary<Timestamp.Timestamp> =>
  fc.record({ seconds: word, nanos: integerOf(Domain.nanos) })

/** A packet of up to `maxFields` fields (default 4) of up to `maxParams` params (default 6). */
export const packet = (options?: PacketOptions): fc.Arbitrary<Packet.Packet> =>
  fc.record({
    type: identifier(),
    id: word,
    timestamp: timestamp(),
    info: atSomeOffset(fc.uint8Array({ minLength: Domain.infoBytes, maxLength: Domain.infoBytes })),
    fields: fc.array(field(options), { maxLength: options?.maxFields ?? 4 })
  })

/**
 * The value as it comes back from the wire: padded to whole words, f32 rounded to float32,
 * `-0` integers as `0`. The same function as `RoundTrip.normalizeValue`.
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
export const normalizeValue = RoundTrip.normalizeValue

/**
 * What a packet decodes to after `encodePacket` then `decodePacket`. The same function as
 * `RoundTrip.normalize`: for any packet the encoder accepts,
 * `decodePacket(encodePacket(p)).packet` equals `normalize(p)`.
 *
 * @example
 * ```ts
 * import * as NcpArbitrary from "@effect-ncp/core/Arbitrary"
 *
 * expect(decoded).toEqual(NcpArbitrary.normalize(sent))
 * ```
 */
export const normalize = RoundTrip.normalize
