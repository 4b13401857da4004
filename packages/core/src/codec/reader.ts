/**
 * The decoder's byte reader: what a packet's bytes say, one piece at a time (the size its
 * header declares, a string, raw bytes, a data array as a view or a copy), and the shared empty
 * values. It knows nothing of fields, params, limits or warnings: those are the decoder's
 * (`Decoder.ts`), as pg-protocol's parser sits on its buffer reader.
 *
 * Values are built on the input's `ArrayBuffer` with the plain constructors, never with the
 * input's own `subarray` or `slice`: on a Node `Buffer` those return a `Buffer`, and its `slice`
 * is a view, not a copy. So every value handed out is a plain `Uint8Array` or typed array.
 */
import { FOOTER_BYTES, FOOTER_MAGIC, HEADER_BYTES, HEADER_MAGIC } from "../Packet.js"
import type * as Value from "../Value.js"
import * as WireType from "./wireType.js"

/** A 32-bit word as its 4 bytes in wire order, in hex: `dd cc bb aa`. */
export const hex32 = (word: number): string =>
  [0, 8, 16, 24].map((shift) => ((word >>> shift) & 0xff).toString(16).padStart(2, "0")).join(" ")

/** Bytes of a packet's start that say how long it is: magic, type and size words. */
export const SIZE_PREFIX_BYTES = 12

/** The smallest packet: a header and a footer. */
export const MIN_PACKET_BYTES = HEADER_BYTES + FOOTER_BYTES

/**
 * The size in bytes the packet starting at `view` declares, or -1 when its header magic is not a
 * packet's. A size below {@link MIN_PACKET_BYTES} is no packet either; {@link headerFault} then
 * says why. A number either way, so that the decoder's call of it, once per packet, stays cheap.
 */
export const declaredSize = (view: DataView): number =>
  view.getUint32(0, true) === HEADER_MAGIC ? view.getUint32(8, true) * 4 : -1

/** A check of a packet's first 12 bytes that failed, as a `DecodeError` states it (offset from the packet's start). */
export interface HeaderFault {
  readonly reason: "HeaderMagic" | "PacketTooSmall"
  readonly offset: number
  readonly detail: string
}

/** Why the packet starting at `view` is none, when its {@link declaredSize} is below {@link MIN_PACKET_BYTES}. */
export const headerFault = (view: DataView): HeaderFault => {
  const magic = view.getUint32(0, true)
  if (magic !== HEADER_MAGIC) {
    return { reason: "HeaderMagic", offset: 0, detail: `bad header magic ${hex32(magic)}, expected dd cc bb aa` }
  }
  return {
    reason: "PacketTooSmall",
    offset: 8,
    detail: `declared packet size ${view.getUint32(8, true) * 4} bytes is below the minimum of ${MIN_PACKET_BYTES}`
  }
}

/**
 * Whether the 8 bytes at `at` are the footer `00 00 00 00 AA BB CC DD` some old nodes embed
 * inside a field. No valid param or field starts this way: its name would be empty.
 */
export const isLegacyFooter = (view: DataView, at: number): boolean =>
  view.getUint32(at, true) === 0 && view.getUint32(at + 4, true) === FOOTER_MAGIC

/** What {@link readString} gives for bytes that are not UTF-8; no wire string can be it (it holds a NUL). */
export const INVALID_STRING = "\u0000invalid"

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

/** The bytes from `start` before the first NUL (or `end`) as UTF-8, or {@link INVALID_STRING}. */
export const readString = (
  bytes: Uint8Array,
  buffer: ArrayBufferLike,
  byteOffset: number,
  start: number,
  end: number
): string => {
  let stop = start
  let ascii = true
  while (stop < end) {
    const byte = bytes[stop] as number
    if (byte === 0) break
    if (byte >= 0x80) ascii = false
    stop++
  }
  if (ascii && stop - start <= 64) {
    // Short ASCII strings dominate real traffic; building them directly skips TextDecoder's
    // per-call overhead.
    let s = ""
    for (let i = start; i < stop; i++) s += String.fromCharCode(bytes[i] as number)
    return s
  }
  try {
    return utf8.decode(new Uint8Array(buffer, byteOffset + start, stop - start))
  } catch {
    return INVALID_STRING
  }
}

/**
 * `length` bytes at `absolute` in `buffer` (the input's, offsets counted from its start): a
 * plain `Uint8Array` view, or with `copy` a copy in fresh memory.
 */
export const readBytes = (buffer: ArrayBufferLike, absolute: number, length: number, copy: boolean): Uint8Array => {
  const view = new Uint8Array(buffer, absolute, length)
  // `slice` of a plain Uint8Array is a copy (a Buffer's would be a view: never called on the input)
  return copy ? view.slice() : view
}

// Below this many bytes a misaligned array is read element by element: cheaper than making
// the fresh array's ArrayBuffer to copy the bytes into.
const SMALL_ARRAY_BYTES = 128

/**
 * A data array of `type` and `byteLength` bytes at `at` of `view` (`absolute` in `buffer`): a
 * view when the host is little-endian, the absolute offset is aligned for the element size and
 * no copy is asked for; otherwise fresh memory with the bytes copied in (or, on a big-endian
 * host or for a small misaligned array, read element by element).
 */
export const readArray = (
  buffer: ArrayBufferLike,
  absolute: number,
  view: DataView,
  at: number,
  byteLength: number,
  type: WireType.AnyDataType,
  copy: boolean
): Value.DataArray => {
  const size = type.size
  const count = byteLength / size
  const Class = type.ArrayClass
  let array: WireType.TypedArrayLike
  if (WireType.hostIsLittleEndian && absolute % size === 0) {
    array = new Class(buffer, absolute, count)
    if (copy) array = array.slice()
  } else if (WireType.hostIsLittleEndian && byteLength > SMALL_ARRAY_BYTES) {
    const fresh = new ArrayBuffer(byteLength)
    new Uint8Array(fresh).set(new Uint8Array(buffer, absolute, byteLength))
    array = new Class(fresh, 0, count)
  } else {
    array = new Class(new ArrayBuffer(byteLength), 0, count)
    for (let i = 0; i < count; i++) array[i] = type.read(view, at + i * size)
  }
  return WireType.dataValue(type, array)
}

// Empty things cost no allocation of their own: one frozen value per type, holding a frozen
// empty array, which views no input and so is shared with `copy` too.

const frozenValue = <V extends Value.Value>(value: V): V => {
  Object.freeze(value.value)
  return Object.freeze(value)
}

/** The empty bytes. */
export const EMPTY_BYTES = Object.freeze(new Uint8Array(0))
/** The raw value of no bytes. */
export const EMPTY_RAW: Value.Raw = frozenValue({ type: "raw", value: new Uint8Array(0) })

const emptyData: ReadonlyArray<Value.DataArray | undefined> = WireType.byCode.map((type) =>
  type?.form === "data"
    ? frozenValue(WireType.dataValue(type, new type.ArrayClass(new ArrayBuffer(0), 0, 0)))
    : undefined
)

/** The value of no elements of the data type `type`. */
export const emptyArray = (type: WireType.AnyDataType): Value.DataArray => emptyData[type.code] as Value.DataArray

const emptyUnknowns: Array<Value.Unknown | undefined> = []

/** The value of no bytes of the unknown type code `code`. */
export const emptyUnknown = (code: number): Value.Unknown =>
  (emptyUnknowns[code] ??= frozenValue({ type: "unknown", code, value: new Uint8Array(0) }))
