import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import fc from "fast-check"
import * as NcpArbitrary from "../src/Arbitrary.js"
import { DecodeError, declaredPacketSize, decodePacket, encodePacket, Packet } from "../src/index.js"

// Every property here is synchronous and bounded by construction; the per-test timeout turns a
// regression into a loop that never ends (or a runaway allocation) into a failure, not a stall.
const TIMEOUT = 10_000
const runs = { numRuns: 300 }

const encodeOk = (packet: Packet.PacketInput): Uint8Array => {
  const result = encodePacket(packet)
  if (Result.isFailure(result)) throw new Error(`encode failed: ${result.failure.message}`)
  return result.success
}

const decodeOk = (bytes: Uint8Array, copy = false): Packet.Packet => {
  const result = decodePacket(bytes, { copy })
  if (Result.isFailure(result)) throw new Error(`decode failed: ${result.failure.message}`)
  return result.success.packet
}

/** Decodes, asserting that the outcome is a packet or a `DecodeError`, never a thrown exception. */
const decodesOrFailsCleanly = (bytes: Uint8Array): void => {
  for (const copy of [false, true]) {
    const result = decodePacket(bytes, { copy })
    if (Result.isFailure(result)) {
      expect(result.failure).toBeInstanceOf(DecodeError)
      expect(result.failure.offset).toBeGreaterThanOrEqual(0)
      expect(result.failure.offset).toBeLessThanOrEqual(Math.max(bytes.length, 8))
    }
  }
}

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

type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly bit: number }
  | { readonly kind: "insert"; readonly at: number; readonly byte: number }
  | { readonly kind: "delete"; readonly at: number }
  | { readonly kind: "truncate"; readonly at: number }
  | { readonly kind: "size"; readonly at: number; readonly word: number }

const hugeWord = fc.constantFrom(0, 1, 2, 3, 0xff, 0xffff, 0xffffff, 0x1000000, 0x7fffffff, 0x80000000, 0xffffffff)

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant("size" as const),
    at: fc.nat(),
    word: fc.oneof(fc.nat({ max: 0xffffffff }), hugeWord)
  })
)

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
      const offsets = Result.isSuccess(decodePacket(bytes)) ? sizeWordOffsets(bytes) : [8]
      const offset = offsets[mutation.at % offsets.length] ?? 8
      if (offset + 4 > bytes.length) return bytes
      const out = bytes.slice()
      new DataView(out.buffer).setUint32(offset, mutation.word, true)
      return out
    }
  }
}

const smallPackets = NcpArbitrary.packet({ maxFields: 3, maxParams: 4, maxArrayLength: 12, unknownTypes: true })

describe("round trips", () => {
  it(
    "decode(encode(p)) equals p for arbitrary packets",
    () => {
      fc.assert(
        fc.property(NcpArbitrary.packet({ unknownTypes: true }), (packet) => {
          expect(decodeOk(encodeOk(packet))).toEqual(packet)
        }),
        runs
      )
    },
    TIMEOUT
  )

  it(
    "decode(encode(p)) equals normalize(p) for arbitrary packets with padded and rounded values",
    () => {
      fc.assert(
        fc.property(NcpArbitrary.packet({ exact: false, unknownTypes: true }), (packet) => {
          expect(decodeOk(encodeOk(packet))).toEqual(NcpArbitrary.normalize(packet))
        }),
        runs
      )
    },
    TIMEOUT
  )

  it(
    "normalize(p) is a fixed point: normalize(normalize(p)) equals normalize(p) and round-trips exactly",
    () => {
      fc.assert(
        fc.property(NcpArbitrary.packet({ exact: false }), (packet) => {
          const normalized = NcpArbitrary.normalize(packet)
          expect(NcpArbitrary.normalize(normalized)).toEqual(normalized)
          expect(decodeOk(encodeOk(normalized))).toEqual(normalized)
        }),
        runs
      )
    },
    TIMEOUT
  )

  it(
    "encode(decode(bytes)) equals bytes for bytes produced by encoding arbitrary packets",
    () => {
      fc.assert(
        fc.property(NcpArbitrary.packet({ exact: false, unknownTypes: true }), (packet) => {
          const bytes = encodeOk(packet)
          expect(encodeOk(decodeOk(bytes))).toEqual(bytes)
          expect(encodeOk(decodeOk(bytes, true))).toEqual(bytes)
        }),
        runs
      )
    },
    TIMEOUT
  )

  it(
    "decoding with copy: true gives the same packet as decoding without",
    () => {
      fc.assert(
        fc.property(smallPackets, (packet) => {
          const bytes = encodeOk(packet)
          expect(decodeOk(bytes, true)).toEqual(decodeOk(bytes))
        }),
        runs
      )
    },
    TIMEOUT
  )
})

