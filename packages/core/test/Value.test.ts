import { describe, expect, it } from "@effect/vitest"
import * as Result from "effect/Result"
import { CodecError, Encoder, type Packet, Value } from "../src/index.js"

describe("Value.fromInputOrReason: the documented defaults", () => {
  const nodeBuffer = Buffer.from([1, 2])
  const cases: ReadonlyArray<readonly [string, Value.Input, Value.Value]> = [
    ["an integer in i32 range is an i32", 2400, Value.i32(2400)],
    ["the smallest i32 is an i32", -2147483648, Value.i32(-2147483648)],
    ["the largest i32 is an i32", 2147483647, Value.i32(2147483647)],
    ["a safe integer above i32 is an i64", 2147483648, Value.i64(2147483648n)],
    ["a safe integer below i32 is an i64", -2147483649, Value.i64(-2147483649n)],
    ["the largest safe integer is an i64", Number.MAX_SAFE_INTEGER, Value.i64(BigInt(Number.MAX_SAFE_INTEGER))],
    ["an unsafe integer is an f64", 2 ** 53, Value.f64(2 ** 53)],
    ["a fraction is an f64", 0.5, Value.f64(0.5)],
    ["-0 is an f64", -0, Value.f64(-0)],
    ["NaN is an f64", Number.NaN, Value.f64(Number.NaN)],
    ["Infinity is an f64", Number.POSITIVE_INFINITY, Value.f64(Number.POSITIVE_INFINITY)],
    ["-Infinity is an f64", Number.NEGATIVE_INFINITY, Value.f64(Number.NEGATIVE_INFINITY)],
    ["true is i32 1", true, Value.i32(1)],
    ["false is i32 0", false, Value.i32(0)],
    ["a string is a string", "rx1", Value.string("rx1")],
    ["the empty string is a string", "", Value.string("")],
    ["a bigint in i64 range is an i64", -5n, Value.i64(-5n)],
    ["the largest i64 bigint is an i64", 2n ** 63n - 1n, Value.i64(2n ** 63n - 1n)],
    ["a bigint above i64 is a u64", 2n ** 63n, Value.u64(2n ** 63n)],
    ["the largest u64 bigint is a u64", 2n ** 64n - 1n, Value.u64(2n ** 64n - 1n)],
    ["a Uint8Array is raw", new Uint8Array([1, 2]), Value.raw(new Uint8Array([1, 2]))],
    ["a Node Buffer is raw", nodeBuffer, Value.raw(nodeBuffer)],
    ["a Uint8ClampedArray is data u8", new Uint8ClampedArray([255]), Value.u8Array([255])],
    ["a Uint16Array is data u16", new Uint16Array([7]), Value.u16Array([7])],
    ["a Uint32Array is data u32", new Uint32Array([7]), Value.u32Array([7])],
    ["an Int8Array is data i8", new Int8Array([-7]), Value.i8Array([-7])],
    ["an Int16Array is data i16", new Int16Array([-7]), Value.i16Array([-7])],
    ["an Int32Array is data i32", new Int32Array([-7]), Value.i32Array([-7])],
    ["a BigUint64Array is data u64", new BigUint64Array([7n]), Value.u64Array([7n])],
    ["a BigInt64Array is data i64", new BigInt64Array([-7n]), Value.i64Array([-7n])],
    ["a Float32Array is data f32", new Float32Array([1.5]), Value.f32Array([1.5])],
    ["a Float64Array is data f64", new Float64Array([0.1]), Value.f64Array([0.1])],
    ["a Value passes unchanged", Value.u32(7), Value.u32(7)]
  ]
  for (const [name, input, expected] of cases) {
    it(name, () => {
      const mapped = Value.fromInputOrReason(input)
      expect(mapped).toEqual(expected)
      if (typeof mapped !== "string") expect(mapped.value.constructor).toBe(expected.value.constructor)
    })
  }

  it("a typed array keeps its memory (no copy)", () => {
    const array = new Float32Array([1, 2])
    const mapped = Value.fromInputOrReason(array)
    expect(typeof mapped !== "string" && mapped.value).toBe(array)
  })

  const refused: ReadonlyArray<readonly [string, unknown, string]> = [
    ["a bigint below i64 is refused", -(2n ** 63n) - 1n, "outside the i64 and u64 ranges"],
    ["a bigint above u64 is refused", 2n ** 64n, "outside the i64 and u64 ranges"],
    ["a plain object is refused", { a: 1 }, "has no NCP wire type"],
    ["an array is refused", [1, 2], "has no NCP wire type"],
    ["a Date is refused", new Date(0), "has no NCP wire type"],
    ["a DataView is refused", new DataView(new ArrayBuffer(4)), "has no NCP wire type"],
    ["null is refused", null, "null has no NCP wire type"],
    ["undefined is refused", undefined, "a undefined has no NCP wire type"],
    ["an object tagged with an Object.prototype key is refused", { type: "toString", value: 1 }, "no NCP wire type"]
  ]
  for (const [name, input, reason] of refused) {
    it(`${name} with a reason`, () => {
      const mapped = Value.fromInputOrReason(input as Value.Input)
      expect(typeof mapped).toBe("string")
      expect(mapped).toContain(reason)
    })
  }
})

const refusal = (packet: Packet.PacketInput): CodecError.EncodeError => {
  const result = Encoder.encodePacket(packet)
  if (Result.isSuccess(result)) throw new Error("expected encodePacket to refuse the packet")
  expect(result.failure).toBeInstanceOf(CodecError.EncodeError)
  return result.failure
}

const withParam = (value: Value.Input): Packet.PacketInput => ({
  type: "DSPC",
  fields: [{ name: "SWEP", id: 1, params: [["FSTA", value]] }]
})

