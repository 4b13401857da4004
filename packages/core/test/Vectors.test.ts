import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import { Decoder, Encoder, Field, Json, Value } from "../src/index.js"
import codec from "./fixtures/codec.json" with { type: "json" }
import { bytesOf, hexOf, must } from "./util.js"

// The checksum word (8 bytes before the end) is ignored by receivers and may differ.
const withoutChecksum = (hex: string) => hex.slice(0, hex.length - 16) + hex.slice(hex.length - 8)

const decodeOk = (hex: string) => {
  const result = Decoder.decodePacket(bytesOf(hex))
  if (Result.isFailure(result)) throw new Error(`decode failed: ${result.failure.message}`)
  return result.success
}

const encodeOk = (packet: Parameters<typeof Encoder.encodePacket>[0]) => {
  const result = Encoder.encodePacket(packet)
  if (Result.isFailure(result)) throw new Error(`encode failed: ${result.failure.message}`)
  return result.success
}

/** The vector's JSON, with numbers compared as the JSON form spells them. */
const normalize = (json: unknown) => JSON.parse(JSON.stringify(json))

describe("codec vectors: values", () => {
  for (const vector of codec.values) {
    it(`${vector.name}: decodes to the expected value`, () => {
      const { packet, warnings } = decodeOk(vector.hex)
      expect(warnings).toEqual([])
      const param = packet.fields[0]?.params[0]
      expect(param).toBeDefined()
      expect(normalize(Json.fromValue(must(param).value))).toEqual(vector.decoded)
    })

    it(`${vector.name}: the sent value encodes to the vector's bytes`, () => {
      const { packet } = decodeOk(vector.hex)
      const sent = Result.getOrThrow(Json.toValue(vector.sent))
      const field = must(packet.fields[0])
      const bytes = encodeOk({
        ...packet,
        fields: [{ name: field.name, id: field.id, params: [{ name: must(field.params[0]).name, value: sent }] }]
      })
      expect(withoutChecksum(hexOf(bytes))).toEqual(withoutChecksum(vector.hex))
    })

    it(`${vector.name}: decode then encode gives the same bytes`, () => {
      const { packet } = decodeOk(vector.hex)
      expect(withoutChecksum(hexOf(encodeOk(packet)))).toEqual(withoutChecksum(vector.hex))
    })
  }
})

describe("codec vectors: packets", () => {
  for (const vector of codec.packets) {
    it(`${vector.name}: decodes to the expected packet`, () => {
      const { packet, warnings } = decodeOk(vector.hex)
      expect(warnings).toEqual([])
      expect(normalize(Json.fromPacket(packet))).toEqual(vector.decoded)
    })

    it(`${vector.name}: decode then encode gives the same bytes`, () => {
      const { packet } = decodeOk(vector.hex)
      expect(withoutChecksum(hexOf(encodeOk(packet)))).toEqual(withoutChecksum(vector.hex))
    })

    it(`${vector.name}: the JSON form encodes to the vector's bytes`, () => {
      const packet = Result.getOrThrow(Json.toPacket(vector.decoded))
      expect(withoutChecksum(hexOf(encodeOk(packet)))).toEqual(withoutChecksum(vector.hex))
    })
  }
})

describe("codec vectors: legacy embedded footer", () => {
  for (const vector of codec.legacy) {
    it(`${vector.name}: decodes with a LegacyFooter warning`, () => {
      const { packet, warnings } = decodeOk(vector.hex)
      expect(warnings.map((w) => w.kind)).toEqual(["LegacyFooter"])
      expect(must(warnings[0]).offset).toBe(192)
      const expected = vector.decoded_when_tolerated
      expect(packet.type).toBe(expected.packet_type)
      expect(packet.id).toBe(expected.packet_id)
      expect(
        packet.fields.map((field) => ({
          name: field.name,
          id: field.id,
          params: field.params.map((p) => [p.name, Value.toNatural(p.value)])
        }))
      ).toEqual(expected.fields)
      expect(Field.get(must(packet.fields[1]), "TSTR")).toBe("Mon Aug 31 14:07:48 2015")
    })
  }
})

const expectedReason: Record<string, string> = {
  "bad-header-magic": "HeaderMagic",
  "bad-footer-magic": "FooterMagic",
  "param-overflows-field": "ParamOverflow",
  "field-overflows-packet": "FieldOverflow",
  "size-smaller-than-header": "PacketTooSmall",
  "size-not-matching-buffer": "PacketSizeMismatch",
  "param-size-zero": "ZeroSize",
  truncated: "PacketSizeMismatch",
  "huge-declared-size": "PacketSizeMismatch",
  "string-invalid-utf8": "InvalidUtf8"
}

describe("codec vectors: malformed", () => {
  it("every malformed vector has an expected reason here", () => {
    expect(codec.malformed.map((v) => v.name).sort()).toEqual(Object.keys(expectedReason).sort())
  })
  for (const vector of codec.malformed) {
    it(`${vector.name}: refused with ${expectedReason[vector.name]}`, () => {
      const result = Decoder.decodePacket(bytesOf(vector.hex))
      expect(Result.isFailure(result)).toBe(true)
      if (Result.isFailure(result)) {
        expect(result.failure._tag).toBe("DecodeError")
        expect(result.failure.reason).toBe(expectedReason[vector.name])
        expect(result.failure.offset).toBeGreaterThanOrEqual(0)
        expect(result.failure.offset).toBeLessThan(vector.hex.length / 2)
        expect(result.failure.message).toMatch(/at offset \d+/)
      }
    })
  }
})
