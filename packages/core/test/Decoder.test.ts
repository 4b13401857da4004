import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { CodecError, Decoder, Encoder, Framing, Limits, Packet, Value } from "../src/index.js"
import { bufferAt, expectPlain, freshCopy, pooledAt } from "./buffers.js"
import codec from "./fixtures/codec.json" with { type: "json" }
import du64 from "./fixtures/ncplib-echo-du64.json" with { type: "json" }
import { bytesOf, failureOf, hexOf, must } from "./util.js"

const decodeOk = (bytes: Uint8Array, options?: Decoder.DecodeOptions): Decoder.Decoded => {
  const result = Decoder.decodePacket(bytes, options)
  if (Result.isFailure(result)) throw new Error(`decode failed: ${result.failure.message}`)
  return result.success
}

const decodeError = (bytes: Uint8Array, options?: Decoder.DecodeOptions): CodecError.DecodeError => {
  const result = Decoder.decodePacket(bytes, options)
  if (Result.isSuccess(result)) throw new Error("expected a DecodeError")
  return result.failure
}

const encodeOk = (packet: Packet.PacketInput): Uint8Array => Result.getOrThrow(Encoder.encodePacket(packet))

/** A packet whose body is written word by word: `words` are little-endian u32s after the header. */
const rawPacket = (words: ReadonlyArray<number>, nanos = 0): Uint8Array => {
  const size = Packet.HEADER_BYTES + words.length * 4 + Packet.FOOTER_BYTES
  const bytes = new Uint8Array(size)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, Packet.HEADER_MAGIC, true)
  view.setUint32(4, 0x43505344, true) // DSPC
  view.setUint32(8, size / 4, true)
  view.setUint32(12, 7, true)
  view.setUint32(16, Packet.FORMAT_VERSION, true)
  view.setUint32(20, 1_715_949_045, true)
  view.setUint32(24, nanos, true)
  for (let i = 0; i < words.length; i++) view.setUint32(Packet.HEADER_BYTES + 4 * i, (words[i] as number) >>> 0, true)
  view.setUint32(size - 4, Packet.FOOTER_MAGIC, true)
  return bytes
}

const word = (name: string): number => {
  let w = 0
  for (let i = 0; i < name.length; i++) w |= name.charCodeAt(i) << (8 * i)
  return w >>> 0
}

/** Words of `count` empty fields named `name`. */
const emptyFields = (count: number, name = "EMPT"): Array<number> =>
  Array.from({ length: count }, () => [word(name), 3, 0]).flat()

/** Words of one field of `count` params of type `code` with no value bytes. */
const fieldOfEmptyParams = (count: number, code: number, name = "FLD", param = "P"): Array<number> => [
  word(name),
  3 + 2 * count,
  9,
  ...Array.from({ length: count }, () => [word(param), 2 | (code << 24)]).flat()
]

const LEGACY_FOOTER = [0, Packet.FOOTER_MAGIC]

