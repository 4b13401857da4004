import { describe, expect, it } from "@effect/vitest"
import * as Hex from "effect/encoding/Hex"
import * as Result from "effect/Result"
import { Decoder, Encoder, Json, Timestamp } from "../src/index.js"
import codec from "./fixtures/codec.json" with { type: "json" }
import { hexOf, must } from "./util.js"

// 1715949045 is 2024-05-17T12:30:45Z.
const SECONDS = 1_715_949_045

const packetWith = (nanos: number) =>
  Result.getOrThrow(
    Encoder.encodePacket({
      type: "DSPC",
      id: 3,
      timestamp: { seconds: SECONDS, nanos },
      fields: [{ name: "TIME", id: 1, params: { FCTR: 2400 } }]
    })
  )

// Each nanoseconds word of 10^9 or more, with the instant it denotes, written out by hand.
const outOfRange = [
  { nanos: 1_000_000_000, instant: "2024-05-17T12:30:46+00:00", normalized: { seconds: SECONDS + 1, nanos: 0 } },
  {
    nanos: 1_500_000_000,
    instant: "2024-05-17T12:30:46.500000+00:00",
    normalized: { seconds: SECONDS + 1, nanos: 500_000_000 }
  },
  {
    nanos: 4_294_967_295,
    instant: "2024-05-17T12:30:49.294967295+00:00",
    normalized: { seconds: SECONDS + 4, nanos: 294_967_295 }
  }
]

describe("timestamps with a nanoseconds word of 10^9 or more", () => {
  for (const { nanos, instant, normalized } of outOfRange) {
    it(`${nanos}: decodes with a NanosOutOfRange warning, keeping both words, and re-encodes to the same bytes`, () => {
      const bytes = packetWith(nanos)
      const { packet, warnings, warningCount } = Result.getOrThrow(Decoder.decodePacket(bytes, { baseOffset: 10 }))
      expect(packet.timestamp).toEqual({ seconds: SECONDS, nanos })
      expect(warningCount).toBe(1)
      const warning = must(warnings[0])
      expect([warning.kind, warning.offset, warning.packetType]).toEqual(["NanosOutOfRange", 34, "DSPC"])
      expect(warning.message).toContain(String(nanos))
      expect(hexOf(Result.getOrThrow(Encoder.encodePacket(packet)))).toBe(hexOf(bytes))
    })

    it(`${nanos}: prints the instant the words denote, which parses back to that instant`, () => {
      const timestamp = Timestamp.make(SECONDS, nanos)
      expect(Timestamp.isNormalized(timestamp)).toBe(false)
      expect(Timestamp.normalize(timestamp)).toEqual(normalized)
      expect(Timestamp.toIsoString(timestamp)).toBe(instant)
      expect(Timestamp.fromIsoString(instant)).toEqual(normalized)
      expect(Timestamp.toMillis(timestamp)).toBe(normalized.seconds * 1000 + Math.floor(normalized.nanos / 1e6))
    })

    it(`${nanos}: decode, JSON text, toPacket and encode give the same bytes`, () => {
      const bytes = packetWith(nanos)
      const { packet } = Result.getOrThrow(Decoder.decodePacket(bytes))
      const json = JSON.parse(JSON.stringify(Json.fromPacket(packet)))
      expect(json.timestamp).toBe(`${instant}[_ncp-nanos=${nanos}]`)
      const parsed = Result.getOrThrow(Json.toPacket(json))
      expect(parsed.timestamp).toEqual({ seconds: SECONDS, nanos })
      expect(hexOf(Result.getOrThrow(Encoder.encodePacket(parsed)))).toBe(hexOf(bytes))
    })
  }

  it("in-range nanoseconds print as before and carry no suffix, as every vector shows", () => {
    expect(Timestamp.toIsoString(Timestamp.make(SECONDS, 999_999_999))).toBe("2024-05-17T12:30:45.999999999+00:00")
    expect(Timestamp.toIsoString(Timestamp.make(SECONDS, 123_456_000))).toBe("2024-05-17T12:30:45.123456+00:00")
    expect(Timestamp.toIsoString(Timestamp.make(SECONDS))).toBe("2024-05-17T12:30:45+00:00")
    const { packet, warningCount } = Result.getOrThrow(Decoder.decodePacket(packetWith(999_999_999)))
    expect(warningCount).toBe(0)
    expect(Json.fromPacket(packet).timestamp).toBe("2024-05-17T12:30:45.999999999+00:00")
    for (const vector of codec.packets) expect(vector.decoded.timestamp).not.toContain("[")
  })

  it("toPacket refuses a nanoseconds tag that does not fit the time before it", () => {
    const { packet } = Result.getOrThrow(Decoder.decodePacket(packetWith(1_500_000_000)))
    const json = Json.fromPacket(packet)
    const refuse = (timestamp: string) => {
      const result = Json.toPacket({ ...json, timestamp })
      expect(Result.isFailure(result), timestamp).toBe(true)
      if (Result.isFailure(result)) expect(result.failure.path).toBe("$.timestamp")
    }
    refuse("2024-05-17T12:30:46.400000+00:00[_ncp-nanos=1500000000]") // fraction differs
    refuse("2024-05-17T12:30:46.500000+00:00[_ncp-nanos=5000000000]") // not a u32
    refuse("1970-01-01T00:00:00.500000+00:00[_ncp-nanos=1500000000]") // seconds word below 0
    refuse("2024-05-17T12:30:46.500000+00:00[_ncp-nanos=abc]")
    refuse("2024-05-17T12:30:46.500000+00:00[_ncp-nanos=1500000000")
    // a tag holding an in-range word is accepted when it matches
    const tagged = Json.toPacket({ ...json, timestamp: "2024-05-17T12:30:45.250000+00:00[_ncp-nanos=250000000]" })
    expect(Result.getOrThrow(tagged).timestamp).toEqual({ seconds: SECONDS, nanos: 250_000_000 })
  })
})

// The JSON form's hex (raw values, unknown values, info) is effect/encoding's Hex: these are the
// properties it relies on.
describe("the JSON form's hex (effect/encoding/Hex)", () => {
  const fromHex = (hex: string) => Result.getOrUndefined(Hex.decode(hex))

  it("encode and decode round-trip any bytes, a Buffer's too, in any case", () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i)
    const hex = Hex.encode(Buffer.from(bytes))
    expect(hex).toBe(Buffer.from(bytes).toString("hex"))
    expect(fromHex(hex)).toEqual(bytes)
    expect(fromHex(hex.toUpperCase())).toEqual(bytes)
    expect(fromHex("")).toEqual(new Uint8Array(0))
  })

  it("decode fails for text that is not hex", () => {
    for (const text of ["0", "abc", "zz", "0g", "é0", " 00", "00 "]) expect(fromHex(text), text).toBeUndefined()
  })
})
