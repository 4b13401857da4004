/**
 * The wire-type table: each of NCP's 18 value types once, with everything the codec, the JSON
 * form and the Schemas know of it: its type code (spec section 3), its name as `Value` tags
 * spell it, its form (a number, a string, raw bytes or a data array), the bytes of a number or of
 * one data element, the typed array class of a data type, the domain of its values or elements
 * (`domain.ts`), and how to read and write one number or element.
 *
 * The decoder and the encoder dispatch with a `switch` and call an entry's `read` or `write`
 * directly, a call V8 inlines; paths that treat every data type alike index {@link byCode} or
 * {@link byName}. All entries are built by one function, so they share one object shape and a
 * lookup stays monomorphic.
 *
 * Strings and raw bytes have no fixed-size element: the byte reader and writer
 * (`reader.ts`, `writer.ts`) handle their UTF-8 and padding.
 */
import * as Domain from "./domain.js"

/**
 * Whether this host stores typed arrays little-endian, as the wire does: then a data array's
 * memory is its wire bytes, and the codec copies or views it whole instead of element by element.
 */
export const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** A number value, or one element of a data value, in JavaScript. */
export type Element = number | bigint

/** A typed array with its element type erased, for the paths that handle every data type alike. */
export interface TypedArrayLike extends ArrayBufferView {
  readonly length: number
  readonly BYTES_PER_ELEMENT: number
  [index: number]: Element
  slice(): TypedArrayLike
}

/** What the codec needs of a typed array class. */
export interface TypedArrayClass<A, E extends Element> {
  // The view constructor only: the entries give their class over any `ArrayBufferLike`
  // (`Uint16Array<ArrayBufferLike>`), as `Value`'s types hold them, which keeps no other.
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): A
  readonly BYTES_PER_ELEMENT: number
  readonly name: string
  from(elements: ArrayLike<NoInfer<E>>): A
}

/** A wire type holding one number: i32, u32, i64, u64, f32, f64. */
export interface NumberType<
  Name extends string,
  E extends Element,
  D extends Domain.NumericDomain,
  Code extends number = number
> {
  readonly form: "number"
  readonly name: Name
  /** The type code: a literal type, so that a `switch` on codes can be checked against it. */
  readonly code: Code
  /** The name the spec gives it. */
  readonly label: string
  /** Bytes of the value. */
  readonly size: number
  readonly ArrayClass: undefined
  /** What the value may hold. */
  readonly domain: D
  /** The value, from its little-endian bytes at `at`. */
  read(view: DataView, at: number): E
  /** Writes the value, little-endian, at `at`. */
  write(view: DataView, at: number, value: E): void
}

/** A data type: an array of numbers, held in a typed array. */
export interface DataType<
  Name extends string,
  A,
  E extends Element,
  D extends Domain.NumericDomain,
  Code extends number = number
> {
  readonly form: "data"
  readonly name: Name
  /** The type code: a literal type, so that a `switch` on codes can be checked against it. */
  readonly code: Code
  /** The name the spec gives it: `data u16`. */
  readonly label: string
  /** Bytes of one element. */
  readonly size: number
  readonly ArrayClass: TypedArrayClass<A, E>
  /** What each element may hold. */
  readonly domain: D
  /** One element, from its little-endian bytes at `at`. */
  read(view: DataView, at: number): E
  /** Writes one element, little-endian, at `at`. */
  write(view: DataView, at: number, element: E): void
}

/** A wire type of variable-length bytes: a string (UTF-8, NUL-terminated) or raw bytes. */
export interface BytesType<Name extends "string" | "raw", Code extends number = number> {
  readonly form: Name
  readonly name: Name
  /** The type code: a literal type, so that a `switch` on codes can be checked against it. */
  readonly code: Code
  readonly label: string
  /** Bytes of one element: a byte. */
  readonly size: 1
  readonly ArrayClass: undefined
  readonly domain: undefined
  readonly read: undefined
  readonly write: undefined
}

// One constructor for every entry, so that all share one object shape (module doc).
const entry = <T>(
  form: "number" | "data" | "string" | "raw",
  name: string,
  code: number,
  label: string,
  size: number,
  ArrayClass: unknown,
  domain: Domain.NumericDomain | undefined,
  read: ((view: DataView, at: number) => Element) | undefined,
  write: ((view: DataView, at: number, value: never) => void) | undefined
): T => {
  const made = { form, name, code, label, size, ArrayClass, domain, read, write }
  // the factories below give each entry its precise type; the fields are the same for all
  return Object.freeze(made) as T
}