describe("decoding from any Uint8Array at any offset", () => {
  const fixture = bytesOf(du64.hex)
  const U64_MAX = 18446744073709551615n

  const expectDu64 = (decoded: Decoder.Decoded) => {
    const field = must(decoded.packet.fields[0])
    expect(decoded.packet.type).toBe(du64.packet_type)
    expect(field.name).toBe(du64.field)
    expect(field.id).toBe(du64.field_id)
    const param = must(field.params[0])
    expect(param.name).toBe(du64.param)
    expect(param.value.type).toBe("u64[]")
    expect(Object.getPrototypeOf(param.value.value)).toBe(BigUint64Array.prototype)
    expect(Array.from(param.value.value as BigUint64Array)).toEqual([0n, U64_MAX])
    expect(decoded.warnings).toEqual([])
  }

  it("the ncplib packet of a misaligned u64 array decodes from a Buffer at every offset 0-7, with and without copy", () => {
    for (let offset = 0; offset < 8; offset++) {
      for (const copy of [false, true]) {
        for (const input of [bufferAt(fixture, offset), pooledAt(fixture, offset)]) {
          expect(input).toBeInstanceOf(Buffer)
          const decoded = decodeOk(input, { copy })
          expectDu64(decoded)
          expectPlain(decoded, { bytes: input, copy })
          expect(hexOf(encodeOk(decoded.packet))).toBe(du64.hex)
        }
      }
    }
  })

  it("the ncplib packet decodes from a Buffer made by Buffer.from(hex) and from a plain Uint8Array", () => {
    expectDu64(decodeOk(Buffer.from(du64.hex, "hex")))
    expectDu64(decodeOk(fixture))
    expectDu64(Decoder.decodePacketOrThrow(Buffer.from(du64.hex, "hex"), { copy: true }))
  })

  it("an aligned wide array is a view on the input without copy, and fresh memory with copy", () => {
    // The u64 array is at packet offset 52: at input offset 4 its absolute offset is 56.
    const input = bufferAt(fixture, 4)
    const absolute = input.byteOffset + 52
    expect(absolute % 8).toBe(0)
    const viewed = must(must(decodeOk(input).packet.fields[0]).params[0]).value.value as BigUint64Array
    expect(viewed.buffer).toBe(input.buffer)
    expect(viewed.byteOffset).toBe(absolute)
    const copied = must(must(decodeOk(input, { copy: true }).packet.fields[0]).params[0]).value.value as BigUint64Array
    expect(copied.buffer).not.toBe(input.buffer)
    input.fill(0xff)
    expect(Array.from(copied)).toEqual([0n, U64_MAX])
    expect(viewed[0]).toBe(U64_MAX)
  })

  it("a misaligned wide array is copied, so mutating the input afterwards leaves it unchanged", () => {
    const input = bufferAt(fixture, 1)
    const array = must(must(decodeOk(input).packet.fields[0]).params[0]).value.value as BigUint64Array
    expect(array.buffer).not.toBe(input.buffer)
    input.fill(0x11)
    expect(Array.from(array)).toEqual([0n, U64_MAX])
  })

  it("every byte and data value and the info are plain views without copy and plain copies with copy", () => {
    const bytes = encodeOk({
      type: "DSPC",
      info: Uint8Array.of(1, 2, 3, 4),
      timestamp: { seconds: 1, nanos: 2 },
      fields: [
        {
          name: "DATA",
          id: 1,
          params: [
            ["RAW", Value.raw(Uint8Array.of(1, 2, 3, 4))],
            ["U8", Value.u8Array([5, 6, 7, 8])],
            ["I8", Value.i8Array([-1, -2, -3, -4])],
            ["UNK", Value.unknown(0x99, Uint8Array.of(9, 9, 9, 9))],
            ["U16", Value.u16Array([1, 2])],
            ["I16", Value.i16Array([-1, 2])],
            ["U32", Value.u32Array([1])],
            ["I32", Value.i32Array([-1])],
            ["F32", Value.f32Array([1.5])],
            ["F64", Value.f64Array([2.5])],
            ["I64", Value.i64Array([-3n])],
            // long enough to be copied whole when misaligned, not element by element
            ["F64L", Value.f64Array(Array.from({ length: 40 }, (_, i) => i / 3))],
            ["U16L", Value.u16Array(Array.from({ length: 101 }, (_, i) => i * 7))]
          ]
        }
      ]
    })
    const reference = decodeOk(freshCopy(bytes))
    for (let offset = 0; offset < 8; offset++) {
      const input = bufferAt(bytes, offset)
      for (const copy of [false, true]) {
        const decoded = decodeOk(input, { copy })
        expectPlain(decoded, { bytes: input, copy })
        expect(decoded).toStrictEqual(reference)
        const raw = must(must(decoded.packet.fields[0]).params[0]).value.value as Uint8Array
        if (copy) expect(raw.buffer).not.toBe(input.buffer)
        else expect([raw.buffer, raw.byteOffset]).toEqual([input.buffer, input.byteOffset + 52])
      }
    }
  })

  it("every packet and value vector decodes from a Buffer at every offset 0-7 as from a fresh array", () => {
    const vectors = [...codec.packets, ...codec.values, ...codec.legacy]
    for (const vector of vectors) {
      const bytes = bytesOf(vector.hex)
      const reference = decodeOk(freshCopy(bytes))
      for (let offset = 0; offset < 8; offset++) {
        for (const copy of [false, true]) {
          for (const input of [bufferAt(bytes, offset), pooledAt(bytes, offset)]) {
            const decoded = decodeOk(input, { copy })
            expectPlain(decoded, { bytes: input, copy })
            expect(decoded, `${vector.name} at offset ${offset}${copy ? " (copy)" : ""}`).toStrictEqual(reference)
          }
        }
      }
    }
  })
})

