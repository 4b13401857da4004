import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import * as NcpArbitrary from "../src/Arbitrary.js"
import { decodePacket, encodePacket, Json, PacketSchema, Value } from "../src/index.js"
import codec from "./fixtures/codec.json" with { type: "json" }
import { bytesOf, hexOf, must } from "./util.js"

const decodeOk = (bytes: Uint8Array) => {
  const result = decodePacket(bytes)
  if (Result.isFailure(result)) throw new Error(`decode failed: ${result.failure.message}`)
  return result.success.packet
}

// The checksum word (8 bytes before the end) is ignored by receivers and may differ.
const withoutChecksum = (hex: string) => hex.slice(0, hex.length - 16) + hex.slice(hex.length - 8)

describe("PacketSchema.PacketFromBytes", () => {
  for (const vector of codec.packets) {
    it.effect(`${vector.name}: Schema.decode gives the packet decodePacket gives, and Schema.encode the bytes`, () =>
      Effect.gen(function* () {
        const bytes = bytesOf(vector.hex)
        const packet = yield* Schema.decodeEffect(PacketSchema.PacketFromBytes)(bytes)
        expect(packet).toEqual(decodeOk(bytes))
        expect(JSON.parse(JSON.stringify(Json.fromPacket(packet)))).toEqual(vector.decoded)
        const encoded = yield* Schema.encodeEffect(PacketSchema.PacketFromBytes)(packet)
        expect(withoutChecksum(hexOf(encoded))).toEqual(withoutChecksum(vector.hex))
      })
    )
  }

  for (const vector of codec.malformed) {
    it.effect(`${vector.name}: fails with the DecodeError's message, offset included`, () =>
      Effect.gen(function* () {
        const bytes = bytesOf(vector.hex)
        const decoded = decodePacket(bytes)
        if (Result.isSuccess(decoded)) throw new Error("expected decodePacket to refuse the vector")
        const decodeError = decoded.failure
        const error = yield* Effect.flip(Schema.decodeEffect(PacketSchema.PacketFromBytes)(bytes))
        expect(error).toBeInstanceOf(Schema.SchemaError)
        expect(error.message).toBe(decodeError.message)
        expect(error.message).toContain(`(at offset ${decodeError.offset})`)
      })
    )
  }

  it("a bad header magic fails with offset 0 in the message", () => {
    const result = Schema.decodeUnknownResult(PacketSchema.PacketFromBytes)(bytesOf(must(codec.malformed[0]).hex))
    expect(Result.isFailure(result) && result.failure.message).toBe(
      "bad header magic de ad be ef, expected dd cc bb aa (at offset 0)"
    )
  })

  it("refuses input that is not a Uint8Array", () => {
    expect(Schema.is(PacketSchema.PacketFromBytes)("ddccbbaa")).toBe(false)
    expect(Result.isFailure(Schema.decodeUnknownResult(PacketSchema.PacketFromBytes)("ddccbbaa"))).toBe(true)
  })

  it("encoding a packet the encoder refuses fails with the EncodeError's message", () => {
    const packet = decodeOk(bytesOf(must(codec.packets[0]).hex))
    const tooLarge = {
      ...packet,
      fields: [{ name: "SWEP", id: 1, params: [{ name: "PDAT", value: Value.raw(new Uint8Array(4 * 0xffffff)) }] }]
    }
    const direct = encodePacket(tooLarge)
    const result = Schema.encodeResult(PacketSchema.PacketFromBytes)(tooLarge)
    expect(Result.isFailure(direct) && direct.failure.reason).toBe("TooLarge")
    expect(Result.isFailure(result) && result.failure.message).toBe(Result.isFailure(direct) && direct.failure.message)
  })

  it("encoding checks the Packet schema first: an invalid name fails at its path", () => {
    const packet = decodeOk(bytesOf(must(codec.packets[0]).hex))
    const result = Schema.encodeResult(PacketSchema.PacketFromBytes)({ ...packet, type: "dspc" })
    expect(Result.isFailure(result) && result.failure.message).toContain('["type"]')
  })

  it("Schema.decode(PacketFromBytes) of encodePacket(p) equals p for arbitrary packets", () => {
    fc.assert(
      fc.property(NcpArbitrary.packet(), (packet) => {
        const bytes = Result.getOrThrow(encodePacket(packet))
        expect(Schema.decodeSync(PacketSchema.PacketFromBytes)(bytes)).toEqual(packet)
        expect(Schema.encodeSync(PacketSchema.PacketFromBytes)(packet)).toEqual(bytes)
      }),
      { numRuns: 200 }
    )
  }, 10_000)
})