describe("hostile input only ever gives a DecodeError", () => {
  it(
    "random bytes decode to a packet or a DecodeError, never an exception",
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => decodesOrFailsCleanly(bytes)),
        runs
      )
    },
    TIMEOUT
  )

  it(
    "random bodies between a valid header and footer decode to a packet or a DecodeError",
    () => {
      fc.assert(
        fc.property(fc.nat({ max: 48 }), fc.uint8Array({ minLength: 256, maxLength: 256 }), (words, noise) => {
          const bytes = new Uint8Array(40 + words * 4)
          bytes.set(noise.subarray(0, bytes.length))
          const view = new DataView(bytes.buffer)
          view.setUint32(0, Packet.HEADER_MAGIC, true)
          view.setUint32(8, bytes.length / 4, true)
          view.setUint32(bytes.length - 4, Packet.FOOTER_MAGIC, true)
          decodesOrFailsCleanly(bytes)
        }),
        runs
      )
    },
    TIMEOUT
  )

  it(
    "mutated valid packets (flipped, inserted, deleted, truncated bytes, overwritten size words) decode to a packet or a DecodeError",
    () => {
      fc.assert(
        fc.property(smallPackets, fc.array(mutation, { minLength: 1, maxLength: 4 }), (packet, mutations) => {
          const bytes = mutations.reduce(mutate, encodeOk(packet))
          decodesOrFailsCleanly(bytes)
        }),
        runs
      )
    },
    TIMEOUT
  )

  it(
    "every size word of a valid packet overwritten with any u32 gives a packet or a DecodeError",
    () => {
      fc.assert(
        fc.property(smallPackets, fc.nat(), fc.oneof(fc.nat({ max: 0xffffffff }), hugeWord), (packet, at, word) => {
          const bytes = encodeOk(packet)
          decodesOrFailsCleanly(mutate(bytes, { kind: "size", at, word }))
        }),
        runs
      )
    },
    TIMEOUT
  )

  it(
    "a 64-byte buffer claiming a 16 GiB size fails fast without allocating it",
    () => {
      const bytes = new Uint8Array(64)
      const view = new DataView(bytes.buffer)
      view.setUint32(0, Packet.HEADER_MAGIC, true)
      view.setUint32(8, 0xffffffff, true)
      view.setUint32(60, Packet.FOOTER_MAGIC, true)
      const started = performance.now()
      const result = decodePacket(bytes)
      const declared = declaredPacketSize(bytes)
      const elapsed = performance.now() - started
      expect(Result.isFailure(result) && result.failure.reason).toBe("PacketSizeMismatch")
      expect(Result.isFailure(result) && result.failure.offset).toBe(8)
      expect(declared).toEqual(Result.succeed(0xffffffff * 4))
      expect(elapsed).toBeLessThan(50)
    },
    TIMEOUT
  )

  it(
    "a field or param claiming the largest u24 size fails fast with an overflow",
    () => {
      const bytes = encodeOk({ type: "DSPC", fields: [{ name: "SWEP", id: 1, params: { FSTA: 1 } }] })
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length)
      const field = bytes.slice()
      new DataView(field.buffer).setUint32(36, 0xffffff, true)
      const param = bytes.slice()
      new DataView(param.buffer).setUint32(48, 0x00ffffff, true)
      const started = performance.now()
      const fieldResult = decodePacket(field)
      const paramResult = decodePacket(param)
      expect(performance.now() - started).toBeLessThan(50)
      expect(Result.isFailure(fieldResult) && fieldResult.failure.reason).toBe("FieldOverflow")
      expect(Result.isFailure(paramResult) && paramResult.failure.reason).toBe("ParamOverflow")
      expect(view.getUint32(0, true)).toBe(Packet.HEADER_MAGIC)
    },
    TIMEOUT
  )
})
