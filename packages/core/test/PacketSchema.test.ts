import { describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import fc from "fast-check"
import * as NcpArbitrary from "../src/Arbitrary.js"
import { Decoder, Encoder, Identifier, Json, type Packet, PacketSchema, RoundTrip, Value } from "../src/index.js"
import codec from "./fixtures/codec.json" with { type: "json" }
import { bytesOf, hexOf, must } from "./util.js"

const decodeOk = (bytes: Uint8Array) => {
  const result = Decoder.decodePacket(bytes)
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
        const decoded = Decoder.decodePacket(bytes)
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
    const direct = Encoder.encodePacket(tooLarge)
    const result = Schema.encodeResult(PacketSchema.PacketFromBytes)(tooLarge)
    expect(Result.isFailure(direct) && direct.failure.reason).toBe("TooLarge")
    expect(Result.isFailure(result) && result.failure.message).toBe(Result.isFailure(direct) && direct.failure.message)
  })

  it("encoding checks the Packet schema first: an invalid name fails at its path", () => {
    const packet = decodeOk(bytesOf(must(codec.packets[0]).hex))
    const result = Schema.encodeResult(PacketSchema.PacketFromBytes)({ ...packet, type: "dspc" })
    expect(Result.isFailure(result) && result.failure.message).toContain('["type"]')
  })

  it.prop(
    "Schema.decode(PacketFromBytes) of encodePacket(p) equals normalize(p), and Schema.encode gives the same bytes",
    [PacketSchema.PacketFromBytes],
    ([packet]) => {
      const bytes = Result.getOrThrow(Encoder.encodePacket(packet))
      expect(Schema.decodeSync(PacketSchema.PacketFromBytes)(bytes)).toEqual(RoundTrip.normalize(packet))
      expect(Schema.encodeSync(PacketSchema.PacketFromBytes)(packet)).toEqual(bytes)
    }
  )

  it.prop(
    "Schema.decode(PacketFromBytes) of any bytes gives a Packet or a SchemaError, never an exception",
    [Schema.Uint8Array.check(Schema.isMaxLength(128))],
    ([bytes]) => {
      const result = Schema.decodeUnknownResult(PacketSchema.PacketFromBytes)(bytes)
      if (Result.isFailure(result)) expect(result.failure).toBeInstanceOf(Schema.SchemaError)
      else expect(Schema.is(PacketSchema.Packet)(result.success)).toBe(true)
    },
    { arbitrary: { size: 128 } }
  )
})

