import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { CodecError, Decoder, Encoder, Framing, Packet, PacketSchema, RoundTrip, Value } from "../src/index.js"

// Every property runs through `it.prop` with the Schemas of PacketSchema, so their derived
// generators (effect/Arbitrary) are exercised on every run. The work is bounded by counts, not
// by time: each property runs a fixed number of cases (`runs`), each input is bounded in size
// (`size`, or an explicit length), and the decoder makes one pass over its input, so every
// property ends; a decoder that looped would stall the run rather than pass it.

const encodeOk = (packet: Packet.PacketInput): Uint8Array => {
  const result = Encoder.encodePacket(packet)
  if (Result.isFailure(result)) throw new Error(`encode failed: ${result.failure.message}`)
  return result.success
}

const decodeOk = (bytes: Uint8Array, copy = false): Packet.Packet => {
  const result = Decoder.decodePacket(bytes, { copy })
  if (Result.isFailure(result)) throw new Error(`decode failed: ${result.failure.message}`)
  return result.success.packet
}

const concat = (parts: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0))
  let at = 0
  for (const part of parts) {
    out.set(part, at)
    at += part.length
  }
  return out
}

/** Decodes, asserting that the outcome is a packet or a `DecodeError`, never a thrown exception. */
const decodesOrFailsCleanly = (bytes: Uint8Array): void => {
  for (const copy of [false, true]) {
    const result = Decoder.decodePacket(bytes, { copy })
    if (Result.isFailure(result)) {
      expect(result.failure).toBeInstanceOf(CodecError.DecodeError)
      expect(result.failure.offset).toBeGreaterThanOrEqual(0)
      expect(result.failure.offset).toBeLessThanOrEqual(Math.max(bytes.length, 8))
    }
  }
}

// Decoding a Node `Buffer` gives `Buffer` views for the info and the raw, data u8 and unknown
// values, which `toEqual` tells apart from `Uint8Array`s of the same bytes.
const plain = (bytes: Uint8Array): Uint8Array =>
  Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes)

/** The packet with every byte array a plain `Uint8Array`, for comparing contents. */
const plainBytes = (packet: Packet.Packet): Packet.Packet => ({
  ...packet,
  info: plain(packet.info),
  fields: packet.fields.map((field) => ({
    ...field,
    params: field.params.map(({ name, value }) => ({
      name,
      value:
        value.type === "raw" || value.type === "u8[]" || value.type === "unknown"
          ? { ...value, value: plain(value.value) }
          : value
    }))
  }))
})

/** Whole packets from chunks fed in order, then the framer's verdict on the end of input. */
const frame = (chunks: Iterable<Uint8Array>) => {
  const framer = new Framing.PacketFramer()
  const packets: Array<Uint8Array> = []
  for (const chunk of chunks) {
    framer.push(chunk)
    for (let next = framer.next(); next !== undefined; next = framer.next()) {
      if (next instanceof CodecError.DecodeError) return { packets, error: next }
      packets.push(next)
    }
  }
  return { packets, error: framer.end() }
}

/**
 * `bytes` cut into chunks of the given sizes (cycled), each a Node `Buffer` viewing one shared
 * pool at an odd offset, as a socket delivers them.
 */
const chunked = (bytes: Uint8Array, sizes: ReadonlyArray<number>): Array<Uint8Array> => {
  const pool = Buffer.alloc(bytes.length + 1)
  pool.set(bytes, 1)
  const chunks: Array<Uint8Array> = []
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const size = Math.max(1, sizes.length === 0 ? bytes.length : (sizes[i % sizes.length] ?? 1))
    chunks.push(pool.subarray(1 + at, 1 + Math.min(at + size, bytes.length)))
    at += size
  }
  return chunks
}

