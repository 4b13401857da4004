import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { Decoder, Encoder, Field, Packet, Value } from "../src/index.js"
import { must } from "./util.js"

const encodeOk = (packet: Packet.PacketInput): Uint8Array => {
  const result = Encoder.encodePacket(packet)
  if (Result.isFailure(result)) throw new Error(`encode failed: ${result.failure.message}`)
  return result.success
}

const decodeOk = (bytes: Uint8Array, copy = false) => {
  const result = Decoder.decodePacket(bytes, { copy })
  if (Result.isFailure(result)) throw new Error(`decode failed: ${result.failure.message}`)
  return result.success
}

const pdat = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])

const sweepBytes = () =>
  encodeOk({
    type: "DSPC",
    id: 1,
    timestamp: { seconds: 1715949045, nanos: 0 },
    fields: [{ name: "SWEP", id: 7, params: { FSTA: 10000, FSTP: 18000, PDAT: pdat } }]
  })

const sweepField = () => must(decodeOk(sweepBytes()).packet.fields[0], "field")

describe("Field.get and Field.toRecord", () => {
  const field: Field.Field = {
    name: "SWEP",
    id: 1,
    params: [
      Field.param("GAIN", Value.i32(1)),
      Field.param("NAME", Value.string("rx1")),
      Field.param("GAIN", Value.f64(-3.5))
    ]
  }

  it("the last of duplicate params wins", () => {
    expect(Field.get(field, "GAIN")).toBe(-3.5)
    expect(Field.getValue(field, "GAIN")).toEqual(Value.f64(-3.5))
    expect(Field.toRecord(field)).toEqual({ GAIN: -3.5, NAME: "rx1" })
  })

  it("a missing param is undefined", () => {
    expect(Field.get(field, "FSTA")).toBeUndefined()
    expect(Field.has(field, "FSTA")).toBe(false)
    expect(Field.has(field, "NAME")).toBe(true)
  })

  it("params keep their order and duplicates through a round trip", () => {
    const bytes = encodeOk({ type: "DSPC", fields: [field] })
    const decoded = must(decodeOk(bytes).packet.fields[0])
    expect(decoded.params.map((param) => param.name)).toEqual(["GAIN", "NAME", "GAIN"])
    expect(decoded.params).toEqual(field.params)
  })

  it("[name, value] pairs keep order and duplicates too", () => {
    const bytes = encodeOk({
      type: "DSPC",
      fields: [
        {
          name: "SWEP",
          id: 1,
          params: [
            ["B", 1],
            ["A", 2],
            ["B", 3]
          ]
        }
      ]
    })
    const decoded = must(decodeOk(bytes).packet.fields[0])
    expect(decoded.params).toEqual([
      { name: "B", value: Value.i32(1) },
      { name: "A", value: Value.i32(2) },
      { name: "B", value: Value.i32(3) }
    ])
    expect(Field.get(decoded, "B")).toBe(3)
  })
})

describe("Field.decodeParams", () => {
  const Sweep = Schema.Struct({ FSTA: Schema.Number, FSTP: Schema.Number, PDAT: Schema.Uint8Array })

  it.effect("decodes a decoded sweep field with a user Schema", () =>
    Effect.gen(function* () {
      const sweep = yield* Field.decodeParams(Sweep)(sweepField())
      expect(sweep.FSTA).toBe(10000)
      expect(sweep.FSTP).toBe(18000)
      expect(sweep.PDAT).toEqual(pdat)
    })
  )

  it.effect("fails with a SchemaError naming a param of the wrong type", () =>
    Effect.gen(function* () {
      const Wrong = Schema.Struct({ FSTA: Schema.String, FSTP: Schema.Number })
      const error = yield* Effect.flip(Field.decodeParams(Wrong)(sweepField()))
      expect(error).toBeInstanceOf(Schema.SchemaError)
      expect(error.message).toContain('["FSTA"]')
    })
  )

  it.effect("fails with a SchemaError naming a missing param", () =>
    Effect.gen(function* () {
      const WithRbw = Schema.Struct({ FSTA: Schema.Number, RBW: Schema.Number })
      const error = yield* Effect.flip(Field.decodeParams(WithRbw)(sweepField()))
      expect(error).toBeInstanceOf(Schema.SchemaError)
      expect(error.message).toContain('["RBW"]')
    })
  )
})