describe("PacketSchema.Packet and Value", () => {
  it("fast-check packets are Packets, with every option", () => {
    fc.assert(
      fc.property(
        fc.oneof(NcpArbitrary.packet(), NcpArbitrary.packet({ unknownTypes: true, exact: false, maxArrayLength: 40 })),
        (packet) => {
          expect(Schema.is(PacketSchema.Packet)(packet)).toBe(true)
        }
      ),
      { numRuns: 200 }
    )
  }, 10_000)

  it("every fast-check value arbitrary gives values its wire type's Schema accepts", () => {
    const pairs: ReadonlyArray<
      readonly [(options: NcpArbitrary.ValueOptions) => fc.Arbitrary<Value.Value>, Schema.Top]
    > = [
      [NcpArbitrary.i32, PacketSchema.I32Value],
      [NcpArbitrary.u32, PacketSchema.U32Value],
      [() => NcpArbitrary.i64(), PacketSchema.I64Value],
      [() => NcpArbitrary.u64(), PacketSchema.U64Value],
      [NcpArbitrary.f32, PacketSchema.F32Value],
      [() => NcpArbitrary.f64(), PacketSchema.F64Value],
      [NcpArbitrary.string, PacketSchema.StringValue],
      [NcpArbitrary.raw, PacketSchema.RawValue],
      [NcpArbitrary.u8Array, PacketSchema.U8ArrayValue],
      [NcpArbitrary.u16Array, PacketSchema.U16ArrayValue],
      [NcpArbitrary.u32Array, PacketSchema.U32ArrayValue],
      [NcpArbitrary.i8Array, PacketSchema.I8ArrayValue],
      [NcpArbitrary.i16Array, PacketSchema.I16ArrayValue],
      [NcpArbitrary.i32Array, PacketSchema.I32ArrayValue],
      [NcpArbitrary.u64Array, PacketSchema.U64ArrayValue],
      [NcpArbitrary.i64Array, PacketSchema.I64ArrayValue],
      [NcpArbitrary.f32Array, PacketSchema.F32ArrayValue],
      [NcpArbitrary.f64Array, PacketSchema.F64ArrayValue],
      [NcpArbitrary.unknownValue, PacketSchema.UnknownValue]
    ]
    for (const [arbitrary, schema] of pairs) {
      for (const exact of [true, false]) {
        for (const value of fc.sample(arbitrary({ exact }), 100)) {
          expect(Schema.is(schema)(value)).toBe(true)
          if (exact) expect(RoundTrip.normalizeValue(value)).toBe(value)
        }
      }
    }
  })

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

  it.prop("decode(encode(p)) equals p through the JSON form", [PacketSchema.PacketFromJson], ([packet]) => {
    const json = Schema.encodeSync(PacketSchema.PacketFromJson)(packet)
    expect(Schema.decodeUnknownSync(PacketSchema.PacketFromJson)(json)).toEqual(packet)
  })

  it("decode(encode(p)) equals p through the JSON form for fast-check packets", () => {
    fc.assert(
      fc.property(NcpArbitrary.packet({ unknownTypes: true }), (packet) => {
        const json = Schema.encodeSync(PacketSchema.PacketFromJson)(packet)
        expect(Schema.decodeUnknownSync(PacketSchema.PacketFromJson)(json)).toEqual(packet)
      }),
      { numRuns: 100 }
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

const DATA_TYPES = ["u8[]", "u16[]", "u32[]", "i8[]", "i16[]", "i32[]", "u64[]", "i64[]", "f32[]", "f64[]"] as const

/** Which edges a set of generated packets reaches. */
const edgesReached = (packets: ReadonlyArray<Packet.Packet>): Set<string> => {
  const seen = new Set<string>()
  const names = packets.flatMap((packet) => [
    packet.type,
    ...packet.fields.flatMap((field) => [field.name, ...field.params.map((param) => param.name)])
  ])
  if (names.some((name) => name.length === 4)) seen.add("4-character name")
  if (names.some((name) => name.length === 1)) seen.add("1-character name")
  for (const packet of packets) {
    if (packet.fields.length === 0) seen.add("no fields")
    if (packet.timestamp.nanos === 999_999_999) seen.add("nanos 999999999")
    for (const field of packet.fields) {
      for (const { value } of field.params) {
        switch (value.type) {
          case "i32":
            if (value.value === -(2 ** 31)) seen.add("i32 min")
            if (Object.is(value.value, -0)) seen.add("i32 -0")
            break
          case "u32":
            if (value.value === 2 ** 32 - 1) seen.add("u32 max")
            break
          case "i64":
            if (value.value === -(2n ** 63n)) seen.add("i64 min")
            if (value.value === 2n ** 63n - 1n) seen.add("i64 max")
            break
          case "u64":
            if (value.value === 2n ** 64n - 1n) seen.add("u64 max")
            break
          case "f32":
          case "f64":
            if (Number.isNaN(value.value)) seen.add(`${value.type} NaN`)
            if (Object.is(value.value, -0)) seen.add(`${value.type} -0`)
            if (value.value === Infinity) seen.add(`${value.type} Infinity`)
            if (value.value === -Infinity) seen.add(`${value.type} -Infinity`)
            break
          case "string":
            if (value.value === "") seen.add("empty string")
            if (/[\u{10000}-\u{10ffff}]/u.test(value.value)) seen.add("astral character")
            break
          case "unknown":
            seen.add("unknown type code")
            break
          default:
            break
        }
        if (typeof value.value === "object") {
          const array = value.value
          if (array.length === 0) seen.add(`${value.type} empty`)
          if (array.length === 1) seen.add(`${value.type} one element`)
          if (array.byteOffset > 0) seen.add("typed array inside its buffer")
          if (value.type === "raw") seen.add(`raw ${array.byteLength % 8} bytes mod 8`)
        }
      }
    }
  }
  return seen
}

describe("derived generators (effect/Arbitrary)", () => {
  const exported = Object.entries(PacketSchema).flatMap(([name, value]) =>
    Schema.isSchema(value) ? [[`PacketSchema.${name}`, value] as const] : []
  )
  const schemas = [["Identifier.Identifier", Identifier.Identifier] as const, ...exported]

  it("every Schema the module exports is covered", () => {
    const names = exported.map(([name]) => name)
    for (const name of [
      "Value",
      "Param",
      "Field",
      "Timestamp",
      "Packet",
      "ValueJson",
      "PacketJson",
      "PacketFromJson"
    ]) {
      expect(names).toContain(`PacketSchema.${name}`)
    }
    expect(names).toContain("PacketSchema.PacketFromBytes")
    for (const type of ["I32", "U32", "I64", "U64", "F32", "F64", "String", "Raw", "Unknown"]) {
      expect(names).toContain(`PacketSchema.${type}Value`)
    }
    for (const type of ["U8", "U16", "U32", "I8", "I16", "I32", "U64", "I64", "F32", "F64"]) {
      expect(names).toContain(`PacketSchema.${type}ArrayValue`)
    }
  })

  for (const [name, schema] of schemas) {
    it.effect(`${name} derives a generator, and Schema.is accepts every sample`, () =>
      Effect.gen(function* () {
        const samples = yield* Arbitrary.sampleEffect(Arbitrary.schema(schema), { count: 100, seed: name })
        expect(samples).toHaveLength(100)
        for (const sample of samples) expect(Schema.is(schema)(sample)).toBe(true)
      })
    )
  }

  it.effect("generated packets reach the edges", () =>
    Effect.gen(function* () {
      const packets = yield* Arbitrary.sampleEffect(Arbitrary.schema(PacketSchema.Packet), { count: 300, seed: 1 })
      const expected = [
        "4-character name",
        "1-character name",
        "no fields",
        "nanos 999999999",
        "i32 min",
        "i32 -0",
        "u32 max",
        "i64 min",
        "i64 max",
        "u64 max",
        ...["f32", "f64"].flatMap((type) => [`${type} NaN`, `${type} -0`, `${type} Infinity`, `${type} -Infinity`]),
        "empty string",
        "astral character",
        "unknown type code",
        "typed array inside its buffer",
        ...[0, 1, 2, 3, 4, 5, 6, 7].map((rest) => `raw ${rest} bytes mod 8`),
        ...["raw", ...DATA_TYPES].flatMap((type) => [`${type} empty`, `${type} one element`])
      ]
      const seen = edgesReached(packets)
      expect(expected.filter((edge) => !seen.has(edge))).toEqual([])
    })
  )

  it.effect("a failing property shrinks to a small valid packet: one field, one param, one element", () =>
    Effect.gen(function* () {
      const hasU64Data = (packet: Packet.Packet) =>
        packet.fields.some((field) =>
          field.params.some(({ value }) => value.type === "u64[]" && value.value.length > 0)
        )
      const result = yield* Arbitrary.checkEffect(Arbitrary.schema(PacketSchema.Packet), (p) => !hasU64Data(p), {
        seed: 1,
        runs: 500,
        maxShrinks: 5000
      })
      if (result._tag !== "Falsified") throw new Error(`expected a falsified property, got ${result._tag}`)
      const packet = result.shrunkInput
      expect(Schema.is(PacketSchema.Packet)(packet)).toBe(true)
      expect(hasU64Data(packet)).toBe(true)
      expect(packet.fields).toHaveLength(1)
      expect(packet.fields[0]?.params).toHaveLength(1)
      expect(packet.fields[0]?.params[0]?.value).toEqual(Value.u64Array([0n]))
      // header, field header, param header, one 8-byte element, footer
      expect(Result.getOrThrow(Encoder.encodePacket(packet))).toHaveLength(32 + 12 + 8 + 8 + 8)
    })
  )

  it.effect("bounds added to a payload Schema are kept by its generator, without discarding", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, Schema.Top, (sample: unknown) => boolean]> = [
        [
          "Int32 in [-5, 5]",
          PacketSchema.Int32.check(Schema.isBetween({ minimum: -5, maximum: 5 })),
          (n) => typeof n === "number" && n >= -5 && n <= 5
        ],
        [
          "Uint64 in [10, 20]",
          PacketSchema.Uint64.check(Schema.isBetweenBigInt({ minimum: 10n, maximum: 20n })),
          (n) => typeof n === "bigint" && n >= 10n && n <= 20n
        ],
        [
          "Float64 in [100, 200]",
          PacketSchema.Float64.check(Schema.isBetween({ minimum: 100, maximum: 200 })),
          (n) => typeof n === "number" && n >= 100 && n <= 200
        ],
        [
          "Float32 in (0, 0.1), exactly float32",
          PacketSchema.Float32.check(Schema.isGreaterThan(0), Schema.isLessThan(0.1)),
          (n) => typeof n === "number" && n > 0 && n < 0.1 && Math.fround(n) === n
        ],
        [
          "Float32 finite in [-1e-3, 1e30]",
          PacketSchema.Float32.check(Schema.isFinite(), Schema.isBetween({ minimum: -1e-3, maximum: 1e30 })),
          (n) => typeof n === "number" && n >= -1e-3 && n <= 1e30 && Math.fround(n) === n
        ],
        [
          "Float32Array of at most 2",
          PacketSchema.Float32Array.check(Schema.isMaxLength(2)),
          (a) => a instanceof Float32Array && a.length <= 2
        ],
        [
          "Bytes of 5 to 6",
          PacketSchema.Bytes.check(Schema.isBetweenLength(5, 6)),
          (a) => a instanceof Uint8Array && a.length >= 5 && a.length <= 6
        ]
      ]
      for (const [name, schema, holds] of cases) {
        // 200 samples allow 2000 discards: a generator that ignored the bounds would run out
        const samples = yield* Arbitrary.sampleEffect(Arbitrary.schema(schema), { count: 200, seed: name })
        expect(samples.every(holds)).toBe(true)
      }
    })
  )

  const Sweep = Schema.Struct({
    FSTA: PacketSchema.I32Value,
    FSTP: PacketSchema.U64Value,
    NAME: PacketSchema.StringValue,
    PDAT: PacketSchema.F32ArrayValue,
    RAW: PacketSchema.RawValue
  })

  it.prop(
    "a message Schema built from the value Schemas derives, and its values encode as params",
    [Sweep],
    ([sweep]) => {
      const params = Object.entries(sweep).map(([name, value]) => ({ name, value }))
      const decoded = decodeOk(
        Result.getOrThrow(Encoder.encodePacket({ type: "DSPC", fields: [{ name: "SWEP", id: 1, params }] }))
      )
      expect(decoded.fields[0]?.params).toEqual(
        params.map(({ name, value }) => ({ name, value: RoundTrip.normalizeValue(value) }))
      )
    }
  )
})