describe("work limits", () => {
  it("a packet of more than maxFieldsPerPacket fields (default 65,536) is a TooManyFields error at the first field over", () => {
    expect(Limits.client.maxFieldsPerPacket).toBe(65_536)
    const bytes = rawPacket(emptyFields(Limits.client.maxFieldsPerPacket + 1))
    const error = decodeError(bytes, { baseOffset: 1000 })
    expect(error.reason).toBe("TooManyFields")
    expect(error.offset).toBe(1000 + Packet.HEADER_BYTES + Limits.client.maxFieldsPerPacket * 12)
    expect(error.packetType).toBe("DSPC")
    expect(error.message).toContain("65536")
    expect(error.message).toContain("maxFieldsPerPacket")
    expect(error.message).toContain(`at offset ${error.offset}`)
    const decoded = decodeOk(bytes, { maxFieldsPerPacket: Limits.client.maxFieldsPerPacket + 1 })
    expect(decoded.packet.fields.length).toBe(Limits.client.maxFieldsPerPacket + 1)
    expect(decodeOk(rawPacket(emptyFields(Limits.client.maxFieldsPerPacket))).packet.fields.length).toBe(65_536)
  })

  it("a field of more than maxParamsPerField params (default 4,096) is a TooManyParams error naming the field", () => {
    expect(Limits.client.maxParamsPerField).toBe(4_096)
    const bytes = rawPacket(fieldOfEmptyParams(Limits.client.maxParamsPerField + 1, 0x80, "BOMB"))
    const error = decodeError(bytes)
    expect(error.reason).toBe("TooManyParams")
    expect(error.field).toBe("BOMB")
    expect(error.offset).toBe(Packet.HEADER_BYTES + 12 + Limits.client.maxParamsPerField * 8)
    expect(error.message).toContain("4096")
    expect(error.message).toContain("maxParamsPerField")
    const decoded = decodeOk(bytes, { maxParamsPerField: 5000 })
    expect(must(decoded.packet.fields[0]).params.length).toBe(4097)
    expect(must(decodeOk(rawPacket(fieldOfEmptyParams(4096, 0x80))).packet.fields[0]).params.length).toBe(4096)
  })

  it("params of all fields beyond maxParamsPerPacket (default 262,144) are a TooManyParams error at the first param over, in steps too", () => {
    // 65 fields of 4,096 empty params, each field within its own limit
    const full = Array.from({ length: 64 }, () => fieldOfEmptyParams(4096, 0x80)).flat()
    const over = rawPacket([...full, ...fieldOfEmptyParams(4096, 0x80)])
    const error = decodeError(over)
    expect(error.reason).toBe("TooManyParams")
    expect(error.offset).toBe(Packet.HEADER_BYTES + full.length * 4 + 12)
    expect(error.message).toContain(String(Limits.client.maxParamsPerPacket))
    expect(error.message).toContain("maxParamsPerPacket")
    expect(decodeOk(rawPacket(full)).packet.fields.length).toBe(64)

    // a small limit, counted across fields and across the pauses of a stepped decode
    const bytes = rawPacket([...fieldOfEmptyParams(3, 0x80), ...fieldOfEmptyParams(3, 0x80)])
    const atSixth = Packet.HEADER_BYTES + (12 + 3 * 8) + 12 + 2 * 8
    expect([decodeError(bytes, { maxParamsPerPacket: 5 }).offset]).toEqual([atSixth])
    expect(decodeOk(bytes, { maxParamsPerPacket: 6 }).packet.fields.length).toBe(2)
    const decoder = new Decoder.PacketDecoder(bytes, { maxParamsPerPacket: 5 })
    let result = decoder.step(1)
    while (result === undefined) result = decoder.step(1)
    expect(Result.isFailure(result) ? [result.failure.reason, result.failure.offset] : "decoded").toEqual([
      "TooManyParams",
      atSixth
    ])
  })

  it("small limits are counted exactly; legacy footers count as neither fields nor params", () => {
    const words = [
      ...emptyFields(2),
      ...LEGACY_FOOTER,
      word("F"),
      3 + 4 + 2,
      1,
      word("A"),
      2 | (0x80 << 24),
      ...LEGACY_FOOTER,
      word("B"),
      2 | (0x80 << 24)
    ]
    const bytes = rawPacket(words)
    expect(decodeOk(bytes, { maxFieldsPerPacket: 3, maxParamsPerField: 2 }).packet.fields.length).toBe(3)
    const fields = decodeError(bytes, { maxFieldsPerPacket: 2 })
    expect([fields.reason, fields.offset]).toEqual(["TooManyFields", Packet.HEADER_BYTES + 24 + 8])
    const params = decodeError(bytes, { maxParamsPerField: 1 })
    expect([params.reason, params.offset, params.field]).toEqual([
      "TooManyParams",
      Packet.HEADER_BYTES + 32 + 12 + 16,
      "F"
    ])
    expect(decodeError(bytes, { maxFieldsPerPacket: 0 }).reason).toBe("TooManyFields")
  })

  it.effect("Framing.decodePackets passes the limits to the decoder", () =>
    Effect.gen(function* () {
      const bytes = rawPacket(fieldOfEmptyParams(10, 0x80))
      const decode = (options: Framing.DecodePacketsOptions) =>
        Stream.make(bufferAt(bytes, 3)).pipe(Framing.decodePackets(options), Stream.runCollect, Effect.exit)
      const refused = failureOf(yield* decode({ maxParamsPerField: 9 }))
      expect(refused).toBeInstanceOf(CodecError.DecodeError)
      expect((refused as CodecError.DecodeError).reason).toBe("TooManyParams")
      const fields = failureOf(yield* decode({ maxFieldsPerPacket: 0 }))
      expect((fields as CodecError.DecodeError).reason).toBe("TooManyFields")
      const exit = yield* decode({ maxParamsPerField: 10, copy: true })
      expect(Exit.isSuccess(exit)).toBe(true)
      if (Exit.isSuccess(exit)) expect(must(must(exit.value[0]).packet.fields[0]).params.length).toBe(10)
    })
  )
})

