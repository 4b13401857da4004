import { Value } from "@effect-ncp/core"
import * as Result from "effect/Result"
import { describe, expect, it } from "vitest"
import * as Params from "../src/Params.js"

const value = (input: string): Value.Value => {
  const result = Params.parseParam(input)
  if (Result.isFailure(result)) throw new Error(`expected ${input} to parse: ${result.failure.message}`)
  return result.success.value
}

const failure = (input: string): Params.ParamError => {
  const result = Params.parseParam(input)
  if (Result.isSuccess(result)) throw new Error(`expected ${input} to fail, got ${JSON.stringify(result.success)}`)
  return result.failure
}

describe("Params.parseParam", () => {
  it("keeps the name", () => {
    const result = Params.parseParam("FSTA=1")
    expect(Result.isSuccess(result) && result.success.name).toBe("FSTA")
  })

  describe("without a type, the value's form decides", () => {
    it("a decimal integer is an i32", () => {
      expect(value("N=2400")).toEqual(Value.i32(2400))
      expect(value("N=-2147483648")).toEqual(Value.i32(-2147483648))
      expect(value("N=+7")).toEqual(Value.i32(7))
    })
    it("another number is an f64", () => {
      expect(value("N=2.5")).toEqual(Value.f64(2.5))
      expect(value("N=1e6")).toEqual(Value.f64(1e6))
      expect(value("N=-.5")).toEqual(Value.f64(-0.5))
    })
    it("anything else is a string", () => {
      expect(value("N=hello")).toEqual(Value.string("hello"))
      expect(value("N=")).toEqual(Value.string(""))
      expect(value("N=Infinity")).toEqual(Value.string("Infinity"))
      expect(value("N=0x10")).toEqual(Value.string("0x10"))
      expect(value("N=a=b")).toEqual(Value.string("a=b"))
    })
    it("an integer outside i32 is an error suggesting a type, not an i64", () => {
      const error = failure("N=2147483648")
      expect(error.param).toBe("N")
      expect(error.message).toContain('param "N"')
      expect(error.message).toContain("i32 range")
      expect(error.message).toContain("N:i64=2147483648")
    })
    it("a decimal too large for an f64 is an error, not Infinity", () => {
      expect(failure("N=1e999").message).toContain("f64 range")
    })
  })

  describe("scalar types", () => {
    it("i32 and u32 take integers in range", () => {
      expect(value("N:i32=-5")).toEqual(Value.i32(-5))
      expect(value("N:u32=4294967295")).toEqual(Value.u32(4294967295))
      expect(failure("N:u32=-1").message).toContain("u32 range")
      expect(failure("N:i32=2147483648").message).toContain("i32 range")
      expect(failure("N:u32=4294967296").message).toContain("u32 range")
    })
    it("integer types refuse fractions instead of rounding", () => {
      expect(failure("N:i32=1.5").message).toContain("not an integer")
      expect(failure("N:u32=abc").message).toContain("not a decimal integer")
    })
    it("i64 and u64 keep every digit as bigint", () => {
      expect(value("N:i64=-9223372036854775808")).toEqual(Value.i64(-(2n ** 63n)))
      expect(value("N:u64=18446744073709551615")).toEqual(Value.u64(2n ** 64n - 1n))
      expect(failure("N:u64=18446744073709551616").message).toContain("u64 range")
      expect(failure("N:i64=9223372036854775808").message).toContain("i64 range")
    })
    it("f32 and f64 take numbers, Infinity and NaN", () => {
      expect(value("N:f32=-3.5")).toEqual(Value.f32(-3.5))
      expect(value("N:f64=0.1")).toEqual(Value.f64(0.1))
      expect(value("N:f64=7")).toEqual(Value.f64(7))
      expect(value("N:f32=-Infinity")).toEqual(Value.f32(Number.NEGATIVE_INFINITY))
      expect(Number.isNaN(value("N:f64=NaN").value)).toBe(true)
      expect(failure("N:f32=1e39").message).toContain("f32 range")
      expect(failure("N:f64=x").message).toContain("not a number")
    })
    it("string keeps the text as given", () => {
      expect(value("N:string=42")).toEqual(Value.string("42"))
      expect(value("N:string= a b ")).toEqual(Value.string(" a b "))
    })
    it("raw takes hex, with or without 0x", () => {
      expect(value("N:raw=666f6f")).toEqual(Value.raw(Uint8Array.of(0x66, 0x6f, 0x6f)))
      expect(value("N:raw=0xFF00")).toEqual(Value.raw(Uint8Array.of(0xff, 0)))
      expect(value("N:raw=")).toEqual(Value.raw(new Uint8Array(0)))
      expect(failure("N:raw=abc").message).toContain("not hex")
      expect(failure("N:raw=zz").message).toContain("not hex")
    })
  })

  describe("data types take a comma list", () => {
    it("every integer array type, range-checked per element", () => {
      expect(value("N:u8[]=1,2,255")).toEqual(Value.u8Array([1, 2, 255]))
      expect(value("N:u16[]=65535")).toEqual(Value.u16Array([65535]))
      expect(value("N:u32[]=4294967295,0")).toEqual(Value.u32Array([4294967295, 0]))
      expect(value("N:i8[]=-128,127")).toEqual(Value.i8Array([-128, 127]))
      expect(value("N:i16[]=-32768, 32767")).toEqual(Value.i16Array([-32768, 32767]))
      expect(value("N:i32[]=-1,2")).toEqual(Value.i32Array([-1, 2]))
      expect(value("N:u64[]=18446744073709551615")).toEqual(Value.u64Array([2n ** 64n - 1n]))
      expect(value("N:i64[]=-9223372036854775808,1")).toEqual(Value.i64Array([-(2n ** 63n), 1n]))
    })
    it("float arrays allow Infinity", () => {
      expect(value("N:f32[]=1.5,Infinity,-Infinity")).toEqual(
        Value.f32Array([1.5, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY])
      )
      expect(value("N:f64[]=0.1,-2")).toEqual(Value.f64Array([0.1, -2]))
    })
    it("an empty value is an empty array", () => {
      expect(value("N:u8[]=")).toEqual(Value.u8Array([]))
      expect(value("N:f64[]=")).toEqual(Value.f64Array([]))
    })
    it("an element out of range is an error naming the param and the element", () => {
      const error = failure("MASK:u8[]=1,256")
      expect(error.message).toBe('param "MASK": element 1: 256 is outside the u8 range 0..255')
      expect(failure("N:i8[]=-129").message).toContain("i8 range")
      expect(failure("N:u16[]=1,,2").message).toContain("element 1")
      expect(failure("N:f32[]=1e40").message).toContain("f32 range")
      expect(failure("N:u64[]=-1").message).toContain("u64 range")
    })
  })

  describe("malformed arguments", () => {
    it("needs an =", () => {
      expect(failure("FSTA").message).toContain("NAME[:TYPE]=VALUE")
    })
    it("names the bad argument, never the error's own name", () => {
      expect(failure("FSTA").message).toBe('param "FSTA": expected NAME[:TYPE]=VALUE, e.g. FSTA=400')
      expect(failure("fsta").message).toBe('param "fsta": expected NAME[:TYPE]=VALUE')
      expect(failure("fsta=1").message).toBe('param "fsta=1": invalid param name "fsta": 1-4 characters of A-Z and 0-9')
      for (const input of ["FSTA", "fsta=1", "N:u32=-1", "N:int=1"]) {
        expect(failure(input).message).not.toContain("ParamError")
      }
    })
    it("needs a valid identifier", () => {
      expect(failure("fsta=1").message).toContain("invalid param name")
      expect(failure("TOOLONG=1").message).toContain("invalid param name")
      expect(failure("=1").message).toContain("invalid param name")
    })
    it("needs a known type", () => {
      const error = failure("N:int=1")
      expect(error.message).toContain('unknown type "int"')
      expect(error.message).toContain("u8[]")
    })
  })
})

describe("Params.parseParams", () => {
  it("keeps order and duplicates", () => {
    const result = Params.parseParams(["A=1", "B:string=x", "A=2"])
    expect(Result.isSuccess(result) && result.success.map((p) => [p.name, p.value.value])).toEqual([
      ["A", 1],
      ["B", "x"],
      ["A", 2]
    ])
  })
  it("fails at the first bad param", () => {
    const result = Params.parseParams(["A=1", "B:u8[]=300", "C:bad=1"])
    expect(Result.isFailure(result) && result.failure.param).toBe("B")
  })
})
