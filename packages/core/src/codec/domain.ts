/**
 * What a valid NCP value is, as data: integer ranges and widths, float formats, the identifier
 * alphabet, the string rule, the timestamp and info bounds, and the values at the edges of each
 * domain. The wire-type table (`wireType.ts`) gives each of the 18 types its domain; this module
 * imports nothing, so every other part of the codec may read it.
 *
 * Two generators are built from these domains: the Schemas of `PacketSchema` (from which
 * `effect/Arbitrary` derives) and the fast-check arbitraries of `Arbitrary`. Neither spells a
 * range or an alphabet of its own, so they cannot drift apart on what a valid packet is. The
 * encoder checks values against the same ranges; the tests check both generators against it.
 */

/** A range of integers held exactly in a JavaScript number. */
export interface IntegerDomain {
  readonly kind: "integer"
  /** Bytes one value takes on the wire. */
  readonly bytes: number
  readonly minimum: number
  readonly maximum: number
  /** Values a generator reaches on purpose; the simplest first, since shrinking moves toward it. */
  readonly edges: ReadonlyArray<number>
  readonly description: string
}

/** A range of 64-bit integers, held as `bigint`. */
export interface BigIntDomain {
  readonly kind: "bigint"
  readonly bytes: number
  readonly minimum: bigint
  readonly maximum: bigint
  readonly edges: ReadonlyArray<bigint>
  readonly description: string
}

/** An IEEE 754 format. */
export interface FloatDomain {
  readonly kind: "float"
  readonly bytes: number
  readonly edges: ReadonlyArray<number>
  readonly description: string
}

/** The domain of a number value or of a data element. */
export type NumericDomain = IntegerDomain | BigIntDomain | FloatDomain

// Distinct by `Object.is`, so that 0 and -0 are both kept (a `Set` would merge them).
const distinct = <A>(values: ReadonlyArray<A>): Array<A> =>
  values.filter((value, index) => values.findIndex((other) => Object.is(other, value)) === index)

const integer = (bytes: number, minimum: number, maximum: number, description: string): IntegerDomain => ({
  kind: "integer",
  bytes,
  minimum,
  maximum,
  // -0 is a valid i32 input that the wire returns as 0: an edge of the JavaScript side
  edges: distinct([0, -0, 1, -1, minimum, minimum + 1, maximum - 1, maximum]).filter(
    (edge) => edge >= minimum && edge <= maximum
  ),
  description
})

const bigInteger = (minimum: bigint, maximum: bigint, description: string): BigIntDomain => ({
  kind: "bigint",
  bytes: 8,
  minimum,
  maximum,
  // 2^53 + 1 is the first integer a number cannot hold; 2^63 is where i64 ends and u64 goes on
  edges: distinct([
    0n,
    1n,
    -1n,
    minimum,
    minimum + 1n,
    maximum - 1n,
    maximum,
    2n ** 32n,
    2n ** 53n + 1n,
    2n ** 63n
  ]).filter((edge) => edge >= minimum && edge <= maximum),
  description
})

/** data i8 elements. */
export const int8 = integer(1, -128, 127, "an i8 (an integer from -128 to 127)")
/** data u8 elements and raw bytes. */
export const uint8 = integer(1, 0, 255, "a u8 (an integer from 0 to 255)")
/** data i16 elements. */
export const int16 = integer(2, -32768, 32767, "an i16 (an integer from -32768 to 32767)")
/** data u16 elements. */
export const uint16 = integer(2, 0, 65535, "a u16 (an integer from 0 to 65535)")
/** i32 values and data i32 elements. */
export const int32 = integer(4, -2147483648, 2147483647, "an i32 (an integer from -2147483648 to 2147483647)")
/** u32 values, data u32 elements, ids and timestamp words. */
export const uint32 = integer(4, 0, 4294967295, "a u32 (an integer from 0 to 4294967295)")
/** i64 values and data i64 elements. */
export const int64 = bigInteger(-(2n ** 63n), 2n ** 63n - 1n, "an i64 (a bigint from -2^63 to 2^63-1)")
/** u64 values and data u64 elements. */
export const uint64 = bigInteger(0n, 2n ** 64n - 1n, "a u64 (a bigint from 0 to 2^64-1)")

const FLOAT32_MAX = 3.4028234663852886e38

/**
 * Whether an f32 holds `n` once rounded to the nearest float32: NaN and the infinities do, a
 * finite number beyond the f32 range (about ±3.4e38) does not, as it would round to an infinity.
 * The encoder sends such a number as an infinity; a typed param refuses it.
 */
export const fitsFloat32 = (n: number): boolean => !Number.isFinite(n) || Number.isFinite(Math.fround(n))

/** f32 values and data f32 elements: numbers that are exactly a float32. */
export const float32: FloatDomain = {
  kind: "float",
  bytes: 4,
  edges: [0, -0, Number.NaN, Infinity, -Infinity, 1, -1, 2 ** -149, -(2 ** -149), 2 ** -126, FLOAT32_MAX, -FLOAT32_MAX],
  description: "an f32 (a number)"
}

/** f64 values and data f64 elements. */
export const float64: FloatDomain = {
  kind: "float",
  bytes: 8,
  edges: [
    0,
    -0,
    Number.NaN,
    Infinity,
    -Infinity,
    1,
    -1,
    Number.MIN_VALUE,
    -Number.MIN_VALUE,
    2 ** -1022,
    Number.MAX_VALUE,
    -Number.MAX_VALUE,
    0.1,
    2 ** 53
  ],
  description: "an f64 (a number)"
}