describe("empty fields and values are shared", () => {
  it("fields without params share one frozen empty params array, across packets too", () => {
    const a = decodeOk(rawPacket(emptyFields(3)))
    const b = decodeOk(rawPacket(emptyFields(1)), { copy: true })
    const arrays = [...a.packet.fields, ...b.packet.fields].map((field) => field.params)
    for (const params of arrays) {
      expect(params).toEqual([])
      expect(params).toBe(arrays[0])
      expect(Object.isFrozen(params)).toBe(true)
    }
  })

  it("zero-length raw, data and unknown values are shared frozen values, with and without copy, and re-encode unchanged", () => {
    const codes = [0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x90, 0x91, 0x99, 0xc8]
    const words = codes.flatMap((code) => fieldOfEmptyParams(2, code))
    const bytes = rawPacket(words)
    const seen = new Map<number, Value.Value>()
    for (const copy of [false, true]) {
      const decoded = decodeOk(bufferAt(bytes, 5), { copy })
      decoded.packet.fields.forEach((field, i) => {
        const code = must(codes[i])
        const [first, second] = field.params.map((param) => param.value)
        expect(first).toBe(second)
        expect(first).toBe(seen.get(code) ?? first)
        seen.set(code, must(first))
        expect(Object.isFrozen(first)).toBe(true)
        expect((must(first).value as ArrayBufferView).byteLength).toBe(0)
        expect(Object.isFrozen(must(first).value)).toBe(true)
      })
      expect(decoded.warningCount).toBe(4)
      expect(hexOf(encodeOk(decoded.packet))).toBe(hexOf(bytes))
    }
    expect(must(seen.get(0x99)).type).toBe("unknown")
    expect(seen.get(0x99)).not.toBe(seen.get(0xc8))
  })
})