describe("round trips", () => {
  it.prop(
    "decode(encode(p)) equals normalize(p) for any packet the Schema accepts",
    [PacketSchema.Packet],
    ([packet]) => {
      expect(decodeOk(encodeOk(packet))).toEqual(RoundTrip.normalize(packet))
    }
  )

  it.prop(
    "normalize(p) is exact: it round-trips to itself, and normalizing it again changes nothing",
    [Arbitrary.schema(PacketSchema.Packet).pipe(Arbitrary.map(RoundTrip.normalize))],
    ([packet]) => {
      expect(RoundTrip.isExact(packet)).toBe(true)
      expect(RoundTrip.normalize(packet)).toEqual(packet)
      expect(decodeOk(encodeOk(packet))).toEqual(packet)
    }
  )

  it.prop(
    "encode(decode(bytes)) equals bytes, with and without copy, and both decodes give the same packet",
    [PacketSchema.Packet],
    ([packet]) => {
      const bytes = encodeOk(packet)
      expect(decodeOk(bytes, true)).toEqual(decodeOk(bytes))
      expect(encodeOk(decodeOk(bytes))).toEqual(bytes)
      expect(encodeOk(decodeOk(bytes, true))).toEqual(bytes)
    }
  )

  it.prop(
    "an f32 of any number comes back as its nearest float32",
    [Schema.Number],
    ([number]) => {
      const packet = {
        type: "DSPC",
        fields: [{ name: "SWEP", id: 1, params: [{ name: "GAIN", value: Value.f32(number) }] }]
      }
      const value = decodeOk(encodeOk(packet)).fields[0]?.params[0]?.value
      expect(value).toEqual(Value.f32(Math.fround(number)))
    },
    { arbitrary: { runs: 300 } }
  )

  it.prop(
    "a packet decodes from a view at any offset of a larger buffer (a Node Buffer)",
    [PacketSchema.Packet, Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 7 }))],
    ([packet, offset]) => {
      const bytes = encodeOk(packet)
      const view = Buffer.alloc(offset + bytes.length + 3)
      view.set(bytes, offset)
      expect(plainBytes(decodeOk(view.subarray(offset, offset + bytes.length)))).toEqual(decodeOk(bytes))
    }
  )

  it.prop(
    "decoding a Node Buffer with copy: true shares no memory with it: overwriting the Buffer changes nothing",
    [PacketSchema.Packet],
    ([packet]) => {
      const buffer = Buffer.from(encodeOk(packet))
      const decoded = decodeOk(buffer, true)
      const before = structuredClone(plainBytes(decoded))
      buffer.fill(0xa5)
      expect(plainBytes(decoded)).toEqual(before)
    }
  )
})

describe("framing, split anywhere", () => {
  it.prop(
    "packets split in two at every point come out whole and in order",
    [Schema.Array(PacketSchema.Packet).check(Schema.isBetweenLength(1, 3))],
    ([packets]) => {
      const bytes = concat(packets.map(encodeOk))
      const expected = packets.map(RoundTrip.normalize)
      for (let cut = 0; cut <= bytes.length; cut++) {
        const { packets: framed, error } = frame(chunked(bytes, [cut, bytes.length]))
        expect(error).toBeUndefined()
        expect(framed.map((one) => plainBytes(decodeOk(one)))).toEqual(expected)
      }
    },
    // size 3 (at most 3 fields of 3 params of 3 elements) bounds the quadratic work of every cut
    { arbitrary: { size: 3, runs: 40 } }
  )

  it.prop(
    "packets cut into chunks of any sizes (1-byte chunks included) come out whole and in order",
    [
      Schema.Array(PacketSchema.Packet).check(Schema.isBetweenLength(1, 4)),
      Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 64 })))
    ],
    ([packets, sizes]) => {
      const bytes = concat(packets.map(encodeOk))
      const expected = packets.map(RoundTrip.normalize)
      for (const split of [sizes, [1]]) {
        const { packets: framed, error } = frame(chunked(bytes, split))
        expect(error).toBeUndefined()
        expect(framed.map((one) => plainBytes(decodeOk(one)))).toEqual(expected)
      }
    }
  )

  it.effect.prop(
    "Framing.decodePackets gives the same packets whatever the chunk sizes",
    [
      Schema.Array(PacketSchema.Packet).check(Schema.isBetweenLength(1, 3)),
      Schema.Array(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 97 })))
    ],
    ([packets, sizes]) =>
      Effect.gen(function* () {
        const bytes = concat(packets.map(encodeOk))
        const decoded = yield* Stream.fromIterable(chunked(bytes, sizes)).pipe(
          Framing.decodePackets(),
          Stream.runCollect
        )
        expect(decoded.map((one) => plainBytes(one.packet))).toEqual(packets.map(RoundTrip.normalize))
      }),
    { arbitrary: { runs: 50 } }
  )
})