/** The wire keeps lengths in 4-byte words. */
export const WORD_BYTES = 4

/**
 * How many elements of `bytes` bytes fill whole words: a data value whose length is not a
 * multiple of it comes back padded with zero elements.
 */
export const wordMultiple = (bytes: number): number => (bytes >= WORD_BYTES ? 1 : WORD_BYTES / bytes)

/** Float32 bits of an index in the monotone order of float32 values: 0 is +0, -1 is -0. */
const float32Scratch = new Float32Array(1)
const float32Bits = new Uint32Array(float32Scratch.buffer)

/** Indexes of -Infinity and +Infinity in that order; one step beyond either is NaN. */
export const FLOAT32_INFINITY_INDEX = 0x7f800000

/**
 * The float32 at `index` in the monotone order of float32 values: 0 is +0, -1 is -0, ±0x7f800000
 * (-1 for the negative side) the infinities, beyond them NaN. Uniform indexes spread evenly over
 * every binade, where uniform doubles rounded to float32 would be mostly 0 or Infinity.
 */
export const float32AtIndex = (index: number): number => {
  float32Bits[0] = index >= 0 ? index : (0x80000000 | (-1 - index)) >>> 0
  return float32Scratch[0] ?? 0
}

/** The index of float32 `x` (not NaN) in that order: the inverse of {@link float32AtIndex}. */
export const float32Index = (x: number): number => {
  float32Scratch[0] = x
  const bits = float32Bits[0] ?? 0
  return bits >= 0x80000000 ? -1 - (bits - 0x80000000) : bits
}

/**
 * The first index whose float32 is at least `minimum` (above it when `exclusive`). -0 and 0 are
 * two indexes (-1 and 0) of one number: a bound at 0 takes both or neither.
 */
export const float32IndexFrom = (minimum: number, exclusive: boolean): number => {
  const nearest = Math.fround(minimum)
  const below = nearest < minimum || (exclusive && nearest === minimum)
  if (nearest === 0) return below ? 1 : -1
  return below ? float32Index(nearest) + 1 : float32Index(nearest)
}

/** The last index whose float32 is at most `maximum` (below it when `exclusive`). */
export const float32IndexTo = (maximum: number, exclusive: boolean): number => {
  const nearest = Math.fround(maximum)
  const above = nearest > maximum || (exclusive && nearest === maximum)
  if (nearest === 0) return above ? -2 : 0
  return above ? float32Index(nearest) - 1 : float32Index(nearest)
}

/** Identifier characters. */
export const identifierAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
/** The longest identifier, in characters (one 4-byte word on the wire). */
export const identifierMaxLength = 4
/** Names real nodes use; drawing them often makes repeated names, and so name lookups, likely. */
export const commonNames: ReadonlyArray<string> = [
  "DSPC",
  "SWEP",
  "LINK",
  "FSTA",
  "FSTP",
  "PDAT",
  "GAIN",
  "NAME",
  "ACKN",
  "ERRC"
]

// Ids and timestamp words are not values: -0 there would only make a packet differ from its
// JSON form (whose times have no -0), so they go without that edge.
const withoutNegativeZero = (domain: IntegerDomain): IntegerDomain => ({
  ...domain,
  edges: domain.edges.filter((edge) => !Object.is(edge, -0))
})

/** Packet and field ids, timestamp seconds. */
export const word = withoutNegativeZero(uint32)

/** The nanoseconds of a timestamp: below 10^9, though the wire word can hold more. */
export const nanos = withoutNegativeZero(integer(4, 0, 999_999_999, "nanoseconds (an integer from 0 to 999999999)"))

/** Bytes of a packet's info. */
export const infoBytes = 4

const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const loneSurrogates = new RegExp(loneSurrogate.source, "g")

/** Why `text` cannot be an NCP string, or `undefined` when it can. */
export const wireStringProblem = (text: string): string | undefined =>
  text.includes("\u0000")
    ? "an NCP string cannot hold a NUL character, which would end it on the wire"
    : loneSurrogate.test(text)
      ? "an NCP string cannot hold a lone surrogate, which UTF-8 cannot hold"
      : undefined

/** `text` made a valid NCP string: NULs dropped, lone surrogates replaced with U+FFFD. */
export const toWireString = (text: string): string => text.split("\u0000").join("").replace(loneSurrogates, "\uFFFD")

/**
 * A pattern whose matches are valid NCP strings. Generated from (with the `u` flag) it gives
 * any code point but NUL, whole surrogate pairs included, so every UTF-8 length occurs.
 */
export const wireStringPattern = { source: "^[^\\u0000]*$", flags: "u" } as const

/** What {@link atOffset} needs of a typed array. */
interface OffsetArray extends ArrayBufferView {
  readonly length: number
  readonly BYTES_PER_ELEMENT: number
}

/**
 * `array`'s elements in a new array of the same type that starts `offset` elements into its
 * buffer, as a view on a larger message would. The codec must not assume offset 0.
 */
export const atOffset = <A extends OffsetArray>(array: A, offset: number): A => {
  if (offset === 0) return array
  const Class = array.constructor as new (buffer: ArrayBuffer, byteOffset: number, length: number) => A
  const buffer = new ArrayBuffer((offset + array.length) * array.BYTES_PER_ELEMENT)
  const out = new Class(buffer, offset * array.BYTES_PER_ELEMENT, array.length)
  new Uint8Array(buffer, out.byteOffset, out.byteLength).set(
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength)
  )
  return out
}