describe("PacketDecoder: decoding in steps", () => {
  const packetOf = (fields: number, params: number) =>
    rawPacket(Array.from({ length: fields }, (_, f) => fieldOfEmptyParams(params, f % 2 === 0 ? 0x80 : 0x99)).flat())

  /** Steps to the end, checking that no step returns a result early, and returns the result with the step count. */
  const stepAll = (bytes: Uint8Array, budget: number, options?: Decoder.DecodeOptions) => {
    const decoder = new Decoder.PacketDecoder(bytes, options)
    let steps = 0
    for (;;) {
      expect(decoder.done).toBe(false)
      const result = decoder.step(budget)
      steps++
      if (result !== undefined) {
        expect(decoder.done).toBe(true)
        expect(decoder.step(budget)).toBe(result)
        return { result, steps }
      }
      expect(steps).toBeLessThan(100_000)
    }
  }

  it("each step does at most `budget` fields and params, and the result equals the one-shot decode", () => {
    const bytes = packetOf(7, 5) // 7 fields + 35 params = 42 records
    const oneShot = Decoder.decodePacket(bytes)
    for (const [budget, steps] of [
      [1, 42],
      [2, 21],
      [5, 9],
      [41, 2],
      [42, 1],
      [1000, 1]
    ] as const) {
      const stepped = stepAll(bytes, budget)
      expect(stepped.steps, `budget ${budget}`).toBe(steps)
      expect(stepped.result).toStrictEqual(oneShot)
    }
  })

  it("a budget below 1 still makes progress", () => {
    const bytes = packetOf(2, 2)
    expect(stepAll(bytes, 0).steps).toBe(6)
    expect(stepAll(bytes, -5).result).toStrictEqual(Decoder.decodePacket(bytes))
  })

  it("warnings, limits and errors are the same in steps as in one go, whatever the budget", () => {
    const good = rawPacket(
      [...fieldOfEmptyParams(30, 0x99), ...LEGACY_FOOTER, ...fieldOfEmptyParams(3, 0x80), ...LEGACY_FOOTER],
      2_000_000_000
    )
    const overLimit = rawPacket(emptyFields(6))
    const broken = rawPacket([...emptyFields(3), word("X"), 99, 0])
    for (const budget of [1, 3, 7, 1000]) {
      expect(stepAll(good, budget, { baseOffset: 64 }).result).toStrictEqual(
        Decoder.decodePacket(good, { baseOffset: 64 })
      )
      expect(stepAll(overLimit, budget, { maxFieldsPerPacket: 4 }).result).toStrictEqual(
        Decoder.decodePacket(overLimit, { maxFieldsPerPacket: 4 })
      )
      const failed = stepAll(broken, budget).result
      expect(Result.isFailure(failed)).toBe(true)
      expect(failed).toStrictEqual(Decoder.decodePacket(broken))
    }
    const header = stepAll(new Uint8Array(8), 1)
    expect(header.steps).toBe(1)
    expect(header.result).toStrictEqual(Decoder.decodePacket(new Uint8Array(8)))
  })

  it("the default budget decodes a packet of 4,096 records in one step", () => {
    const bytes = packetOf(1, 4095)
    const decoder = new Decoder.PacketDecoder(bytes)
    expect(decoder.step()).toStrictEqual(Decoder.decodePacket(bytes))
    const bigger = new Decoder.PacketDecoder(packetOf(1, 4096))
    expect(bigger.step()).toBeUndefined()
    expect(bigger.step()).toBeDefined()
  })

  it.effect("Framing.decodePackets decodes a packet of many records in steps, between other packets", () =>
    Effect.gen(function* () {
      const big = packetOf(3, 1000)
      const small = rawPacket(emptyFields(1))
      const all = Buffer.concat([small, big, small, big])
      const decoded = yield* Stream.make(all.subarray(0, 1500), all.subarray(1500)).pipe(
        Framing.decodePackets({ decodeStepBudget: 100 }),
        Stream.runCollect
      )
      expect(decoded.map((d) => d.packet.fields.length)).toEqual([1, 3, 1, 3])
      expect(decoded[1]).toStrictEqual(decodeOk(big, { baseOffset: small.length }))
      expect(decoded[3]).toStrictEqual(decodeOk(big, { baseOffset: 2 * small.length + big.length }))
    })
  )
})