const number = <Name extends string, E extends Element, D extends Domain.NumericDomain, Code extends number>(
  name: Name,
  code: Code,
  domain: D,
  read: (view: DataView, at: number) => E,
  write: (view: DataView, at: number, value: E) => void
): NumberType<Name, E, D, Code> => entry("number", name, code, name, domain.bytes, undefined, domain, read, write)

const data = <Name extends string, A, E extends Element, D extends Domain.NumericDomain, Code extends number>(
  name: Name,
  code: Code,
  ArrayClass: TypedArrayClass<A, E>,
  domain: D,
  read: (view: DataView, at: number) => E,
  write: (view: DataView, at: number, element: E) => void
): DataType<Name, A, E, D, Code> =>
  entry("data", name, code, `data ${name.slice(0, -2)}`, ArrayClass.BYTES_PER_ELEMENT, ArrayClass, domain, read, write)

const bytes = <Name extends "string" | "raw", Code extends number>(name: Name, code: Code): BytesType<Name, Code> =>
  entry(name, name, code, name, 1, undefined, undefined, undefined, undefined)

/** i32: a signed 32-bit integer. */
export const i32 = number(
  "i32",
  0x00,
  Domain.int32,
  (view, at) => view.getInt32(at, true),
  (view, at, value) => view.setInt32(at, value, true)
)
/** u32: an unsigned 32-bit integer. */
export const u32 = number(
  "u32",
  0x01,
  Domain.uint32,
  (view, at) => view.getUint32(at, true),
  (view, at, value) => view.setUint32(at, value, true)
)
/** string: UTF-8 text, NUL-terminated on the wire. */
export const string = bytes("string", 0x02)
/** i64: a signed 64-bit integer, as a `bigint`. */
export const i64 = number(
  "i64",
  0x03,
  Domain.int64,
  (view, at) => view.getBigInt64(at, true),
  (view, at, value) => view.setBigInt64(at, value, true)
)
/** u64: an unsigned 64-bit integer, as a `bigint`. */
export const u64 = number(
  "u64",
  0x04,
  Domain.uint64,
  (view, at) => view.getBigUint64(at, true),
  (view, at, value) => view.setBigUint64(at, value, true)
)
/** f32: an IEEE 754 single. */
export const f32 = number(
  "f32",
  0x10,
  Domain.float32,
  (view, at) => view.getFloat32(at, true),
  (view, at, value) => view.setFloat32(at, value, true)
)
/** f64: an IEEE 754 double. */
export const f64 = number(
  "f64",
  0x11,
  Domain.float64,
  (view, at) => view.getFloat64(at, true),
  (view, at, value) => view.setFloat64(at, value, true)
)
/** raw: opaque bytes. */
export const raw = bytes("raw", 0x80)
/** data u8. */
export const u8Array = data(
  "u8[]",
  0x81,
  Uint8Array<ArrayBufferLike>,
  Domain.uint8,
  (view, at) => view.getUint8(at),
  (view, at, element) => view.setUint8(at, element)
)
/** data u16. */
export const u16Array = data(
  "u16[]",
  0x82,
  Uint16Array<ArrayBufferLike>,
  Domain.uint16,
  (view, at) => view.getUint16(at, true),
  (view, at, element) => view.setUint16(at, element, true)
)
/** data u32. */
export const u32Array = data(
  "u32[]",
  0x83,
  Uint32Array<ArrayBufferLike>,
  Domain.uint32,
  (view, at) => view.getUint32(at, true),
  (view, at, element) => view.setUint32(at, element, true)
)
/** data i8. */
export const i8Array = data(
  "i8[]",
  0x84,
  Int8Array<ArrayBufferLike>,
  Domain.int8,
  (view, at) => view.getInt8(at),
  (view, at, element) => view.setInt8(at, element)
)
/** data i16. */
export const i16Array = data(
  "i16[]",
  0x85,
  Int16Array<ArrayBufferLike>,
  Domain.int16,
  (view, at) => view.getInt16(at, true),
  (view, at, element) => view.setInt16(at, element, true)
)
/** data i32. */
export const i32Array = data(
  "i32[]",
  0x86,
  Int32Array<ArrayBufferLike>,
  Domain.int32,
  (view, at) => view.getInt32(at, true),
  (view, at, element) => view.setInt32(at, element, true)
)
/** data u64. */
export const u64Array = data(
  "u64[]",
  0x87,
  BigUint64Array<ArrayBufferLike>,
  Domain.uint64,
  (view, at) => view.getBigUint64(at, true),
  (view, at, element) => view.setBigUint64(at, element, true)
)
/** data i64. */
export const i64Array = data(
  "i64[]",
  0x88,
  BigInt64Array<ArrayBufferLike>,
  Domain.int64,
  (view, at) => view.getBigInt64(at, true),
  (view, at, element) => view.setBigInt64(at, element, true)
)
/** data f32. */
export const f32Array = data(
  "f32[]",
  0x90,
  Float32Array<ArrayBufferLike>,
  Domain.float32,
  (view, at) => view.getFloat32(at, true),
  (view, at, element) => view.setFloat32(at, element, true)
)
/** data f64. */
export const f64Array = data(
  "f64[]",
  0x91,
  Float64Array<ArrayBufferLike>,
  Domain.float64,
  (view, at) => view.getFloat64(at, true),
  (view, at, element) => view.setFloat64(at, element, true)
)

