import { assert, describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaParser from "effect/SchemaParser"
import { Decoder, Encoder, Field, Value } from "../src/index.js"
import * as WireSchema from "../src/WireSchema.js"

const encode = <S extends Schema.Codec<unknown, Value.Value>>(schema: S, value: S["Type"]) =>
  SchemaParser.encodeUnknownResult(schema)(value)
const decode = <S extends Schema.Codec<unknown, Value.Value>>(schema: S, value: Value.Value) =>
  SchemaParser.decodeUnknownResult(schema)(value)

const encoded = <S extends Schema.Codec<unknown, Value.Value>>(schema: S, value: S["Type"]): Value.Value => {
  const result = encode(schema, value)
  assert(Result.isSuccess(result), `expected ${String(value)} to encode`)
  return result.success
}

/** The value a param comes back as from the wire: encoded in a packet and decoded again. */
const throughTheWire = (value: Value.Value): Value.Value => {
  const bytes = Result.getOrThrow(
    Encoder.encodePacket({ type: "TEST", fields: [{ name: "T", id: 1, params: [["X", value]] }] })
  )
  const field = Result.getOrThrow(Decoder.decodePacket(bytes)).packet.fields[0]
  assert(field !== undefined)
  const got = Field.getValue(field, "X")
  assert(got !== undefined)
  return got
}

describe("WireSchema", () => {
  it("each schema sends its own wire type, whatever JavaScript value it holds", () => {
    expect(encoded(WireSchema.i32, 7)).toEqual(Value.i32(7))
    expect(encoded(WireSchema.u32, 7)).toEqual(Value.u32(7))
    expect(encoded(WireSchema.i64, 7n)).toEqual(Value.i64(7n))
    expect(encoded(WireSchema.u64, 7n)).toEqual(Value.u64(7n))
    expect(encoded(WireSchema.f32, 7)).toEqual(Value.f32(7))
    expect(encoded(WireSchema.f64, 7)).toEqual(Value.f64(7))
    expect(encoded(WireSchema.boolean, true)).toEqual(Value.i32(1))
    expect(encoded(WireSchema.string, "7")).toEqual(Value.string("7"))
    expect(encoded(WireSchema.raw, new Uint8Array([7]))).toEqual(Value.raw(new Uint8Array([7])))
    expect(encoded(WireSchema.u8Array, new Uint8Array([7]))).toEqual(Value.u8Array([7]))
    expect(encoded(WireSchema.i16Array, new Int16Array([7]))).toEqual(Value.i16Array([7]))
    expect(encoded(WireSchema.f32Array, new Float32Array([7]))).toEqual(Value.f32Array([7]))
    expect(encoded(WireSchema.u64Array, new BigUint64Array([7n]))).toEqual(Value.u64Array([7n]))
  })

  it("number follows the untyped mapping: i32 for whole numbers in range, f64 for the rest (never i64)", () => {
    expect(encoded(WireSchema.number, 400)).toEqual(Value.i32(400))
    expect(encoded(WireSchema.number, 400.5)).toEqual(Value.f64(400.5))
    expect(encoded(WireSchema.number, 2 ** 31)).toEqual(Value.f64(2 ** 31))
    expect(encoded(WireSchema.number, -0)).toEqual(Value.f64(-0))
    expect(encoded(WireSchema.number, Number.NaN)).toEqual(Value.f64(Number.NaN))
  })

  it("f32 rounds to the nearest float32 on the wire, and refuses a finite number beyond its range", () => {
    expect(throughTheWire(encoded(WireSchema.f32, 0.1))).toEqual(Value.f32(Math.fround(0.1)))
    expect(encoded(WireSchema.f32, Number.POSITIVE_INFINITY)).toEqual(Value.f32(Number.POSITIVE_INFINITY))
    expect(encoded(WireSchema.f32, 3.4e38)).toEqual(Value.f32(3.4e38))
    for (const beyond of [1e39, -1e39, Number.MAX_VALUE])
      expect(Result.isFailure(encode(WireSchema.f32, beyond))).toBe(true)
  })

  it("refuses values their wire type cannot hold", () => {
    expect(Result.isFailure(encode(WireSchema.i32, 2 ** 31))).toBe(true)
    expect(Result.isFailure(encode(WireSchema.i32, 1.5))).toBe(true)
    expect(Result.isFailure(encode(WireSchema.u32, -1))).toBe(true)
    expect(Result.isFailure(encode(WireSchema.i64, 2n ** 63n))).toBe(true)
    expect(Result.isFailure(encode(WireSchema.u64, -1n))).toBe(true)
    expect(Result.isFailure(encode(WireSchema.string, "a\u0000b"))).toBe(true)
    expect(Result.isFailure(encode(WireSchema.string, "\uD800"))).toBe(true)
  })

  it("numbers decode from any numeric wire type that holds them exactly, never rounded or wrapped", () => {
    expect(decode(WireSchema.f64, Value.i32(400))).toEqual(Result.succeed(400))
    expect(decode(WireSchema.i32, Value.f64(3))).toEqual(Result.succeed(3))
    expect(decode(WireSchema.i32, Value.i64(-5n))).toEqual(Result.succeed(-5))
    expect(decode(WireSchema.i64, Value.i32(-5))).toEqual(Result.succeed(-5n))
    expect(decode(WireSchema.u64, Value.u32(4_000_000_000))).toEqual(Result.succeed(4_000_000_000n))
    expect(decode(WireSchema.f32, Value.f64(0.1))).toEqual(Result.succeed(0.1))
    expect(decode(WireSchema.boolean, Value.i32(0))).toEqual(Result.succeed(false))
    for (const [schema, value] of [
      [WireSchema.i32, Value.u32(3_000_000_000)],
      [WireSchema.i32, Value.f64(1.5)],
      [WireSchema.u32, Value.i32(-1)],
      [WireSchema.f64, Value.u64(2n ** 64n - 1n)],
      [WireSchema.u64, Value.f64(0.5)],
      [WireSchema.f32, Value.f64(1e300)],
      [WireSchema.boolean, Value.i32(2)]
    ] as const) {
      expect(Result.isFailure(decode(schema, value)), `${value.type} ${value.value}`).toBe(true)
    }
  })

  it("strings, raw bytes and data arrays decode only from their own wire type", () => {
    expect(Result.isFailure(decode(WireSchema.string, Value.i32(1)))).toBe(true)
    expect(Result.isFailure(decode(WireSchema.i32, Value.string("1")))).toBe(true)
    expect(Result.isFailure(decode(WireSchema.raw, Value.u8Array([1, 2, 3, 4])))).toBe(true)
    expect(Result.isFailure(decode(WireSchema.u8Array, Value.raw(new Uint8Array(4))))).toBe(true)
    expect(Result.isFailure(decode(WireSchema.i16Array, Value.u16Array([1, 2])))).toBe(true)
    expect(Result.isFailure(decode(WireSchema.f32Array, Value.f64Array([1])))).toBe(true)
  })

  it("says what it expected and what it got, briefly however large the value", () => {
    const result = decode(WireSchema.i32, Value.i16Array(new Int16Array(1_000_000)))
    assert(Result.isFailure(result))
    const message = String(new Schema.SchemaError(result.failure).message)
    expect(message).toContain("Expected a number, got i16[] Int16Array(1000000)")
    expect(message.length).toBeLessThan(200)
  })

  it("raw and small data arrays come back zero-padded to whole words, as the wire keeps them", () => {
    const raw = throughTheWire(encoded(WireSchema.raw, new Uint8Array([0x66, 0x6f, 0x6f])))
    expect(decode(WireSchema.raw, raw)).toEqual(Result.succeed(new Uint8Array([0x66, 0x6f, 0x6f, 0])))
    const i16 = throughTheWire(encoded(WireSchema.i16Array, new Int16Array([7])))
    expect(decode(WireSchema.i16Array, i16)).toEqual(Result.succeed(new Int16Array([7, 0])))
  })

  const schemas = {
    i32: WireSchema.i32,
    u32: WireSchema.u32,
    i64: WireSchema.i64,
    u64: WireSchema.u64,
    f32: WireSchema.f32,
    f64: WireSchema.f64,
    number: WireSchema.number,
    boolean: WireSchema.boolean,
    string: WireSchema.string,
    raw: WireSchema.raw,
    u8Array: WireSchema.u8Array,
    u16Array: WireSchema.u16Array,
    u32Array: WireSchema.u32Array,
    i8Array: WireSchema.i8Array,
    i16Array: WireSchema.i16Array,
    i32Array: WireSchema.i32Array,
    u64Array: WireSchema.u64Array,
    i64Array: WireSchema.i64Array,
    f32Array: WireSchema.f32Array,
    f64Array: WireSchema.f64Array
  }

  it.prop("every schema's arbitrary values cross the wire unchanged", schemas, (values) => {
    for (const [name, schema] of Object.entries(schemas)) {
      const value = (values as Record<string, unknown>)[name]
      const wire = throughTheWire(encoded(schema as Schema.Codec<unknown, Value.Value>, value))
      const back = decode(schema as Schema.Codec<unknown, Value.Value>, wire)
      assert(Result.isSuccess(back), `${name} did not decode`)
      expect(back.success, name).toEqual(value)
    }
  })

  it.effect("arbitrary params reach the edges of their wire type", () =>
    Effect.gen(function* () {
      const samples = yield* Arbitrary.sampleEffect(Arbitrary.schema(Schema.Struct(schemas)), { count: 300, seed: 1 })
      const seen = new Set<string>()
      const see = (edge: string, reached: boolean) => {
        if (reached) seen.add(edge)
      }
      for (const sample of samples) {
        see("i32 min", sample.i32 === -(2 ** 31))
        see("i32 max", sample.i32 === 2 ** 31 - 1)
        see("u32 max", sample.u32 === 2 ** 32 - 1)
        see("i64 min", sample.i64 === -(2n ** 63n))
        see("u64 max", sample.u64 === 2n ** 64n - 1n)
        for (const type of ["f32", "f64", "number"] as const) {
          const n = sample[type]
          see(`${type} NaN`, Number.isNaN(n))
          see(`${type} -0`, Object.is(n, -0))
          see(`${type} Infinity`, n === Infinity)
          see(`${type} -Infinity`, n === -Infinity)
        }
        see("f32 smallest subnormal", sample.f32 === 2 ** -149)
        see("empty string", sample.string === "")
        see("raw empty", sample.raw.length === 0)
        see("raw one word", sample.raw.length === 4)
        see("u16Array two elements", sample.u16Array.length === 2)
        see("i8Array one word", sample.i8Array.length === 4)
        see("u32Array one element", sample.u32Array.length === 1)
        see("typed array inside its buffer", sample.f64Array.byteOffset > 0)
      }
      expect(
        [
          "i32 min",
          "i32 max",
          "u32 max",
          "i64 min",
          "u64 max",
          ...["f32", "f64", "number"].flatMap((type) => [
            `${type} NaN`,
            `${type} -0`,
            `${type} Infinity`,
            `${type} -Infinity`
          ]),
          "f32 smallest subnormal",
          "empty string",
          "raw empty",
          "raw one word",
          "u16Array two elements",
          "i8Array one word",
          "u32Array one element",
          "typed array inside its buffer"
        ].filter((edge) => !seen.has(edge))
      ).toEqual([])
    })
  )

  it.effect("bounds added to a param are kept by its generator, without discarding", () =>
    Effect.gen(function* () {
      const cases: ReadonlyArray<readonly [string, Schema.Top, (sample: unknown) => boolean]> = [
        [
          "i32 in [1, 65536]",
          WireSchema.i32.check(Schema.isBetween({ minimum: 1, maximum: 65536 })),
          (n) => typeof n === "number" && n >= 1 && n <= 65536
        ],
        [
          "u64 in [10, 20]",
          WireSchema.u64.check(Schema.isBetweenBigInt({ minimum: 10n, maximum: 20n })),
          (n) => typeof n === "bigint" && n >= 10n && n <= 20n
        ],
        [
          "number in [100, 200]",
          WireSchema.number.check(Schema.isBetween({ minimum: 100, maximum: 200 })),
          (n) => typeof n === "number" && n >= 100 && n <= 200
        ],
        [
          "f32 in (100, 200)",
          WireSchema.f32.check(Schema.isGreaterThan(100), Schema.isLessThan(200)),
          (n) => typeof n === "number" && n > 100 && n < 200 && Math.fround(n) === n
        ],
        [
          "u8Array of at most 8",
          WireSchema.u8Array.check(Schema.isMaxLength(8)),
          (a) => a instanceof Uint8Array && a.length <= 8 && a.length % 4 === 0
        ]
      ]
      for (const [name, schema, holds] of cases) {
        // 200 samples allow 2000 discards: a generator that ignored the bounds would run out
        const samples = yield* Arbitrary.sampleEffect(Arbitrary.schema(schema), { count: 200, seed: name })
        expect(samples.every(holds), name).toBe(true)
      }
    })
  )
})