/** Offsets of every size word in a valid packet: the packet's, each field's, each param's. */
const sizeWordOffsets = (bytes: Uint8Array): Array<number> => {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
  const offsets = [8]
  const end = bytes.length - Packet.FOOTER_BYTES
  let pos = Packet.HEADER_BYTES
  while (pos < end) {
    offsets.push(pos + 4)
    const fieldEnd = pos + (view.getUint32(pos + 4, true) & 0xffffff) * 4
    let p = pos + Packet.FIELD_HEADER_BYTES
    while (p < fieldEnd) {
      offsets.push(p + 4)
      p += (view.getUint32(p + 4, true) & 0xffffff) * 4
    }
    pos = fieldEnd
  }
  return offsets
}

// Positions are taken modulo the length of the bytes they apply to.
const Position = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0x7fffffff }))
// Size words a hostile peer would pick: tiny, at the u24 and u32 limits, past them.
const SizeWord = Schema.Union([
  PacketSchema.Uint32,
  Schema.Literals([2, 3, 0xff, 0xffff, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000])
])

const Mutation = Schema.Union([
  Schema.Struct({
    kind: Schema.Literal("flip"),
    at: Position,
    bit: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 7 }))
  }),
  Schema.Struct({
    kind: Schema.Literal("insert"),
    at: Position,
    byte: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 255 }))
  }),
  Schema.Struct({ kind: Schema.Literal("delete"), at: Position }),
  Schema.Struct({ kind: Schema.Literal("truncate"), at: Position }),
  Schema.Struct({ kind: Schema.Literal("size"), at: Position, word: SizeWord })
])
type Mutation = typeof Mutation.Type

const mutate = (bytes: Uint8Array, mutation: Mutation): Uint8Array => {
  if (bytes.length === 0) return bytes
  const at = mutation.at % bytes.length
  switch (mutation.kind) {
    case "flip": {
      const out = bytes.slice()
      out[at] = (out[at] ?? 0) ^ (1 << mutation.bit)
      return out
    }
    case "insert": {
      const out = new Uint8Array(bytes.length + 1)
      out.set(bytes.subarray(0, at))
      out[at] = mutation.byte
      out.set(bytes.subarray(at), at + 1)
      return out
    }
    case "delete": {
      const out = new Uint8Array(bytes.length - 1)
      out.set(bytes.subarray(0, at))
      out.set(bytes.subarray(at + 1), at)
      return out
    }
    case "truncate":
      return bytes.slice(0, at)
    case "size": {
      // only meaningful on a still-valid packet; elsewhere any aligned word will do
      const offsets = Result.isSuccess(Decoder.decodePacket(bytes)) ? sizeWordOffsets(bytes) : [8]
      const offset = offsets[mutation.at % offsets.length] ?? 8
      if (offset + 4 > bytes.length) return bytes
      const out = bytes.slice()
      new DataView(out.buffer).setUint32(offset, mutation.word, true)
      return out
    }
  }
}