/** Every wire type, in type-code order. */
export const all = [
  i32,
  u32,
  string,
  i64,
  u64,
  f32,
  f64,
  raw,
  u8Array,
  u16Array,
  u32Array,
  i8Array,
  i16Array,
  i32Array,
  u64Array,
  i64Array,
  f32Array,
  f64Array
] as const

/** The name of a wire type, as `Value` tags spell it. */
export type Name = (typeof all)[number]["name"]

/** The name of a data type. */
export type DataName = Extract<(typeof all)[number], { readonly form: "data" }>["name"]

/** A data type with its array and element types erased, for the paths that handle every data type alike. */
export type AnyDataType = DataType<DataName, TypedArrayLike, Element, Domain.NumericDomain>

/** Any wire type, data types erased ({@link AnyDataType}). */
export type AnyWireType =
  | NumberType<Name, Element, Domain.NumericDomain>
  | AnyDataType
  | BytesType<"string">
  | BytesType<"raw">

/** The value `{ type, value }` of each data type: structurally, `Value.DataArray`. */
export type DataValue = {
  readonly [T in (typeof all)[number] as T["name"]]: T extends DataType<infer N, infer A, Element, Domain.NumericDomain>
    ? { readonly type: N; readonly value: A }
    : never
}[DataName]

/**
 * The data value of `type` holding `array`, which must be of `type.ArrayClass`. The table pairs
 * each name with its class; the compiler cannot follow that pairing across a union, hence the
 * cast, checked by the callers' `instanceof` or by their building `array` from the class.
 */
export const dataValue = (type: AnyDataType, array: TypedArrayLike): DataValue =>
  ({ type: type.name, value: array }) as DataValue

/** The wire type of each type code (0-255), `undefined` for a code this library does not know. */
export const byCode: ReadonlyArray<AnyWireType | undefined> = (() => {
  const table = new Array<AnyWireType | undefined>(256).fill(undefined)
  for (const type of all) table[type.code] = type
  return table
})()

/**
 * The bytes of a number type's value, by type code; 0 for any other code. A typed array: the
 * decoder checks it for every param, and one load from it costs less than reading an entry.
 */
export const numberBytes: Uint8Array = Uint8Array.from(byCode, (type) => (type?.form === "number" ? type.size : 0))

/** The wire type of each name. A `Map`, so that no name reaches `Object.prototype`. */
export const byName: ReadonlyMap<string, AnyWireType> = new Map(all.map((type) => [type.name, type]))

/** The data types, in type-code order. */
export const dataTypes: ReadonlyArray<AnyDataType> = byCode.filter(
  (type): type is AnyDataType => type !== undefined && type.form === "data"
)

/** The type code of each name. */
export const codes = Object.fromEntries(all.map((type) => [type.name, type.code])) as { readonly [K in Name]: number }

/** The type codes this library does not know, which decode to `unknown` values. */
export const unknownCodes: ReadonlyArray<number> = byCode.flatMap((type, code) => (type === undefined ? [code] : []))
