import { expect } from "@effect/vitest"
import type { Decoder, Value } from "../src/index.js"

/**
 * The bytes in a Node `Buffer` starting `offset` bytes into a larger buffer of its own, as a
 * socket chunk would hold a packet (`Buffer.prototype.slice` of it is a view, not a copy).
 */
export const bufferAt = (bytes: Uint8Array, offset: number): Buffer => {
  const outer = Buffer.alloc(offset + bytes.length + 5, 0xee)
  outer.set(bytes, offset)
  return outer.subarray(offset, offset + bytes.length)
}

/**
 * The bytes inside Node's shared allocation pool (`Buffer.allocUnsafe` slices small buffers out
 * of one 8 KiB pool), `offset` bytes past a pool slot's start.
 */
export const pooledAt = (bytes: Uint8Array, offset: number): Buffer => {
  const slot = Buffer.allocUnsafe(offset + bytes.length)
  slot.fill(0xdd)
  slot.set(bytes, offset)
  return slot.subarray(offset)
}

/** A fresh plain `Uint8Array` holding the bytes at offset 0 of its own `ArrayBuffer`. */
export const freshCopy = (bytes: Uint8Array): Uint8Array => {
  const out = new Uint8Array(bytes.length)
  out.set(bytes)
  return out
}

type ArrayClass = abstract new (...args: never) => ArrayBufferView

const classOf: Record<string, ArrayClass> = {
  raw: Uint8Array,
  unknown: Uint8Array,
  "u8[]": Uint8Array,
  "u16[]": Uint16Array,
  "u32[]": Uint32Array,
  "i8[]": Int8Array,
  "i16[]": Int16Array,
  "i32[]": Int32Array,
  "u64[]": BigUint64Array,
  "i64[]": BigInt64Array,
  "f32[]": Float32Array,
  "f64[]": Float64Array
}

/** The class a byte or data value must have: exactly it, never a subclass such as `Buffer`. */
const expectedClass = (value: Value.Value): ArrayClass | undefined => classOf[value.type]

/**
 * Asserts that every byte and data value of the packet, and its info bytes, is exactly a
 * `Uint8Array` or the typed array of its type (not a `Buffer`), and, when `input` is given
 * with `copy`, that none shares memory with it.
 */
export const expectPlain = (
  decoded: Decoder.Decoded,
  input?: { readonly bytes: Uint8Array; readonly copy: boolean }
) => {
  const { packet } = decoded
  expect(Object.getPrototypeOf(packet.info)).toBe(Uint8Array.prototype)
  if (input?.copy === true) expect(packet.info.buffer).not.toBe(input.bytes.buffer)
  for (const field of packet.fields) {
    for (const param of field.params) {
      const expected = expectedClass(param.value)
      if (expected === undefined) continue
      const value = param.value.value as ArrayBufferView
      expect(Object.getPrototypeOf(value), `${field.name}.${param.name} (${param.value.type})`).toBe(expected.prototype)
      if (input?.copy === true) expect(value.buffer).not.toBe(input.bytes.buffer)
    }
  }
}