describe("warnings are bounded", () => {
  it("a packet of 20,000 params of an unknown type keeps the first 16 warnings, a count and one summary", () => {
    const fields = 5
    const perField = 4000
    const bytes = rawPacket(
      Array.from({ length: fields }, () => fieldOfEmptyParams(perField, 0x99, "ECHO", "X")).flat()
    )
    const decoded = decodeOk(bytes, { baseOffset: 100 })
    expect(decoded.warningCount).toBe(fields * perField)
    expect(decoded.warnings.length).toBe(Limits.maxDecodeWarnings)
    expect(Limits.maxDecodeWarnings).toBe(16)
    expect(decoded.warnings.map((w) => w.offset)).toEqual(
      Array.from({ length: 16 }, (_, i) => 100 + Packet.HEADER_BYTES + 12 + 8 * i + 7)
    )
    expect(decoded.warningSummary.length).toBe(1)
    const summary = must(decoded.warningSummary[0])
    expect(summary).toMatchObject({
      kind: "UnknownType",
      count: 20_000,
      offset: 100 + Packet.HEADER_BYTES + 12 + 7,
      packetType: "DSPC",
      field: "ECHO",
      param: "X"
    })
    expect(summary.detail).toBe("unknown type code 0x99, kept as bytes")
    expect(summary.message).toBe(
      `20000 UnknownType warnings, the first: unknown type code 0x99, kept as bytes in packet "DSPC", field "ECHO", param "X" (at offset ${summary.offset})`
    )
    expect(Decoder.summarizeWarnings(decoded)).toBe(`20000 decode warnings: ${summary.message}`)
  })

  it("the summary has one entry per kind in order of first appearance, each with the place of its first", () => {
    const bytes = rawPacket(
      [
        ...fieldOfEmptyParams(1, 0x80, "OK"),
        ...LEGACY_FOOTER,
        ...fieldOfEmptyParams(2, 0xc8, "ODD", "Q"),
        ...LEGACY_FOOTER,
        ...LEGACY_FOOTER
      ],
      1_500_000_000
    )
    const decoded = decodeOk(bytes)
    expect(decoded.warningCount).toBe(6)
    expect(decoded.warnings.map((w) => w.kind)).toEqual([
      "NanosOutOfRange",
      "LegacyFooter",
      "UnknownType",
      "UnknownType",
      "LegacyFooter",
      "LegacyFooter"
    ])
    expect(decoded.warningSummary.map((s) => [s.kind, s.count, s.offset, s.field, s.param])).toEqual([
      ["NanosOutOfRange", 1, 24, undefined, undefined],
      ["LegacyFooter", 3, 52, undefined, undefined],
      ["UnknownType", 2, 60 + 12 + 7, "ODD", "Q"]
    ])
    expect(Decoder.summarizeWarnings(decoded)).toMatch(
      /^6 decode warnings: timestamp nanoseconds word 1500000000 .*; 3 LegacyFooter warnings, the first: skipped a legacy footer .*; 2 UnknownType warnings, the first: unknown type code 0xc8/
    )
  })

  it("a packet without warnings has none, and no summary line", () => {
    const decoded = decodeOk(rawPacket(emptyFields(2)))
    expect([decoded.warnings, decoded.warningCount, decoded.warningSummary]).toEqual([[], 0, []])
    expect(Decoder.summarizeWarnings(decoded)).toBeUndefined()
  })
})