describe("encodePacket refuses what the wire cannot hold", () => {
  const badValues: ReadonlyArray<readonly [string, unknown, string]> = [
    ["i32 2^31", Value.i32(2 ** 31), "2147483648 is not an i32"],
    ["i32 below -2^31", Value.i32(-(2 ** 31) - 1), "is not an i32"],
    ["a non-integer i32", Value.i32(1.5), "1.5 is not an i32"],
    ["a NaN i32", Value.i32(Number.NaN), "NaN is not an i32"],
    ["u32 -1", Value.u32(-1), "-1 is not a u32"],
    ["u32 2^32", Value.u32(2 ** 32), "is not a u32"],
    ["a non-integer u32", Value.u32(0.5), "is not a u32"],
    ["i64 2^63", Value.i64(2n ** 63n), "is not an i64"],
    ["u64 -1", Value.u64(-1n), "is not a u64"],
    ["u64 2^64", Value.u64(2n ** 64n), "is not a u64"],
    ["a bigint input above u64", 2n ** 64n, "outside the i64 and u64 ranges"],
    ["a string with NUL", "a\u0000b", "contains a NUL character"],
    ["a string with a lone high surrogate", "a\ud800", "contains a lone surrogate"],
    ["a string with a lone low surrogate", "\udc00b", "contains a lone surrogate"],
    ["a plain object", { a: 1 }, "has no NCP wire type"],
    ["a value tagged with an unknown type", { type: "f16", value: 1 }, 'unknown value type "f16"'],
    ["a value tagged constructor", { type: "constructor", value: {} }, 'unknown value type "constructor"'],
    ["a value tagged toString", { type: "toString", value: {} }, 'unknown value type "toString"'],
    ["an unknown value whose code is not a byte", Value.unknown(256, new Uint8Array(4)), "is not a byte"],
    ["a raw value that is not bytes", { type: "raw", value: [1, 2] }, "raw value is not a Uint8Array"],
    ["an f32[] value that is not a Float32Array", { type: "f32[]", value: new Float64Array([1]) }, "not a Float32Array"]
  ]
  for (const [name, value, detail] of badValues) {
    it(`refuses ${name} with an InvalidValue error naming packet, field and param`, () => {
      const error = refusal(withParam(value as Value.Input))
      expect(error.reason).toBe("InvalidValue")
      expect(error.packetType).toBe("DSPC")
      expect(error.field).toBe("SWEP")
      expect(error.param).toBe("FSTA")
      expect(error.detail).toContain(detail)
      expect(error.message).toContain('in packet "DSPC", field "SWEP", param "FSTA"')
    })
  }

  for (const name of ["swep", "TOOLONG", "", "A-B", "DSP "]) {
    it(`refuses packet type ${JSON.stringify(name)} as an InvalidIdentifier`, () => {
      const error = refusal({ type: name, fields: [] })
      expect(error.reason).toBe("InvalidIdentifier")
      expect(error.packetType).toBe(name)
      expect(error.field).toBeUndefined()
      expect(error.param).toBeUndefined()
    })

    it(`refuses field name ${JSON.stringify(name)} as an InvalidIdentifier`, () => {
      const error = refusal({ type: "DSPC", fields: [{ name, id: 1, params: [] }] })
      expect(error.reason).toBe("InvalidIdentifier")
      expect(error.packetType).toBe("DSPC")
      expect(error.field).toBe(name)
      expect(error.param).toBeUndefined()
    })

    it(`refuses param name ${JSON.stringify(name)} as an InvalidIdentifier`, () => {
      const error = refusal({ type: "DSPC", fields: [{ name: "SWEP", id: 1, params: { [name]: 1 } }] })
      expect(error.reason).toBe("InvalidIdentifier")
      expect(error.packetType).toBe("DSPC")
      expect(error.field).toBe("SWEP")
      expect(error.param).toBe(name)
    })
  }

  it("refuses a packet id, field id or timestamp that is not a u32, and info that is not 4 bytes", () => {
    const cases: ReadonlyArray<readonly [Packet.PacketInput, string | undefined]> = [
      [{ type: "DSPC", id: -1, fields: [] }, undefined],
      [{ type: "DSPC", id: 2 ** 32, fields: [] }, undefined],
      [{ type: "DSPC", timestamp: { seconds: -1, nanos: 0 }, fields: [] }, undefined],
      [{ type: "DSPC", timestamp: { seconds: 0, nanos: 2 ** 32 }, fields: [] }, undefined],
      [{ type: "DSPC", info: new Uint8Array(3), fields: [] }, undefined],
      [{ type: "DSPC", fields: [{ name: "SWEP", id: 1.5, params: [] }] }, "SWEP"]
    ]
    for (const [packet, field] of cases) {
      const error = refusal(packet)
      expect(error.reason).toBe("InvalidValue")
      expect(error.packetType).toBe("DSPC")
      expect(error.field).toBe(field)
      expect(error.param).toBeUndefined()
    }
  })

  it("names the field and param at fault when a later field holds the bad value", () => {
    const error = refusal({
      type: "DSPC",
      fields: [
        { name: "SWEP", id: 1, params: { FSTA: 1 } },
        { name: "TIME", id: 2, params: { GAIN: Value.u32(-1) } }
      ]
    })
    expect([error.reason, error.packetType, error.field, error.param]).toEqual(["InvalidValue", "DSPC", "TIME", "GAIN"])
  })

  it("encodes again after a refusal (no state left from the failed packet)", () => {
    refusal(withParam(Value.u32(-1)))
    const result = Encoder.encodePacket(withParam(7))
    expect(Result.isSuccess(result)).toBe(true)
  })
})
