/**
 * The encoder's byte writer: memory for a packet (small ones carved out of a shared slab), and
 * the bytes of strings and data arrays. It knows nothing of fields, params or checks: those are
 * the encoder's (`Encoder.ts`), as pg-protocol's serializer sits on its buffer writer.
 */
import type * as Value from "../Value.js"
import * as WireType from "./wireType.js"

// Small packets are carved out of a shared slab, as Node's Buffer pool does: allocating a
// fresh ArrayBuffer costs far more than encoding a small packet. A slab is never reused, only
// dropped when full, so every packet's memory starts zeroed and stays its own.
const SLAB_BYTES = 128 * 1024
const POOLED_MAX = 16 * 1024
let slab: ArrayBuffer | undefined
let slabView: DataView | undefined
let slabUsed = 0

/**
 * Zeroed memory for a packet of `size` bytes: up to 16 KiB a piece of the current slab (8-byte
 * aligned, so that decoding it can view 64-bit arrays in place), beyond it a buffer of its own.
 */
export const allocate = (size: number): Uint8Array => {
  if (size > POOLED_MAX) return new Uint8Array(size)
  if (slab === undefined || slabUsed + size > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES)
    slabView = new DataView(slab)
    slabUsed = 0
  }
  const bytes = new Uint8Array(slab, slabUsed, size)
  slabUsed += (size + 7) & ~7
  return bytes
}

/** A DataView over the whole `ArrayBuffer` of `bytes` from {@link allocate}: the slab's own, made once per slab. */
export const viewOf = (bytes: Uint8Array): DataView =>
  slabView !== undefined && bytes.buffer === slab ? slabView : new DataView(bytes.buffer)

/** UTF-8 byte length of `s`; -1 if it holds a NUL, -2 if it holds a lone surrogate. */
export const utf8Length = (s: string): number => {
  let length = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      if (c === 0) return -1
      length += 1
    } else if (c < 0x800) {
      length += 2
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1)
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -2
      length += 4
      i++
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return -2
    } else {
      length += 3
    }
  }
  return length
}

const textEncoder = new TextEncoder()

/** Writes `s`, of `byteLength` UTF-8 bytes ({@link utf8Length}), at `at` of `bytes`. */
export const writeString = (bytes: Uint8Array, at: number, s: string, byteLength: number): void => {
  if (byteLength === s.length) {
    // ASCII: the length check proved every char is one byte
    for (let i = 0; i < byteLength; i++) bytes[at + i] = s.charCodeAt(i)
  } else {
    textEncoder.encodeInto(s, bytes.subarray(at, at + byteLength))
  }
}

/** Writes the elements of a data value, little-endian, at `at` of `bytes` (`base + at` of `view`). */
export const writeArray = (bytes: Uint8Array, view: DataView, base: number, at: number, value: Value.DataArray) => {
  const array = value.value
  if (WireType.hostIsLittleEndian || array.BYTES_PER_ELEMENT === 1) {
    bytes.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), at)
    return
  }
  // Big-endian hosts: typed arrays hold host order, the wire wants little-endian.
  const type = WireType.byName.get(value.type)
  if (type?.form !== "data") return
  for (let i = 0; i < array.length; i++) type.write(view, base + at + i * type.size, array[i] as WireType.Element)
}
