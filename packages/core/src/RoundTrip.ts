/**
 * What a value or packet becomes after a trip over the wire (`encodePacket` then
 * `decodePacket`), for property tests that compare the two.
 *
 * The wire keeps no length finer than a 4-byte word and stores some types narrower than
 * JavaScript does, so `decode(encode(p))` is `p` only up to:
 * - raw, unknown, data u8 and data i8 values come back zero-padded to a multiple of 4 bytes,
 *   data u16 and data i16 values to an even number of elements (`raw "foo"` returns as
 *   `66 6f 6f 00`);
 * - an f32 value comes back rounded to the nearest float32 (`Math.fround`);
 * - an i32 or u32 of `-0` comes back as `0`, and so does a packet id, field id or timestamp
 *   word of `-0`.
 *
 * {@link normalize} gives exactly what a packet decodes to after a round trip, so any packet
 * the encoder accepts satisfies `decode(encode(p)) == normalize(p)`, and a packet is
 * {@link isExact} when that is `p` itself. NaN comes back as NaN: compare with `Object.is`, as
 * Vitest's `toEqual` does.
 *
 * Needs nothing beyond `effect`: use it with `it.prop` and the Schemas of `PacketSchema`, or with
 * the fast-check arbitraries of `@effect-ncp/core/Arbitrary` (which re-exports these).
 *
 * @example
 * ```ts
 * import { Decoder, Encoder, PacketSchema, RoundTrip } from "@effect-ncp/core"
 * import { expect, it } from "@effect/vitest"
 * import * as Result from "effect/Result"
 *
 * it.prop("a packet survives the wire, up to padding and rounding", [PacketSchema.Packet], ([packet]) => {
 *   const bytes = Result.getOrThrow(Encoder.encodePacket(packet))
 *   expect(Result.getOrThrow(Decoder.decodePacket(bytes)).packet).toEqual(RoundTrip.normalize(packet))
 * })
 * ```
 *
 * @module
 * @since 0.1.0
 */

import * as Domain from "./codec/domain.js"
import type * as Field from "./Field.js"
import type * as Packet from "./Packet.js"
import * as Value from "./Value.js"

const paddedBytes = (bytes: Uint8Array): Uint8Array => {
  const rest = bytes.length % Domain.WORD_BYTES
  if (rest === 0) return bytes
  const out = new Uint8Array(bytes.length + Domain.WORD_BYTES - rest)
  out.set(bytes)
  return out
}

/**
 * The value as it comes back from the wire: padded to whole words, f32 rounded to float32,
 * `-0` integers as `0` (module doc). A value that needs no change is returned as is, so
 * `normalizeValue(v) === v` says that `v` round-trips exactly.
 *
 * @example
 * ```ts
 * import { RoundTrip, Value } from "@effect-ncp/core"
 *
 * RoundTrip.normalizeValue(Value.raw(new TextEncoder().encode("foo"))) // raw 66 6f 6f 00
 * RoundTrip.normalizeValue(Value.f32(0.1))                               // f32 0.10000000149011612
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
      const out = paddedBytes(value.value)
      return out === value.value ? value : { ...value, value: out }
    }
    case "i8[]": {
      const out = paddedBytes(new Uint8Array(value.value.buffer, value.value.byteOffset, value.value.length))
      return out.length === value.value.length ? value : Value.i8Array(new Int8Array(out.buffer))
    }
    case "u16[]":
    case "i16[]": {
      const multiple = Domain.wordMultiple(value.value.BYTES_PER_ELEMENT)
      if (value.value.length % multiple === 0) return value
      return value.type === "u16[]" ? Value.u16Array([...value.value, 0]) : Value.i16Array([...value.value, 0])
    }
    default:
      return value
  }
}

const unsigned = (word: number): number => (Object.is(word, -0) ? 0 : word)

/**
 * What a packet decodes to after `encodePacket` then `decodePacket`: every value passed
 * through {@link normalizeValue}, `-0` ids and timestamp words as `0`. For any packet the
 * encoder accepts, `decodePacket(encodePacket(p)).packet` equals `normalize(p)`.
 *
 * @example
 * ```ts
 * import { RoundTrip } from "@effect-ncp/core"
 *
 * expect(decoded).toEqual(RoundTrip.normalize(sent))
 * ```
 */
export const normalize = (packet: Packet.Packet): Packet.Packet => ({
  ...packet,
  id: unsigned(packet.id),
  timestamp: { seconds: unsigned(packet.timestamp.seconds), nanos: unsigned(packet.timestamp.nanos) },
  fields: packet.fields.map(
    (field): Field.Field => ({
      ...field,
      id: unsigned(field.id),
      params: field.params.map((param) => ({ name: param.name, value: normalizeValue(param.value) }))
    })
  )
})

const isWordExact = (word: number): boolean => !Object.is(word, -0)

/** Whether `packet` round-trips exactly, so that `decode(encode(p))` equals `p` itself. */
export const isExact = (packet: Packet.Packet): boolean =>
  isWordExact(packet.id) &&
  isWordExact(packet.timestamp.seconds) &&
  isWordExact(packet.timestamp.nanos) &&
  packet.fields.every(
    (field) => isWordExact(field.id) && field.params.every((param) => normalizeValue(param.value) === param.value)
  )