describe("PacketSchema.Packet and Value", () => {
  it("arbitrary packets are Packets", () => {
    fc.assert(
      fc.property(NcpArbitrary.packet({ unknownTypes: true, exact: false }), (packet) => {
        expect(Schema.is(PacketSchema.Packet)(packet)).toBe(true)
      }),
      { numRuns: 200 }
    )
  }, 10_000)

  const bad: ReadonlyArray<readonly [string, unknown]> = [
    ["an i32 out of range", Value.i32(2 ** 31)],
    ["a fractional u32", Value.u32(0.5)],
    ["a negative u64", Value.u64(-1n)],
    ["an i64 given as a number", { type: "i64", value: 5 }],
    ["a string with NUL", Value.string("a\u0000")],
    ["a string with a lone surrogate", Value.string("\ud800")],
    ["an f32[] holding a Float64Array", { type: "f32[]", value: new Float64Array(1) }],
    ["an unknown value with a known code", Value.unknown(0x80, new Uint8Array(4))],
    ["an unknown type tag", { type: "f16", value: 1 }]
  ]
  for (const [name, value] of bad) {
    it(`Value refuses ${name}`, () => {
      expect(Schema.is(PacketSchema.Value)(value)).toBe(false)
    })
  }

  it("Param and Field refuse invalid identifiers; Packet refuses info that is not 4 bytes", () => {
    expect(Schema.is(PacketSchema.Param)({ name: "fsta", value: Value.i32(1) })).toBe(false)
    expect(Schema.is(PacketSchema.Field)({ name: "TOOLONG", id: 1, params: [] })).toBe(false)
    const packet = decodeOk(bytesOf(must(codec.packets[0]).hex))
    expect(Schema.is(PacketSchema.Packet)(packet)).toBe(true)
    expect(Schema.is(PacketSchema.Packet)({ ...packet, info: new Uint8Array(3) })).toBe(false)
    expect(Schema.is(PacketSchema.Timestamp)({ seconds: -1, nanos: 0 })).toBe(false)
  })
})

describe("PacketSchema.PacketFromJson", () => {
  for (const vector of codec.packets) {
    it(`${vector.name}: decodes the vector's JSON form to the packet of its bytes, and encodes it back`, () => {
      const packet = Schema.decodeUnknownSync(PacketSchema.PacketFromJson)(vector.decoded)
      expect(packet).toEqual(decodeOk(bytesOf(vector.hex)))
      const json = Schema.encodeSync(PacketSchema.PacketFromJson)(packet)
      expect(JSON.parse(JSON.stringify(json))).toEqual(vector.decoded)
    })
  }

  it("decode(encode(p)) equals p through the JSON form for arbitrary packets", () => {
    fc.assert(
      fc.property(NcpArbitrary.packet({ unknownTypes: true }), (packet) => {
        const json = Schema.encodeSync(PacketSchema.PacketFromJson)(packet)
        expect(Schema.decodeUnknownSync(PacketSchema.PacketFromJson)(json)).toEqual(packet)
      }),
      { numRuns: 200 }
    )
  }, 10_000)

  it("fails with the JsonError's message, path included", () => {
    const json = { ...must(codec.packets[0]).decoded, timestamp: "yesterday" }
    const result = Schema.decodeUnknownResult(PacketSchema.PacketFromJson)(json)
    expect(Result.isFailure(result) && result.failure.message).toBe(
      'expected an ISO 8601 time, got "yesterday" at $.timestamp'
    )
  })
})