describe("decoding details", () => {
  it("timestamps keep their nanoseconds", () => {
    const timestamp = { seconds: 1715949045, nanos: 123456789 }
    const bytes = encodeOk({ type: "DSPC", timestamp, fields: [] })
    expect(decodeOk(bytes).packet.timestamp).toEqual(timestamp)
  })

  it("an unknown type code keeps its code and bytes, warns UnknownType, and re-encodes byte-identically", () => {
    const bytes = encodeOk({
      type: "DSPC",
      fields: [{ name: "SWEP", id: 1, params: { RAW: pdat, FSTA: 1 } }]
    })
    // the first param's header starts after the packet header and the field header; its type
    // code is the header's last byte
    const codeAt = Packet.HEADER_BYTES + Packet.FIELD_HEADER_BYTES + 7
    expect(bytes[codeAt]).toBe(Value.TypeCode.raw)
    const patched = bytes.slice()
    patched[codeAt] = 0xc8
    const { packet, warnings } = decodeOk(patched)
    const param = must(must(packet.fields[0]).params[0])
    expect(param).toEqual({ name: "RAW", value: Value.unknown(0xc8, pdat) })
    expect(warnings.map((warning) => [warning.kind, warning.offset, warning.param])).toEqual([
      ["UnknownType", codeAt, "RAW"]
    ])
    expect(must(warnings[0]).message).toContain("unknown type code 0xc8")
    expect(must(must(packet.fields[0]).params[1]).value).toEqual(Value.i32(1))
    expect(encodeOk(packet)).toEqual(patched)
  })
})

describe("zero-copy decoding", () => {
  const arraysPacket = () =>
    encodeOk({
      type: "DSPC",
      fields: [
        {
          name: "SWEP",
          id: 1,
          params: {
            I16: Value.i16Array([1, -2, 3, -4]),
            F32: Value.f32Array([0.5, -1.5, 2.25]),
            U8: Value.u8Array([1, 2, 3, 4]),
            RAW: Value.raw(pdat)
          }
        }
      ]
    })

  const bufferOf = (value: Value.Value): ArrayBufferLike | undefined =>
    ArrayBuffer.isView(value.value) ? value.value.buffer : undefined

  const valuesOf = (packet: Packet.Packet) => {
    const field = must(packet.fields[0])
    const i16 = must(Field.getValue(field, "I16"))
    const f32 = must(Field.getValue(field, "F32"))
    const u8 = must(Field.getValue(field, "U8"))
    const raw = must(Field.getValue(field, "RAW"))
    return { i16, f32, u8, raw }
  }

  it("data i16 and f32 arrays from an aligned buffer share its memory", () => {
    const bytes = arraysPacket()
    const { i16, f32, u8, raw } = valuesOf(decodeOk(bytes).packet)
    expect(i16.value).toBeInstanceOf(Int16Array)
    expect(f32.value).toBeInstanceOf(Float32Array)
    for (const value of [i16, f32, u8, raw]) expect(bufferOf(value)).toBe(bytes.buffer)
    expect(i16.value).toEqual(new Int16Array([1, -2, 3, -4]))
    expect(f32.value).toEqual(new Float32Array([0.5, -1.5, 2.25]))
  })

  it("data i16 and f32 arrays from a misaligned buffer are correct copies", () => {
    const bytes = arraysPacket()
    const larger = new Uint8Array(bytes.length + 1)
    larger.set(bytes, 1)
    const misaligned = larger.subarray(1)
    const { i16, f32, u8 } = valuesOf(decodeOk(misaligned).packet)
    expect(bufferOf(i16)).not.toBe(larger.buffer)
    expect(bufferOf(f32)).not.toBe(larger.buffer)
    expect(i16.value).toEqual(new Int16Array([1, -2, 3, -4]))
    expect(f32.value).toEqual(new Float32Array([0.5, -1.5, 2.25]))
    // bytes need no alignment: they stay views
    expect(bufferOf(u8)).toBe(larger.buffer)
    expect(u8.value).toEqual(new Uint8Array([1, 2, 3, 4]))
  })

  it("{ copy: true } never shares memory with the input", () => {
    const bytes = arraysPacket()
    const { packet } = decodeOk(bytes, true)
    for (const value of Object.values(valuesOf(packet))) expect(bufferOf(value)).not.toBe(bytes.buffer)
    expect(packet.info.buffer).not.toBe(bytes.buffer)
    expect(valuesOf(packet).f32.value).toEqual(new Float32Array([0.5, -1.5, 2.25]))
    // mutating the input leaves the copies alone
    bytes.fill(0)
    expect(valuesOf(packet).raw.value).toEqual(pdat)
  })
})