describe("hostile input only ever gives a DecodeError", () => {
  it.prop(
    "random bytes decode to a packet or a DecodeError, never an exception",
    [Schema.Uint8Array.check(Schema.isMaxLength(256))],
    ([bytes]) => decodesOrFailsCleanly(bytes),
    { arbitrary: { runs: 300, size: 256 } }
  )

  it.prop(
    "random bodies between a valid header and footer decode to a packet or a DecodeError",
    [
      Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 48 })),
      Schema.Uint8Array.check(Schema.isBetweenLength(232, 232))
    ],
    ([words, noise]) => {
      const bytes = new Uint8Array(40 + words * 4)
      bytes.set(noise.subarray(0, bytes.length))
      const view = new DataView(bytes.buffer)
      view.setUint32(0, Packet.HEADER_MAGIC, true)
      view.setUint32(8, bytes.length / 4, true)
      view.setUint32(bytes.length - 4, Packet.FOOTER_MAGIC, true)
      decodesOrFailsCleanly(bytes)
    },
    { arbitrary: { runs: 300 } }
  )

  it.prop(
    "mutated valid packets (flipped, inserted, deleted, truncated bytes, overwritten size words) decode to a packet or a DecodeError",
    [PacketSchema.Packet, Schema.Array(Mutation).check(Schema.isBetweenLength(1, 4))],
    ([packet, mutations]) => decodesOrFailsCleanly(mutations.reduce(mutate, encodeOk(packet))),
    { arbitrary: { runs: 300, size: 4 } }
  )

  it.prop(
    "every size word of a valid packet overwritten with any u32 gives a packet or a DecodeError",
    [PacketSchema.Packet, Position, SizeWord],
    ([packet, at, word]) => decodesOrFailsCleanly(mutate(encodeOk(packet), { kind: "size", at, word })),
    { arbitrary: { runs: 300, size: 4 } }
  )

  it.prop(
    "a stream of mutated packets frames into whole packets then at most one DecodeError, never an exception",
    [
      Schema.Array(PacketSchema.Packet).check(Schema.isBetweenLength(1, 3)),
      Mutation,
      Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 16 }))
    ],
    ([packets, mutation, chunkSize]) => {
      const bytes = mutate(concat(packets.map(encodeOk)), mutation)
      const { packets: framed, error } = frame(chunked(bytes, [chunkSize]))
      for (const one of framed) decodesOrFailsCleanly(one)
      if (error !== undefined) expect(error).toBeInstanceOf(CodecError.DecodeError)
      expect(framed.reduce((n, one) => n + one.length, 0)).toBeLessThanOrEqual(bytes.length)
    },
    { arbitrary: { runs: 200, size: 4 } }
  )

  it("a 64-byte buffer claiming a 16 GiB size fails at the size word, before any body is read or allocated", () => {
    const bytes = new Uint8Array(64)
    const view = new DataView(bytes.buffer)
    view.setUint32(0, Packet.HEADER_MAGIC, true)
    view.setUint32(8, 0xffffffff, true)
    view.setUint32(60, Packet.FOOTER_MAGIC, true)
    const result = Decoder.decodePacket(bytes)
    expect(Result.isFailure(result) && result.failure.reason).toBe("PacketSizeMismatch")
    expect(Result.isFailure(result) && result.failure.offset).toBe(8)
    expect(Framing.declaredPacketSize(bytes)).toEqual(Result.succeed(0xffffffff * 4))
  })

  it("a field or param claiming the largest u24 size fails at its size word with an overflow", () => {
    const bytes = encodeOk({ type: "DSPC", fields: [{ name: "SWEP", id: 1, params: { FSTA: 1 } }] })
    const field = bytes.slice()
    new DataView(field.buffer).setUint32(36, 0xffffff, true)
    const param = bytes.slice()
    new DataView(param.buffer).setUint32(48, 0x00ffffff, true)
    const fieldResult = Decoder.decodePacket(field)
    const paramResult = Decoder.decodePacket(param)
    expect(Result.isFailure(fieldResult) && fieldResult.failure.reason).toBe("FieldOverflow")
    expect(Result.isFailure(paramResult) && paramResult.failure.reason).toBe("ParamOverflow")
    expect(Result.isFailure(fieldResult) && fieldResult.failure.offset).toBe(36)
    expect(Result.isFailure(paramResult) && paramResult.failure.offset).toBe(48)
  })
})
