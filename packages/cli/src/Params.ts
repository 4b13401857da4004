/**
 * Command-line params: `NAME[:TYPE]=VALUE` into an NCP param with a typed core `Value`.
 *
 * `TYPE` is a type name as the vectors' JSON form spells it: `i32`, `u32`, `i64`, `u64`, `f32`,
 * `f64`, `string`, `raw` (VALUE in hex, an optional `0x` prefix), or a data type `u8[]`,
 * `u16[]`, `u32[]`, `i8[]`, `i16[]`, `i32[]`, `u64[]`, `i64[]`, `f32[]`, `f64[]` (VALUE a comma
 * list, empty for an empty array; float elements may be `Infinity`, `-Infinity` or `NaN`).
 *
 * Without a TYPE the value's form decides: a decimal integer is an i32, another decimal
 * number (`2.5`, `1e6`) an f64, anything else a string. Nothing is rounded: an integer outside
 * its type's range, a fraction given to an integer type, or a finite number too large for its
 * float type is an error naming the param. (An f32 holds the float32 nearest to the number,
 * as the type implies.)
 *
 * @example
 * ```ts
 * import { Params } from "@effect-ncp/cli"
 *
 * Params.parseParam("FSTA=2400")        // Success({ name: "FSTA", value: { type: "i32", value: 2400 } })
 * Params.parseParam("GAIN:f32=-3.5")    // Success({ name: "GAIN", value: { type: "f32", value: -3.5 } })
 * Params.parseParam("MASK:u8[]=1,2,3")  // Success({ name: "MASK", value: { type: "u8[]", value: Uint8Array [1, 2, 3] } })
 * Params.parseParam("N:u32=-1")         // Failure(ParamError: param "N": -1 is outside the u32 range ...)
 * ```
 *
 * @module
 * @since 0.1.0
 */
import { Field, Identifier, Value } from "@effect-ncp/core"
import * as Hex from "effect/encoding/Hex"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"

/**
 * A command-line param that cannot be turned into an NCP param. Its message names the param:
 * `param "N": -1 is outside the u32 range 0..4294967295`, or, when the argument has no valid
 * name, the argument itself: `param "FSTA": expected NAME[:TYPE]=VALUE, e.g. FSTA=400`.
 */
export class ParamError extends Schema.TaggedError<ParamError>()("ParamError", {
  /** The argument as given. */
  input: Schema.String,
  /**
   * The param's name, when the argument got that far. (Not `name`: that is the error's own
   * name, `"ParamError"`, which would then stand in for a missing param name.)
   */
  param: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  override get message(): string {
    return `param ${JSON.stringify(this.param ?? this.input)}: ${this.detail}`
  }
}

/** The type names a param may be given, as the vectors' JSON form spells them. */
export const paramTypes: ReadonlyArray<Value.KnownType> = Value.knownTypes

/** Parses one `NAME[:TYPE]=VALUE` argument. */
export const parseParam = (input: string): Result.Result<Field.Param, ParamError> => {
  const equals = input.indexOf("=")
  if (equals < 0) {
    const example = Identifier.isIdentifier(input) ? `, e.g. ${input}=400` : ""
    return Result.fail(new ParamError({ input, detail: `expected NAME[:TYPE]=VALUE${example}` }))
  }
  const left = input.slice(0, equals)
  const text = input.slice(equals + 1)
  const colon = left.indexOf(":")
  const name = colon < 0 ? left : left.slice(0, colon)
  if (!Identifier.isIdentifier(name)) {
    return Result.fail(new ParamError({ input, detail: `invalid param name "${name}": 1-4 characters of A-Z and 0-9` }))
  }
  const fail = (detail: string) => Result.fail(new ParamError({ input, param: name, detail }))
  if (colon < 0) {
    const value = inferValue(name, text)
    return typeof value === "string" ? fail(value) : Result.succeed(Field.param(name, value))
  }
  const typeName = left.slice(colon + 1)
  if (!isParamType(typeName)) {
    return fail(`unknown type "${typeName}"; expected one of ${paramTypes.join(", ")}`)
  }
  const value = parseTyped(typeName, text)
  return typeof value === "string" ? fail(value) : Result.succeed(Field.param(name, value))
}

/** Parses every argument, stopping at the first that is not a param. */
export const parseParams = (inputs: ReadonlyArray<string>): Result.Result<ReadonlyArray<Field.Param>, ParamError> => {
  const params: Array<Field.Param> = []
  for (const input of inputs) {
    const param = parseParam(input)
    if (Result.isFailure(param)) return Result.fail(param.failure)
    params.push(param.success)
  }
  return Result.succeed(params)
}

const isParamType = (name: string): name is Value.KnownType => (paramTypes as ReadonlyArray<string>).includes(name)

const integerPattern = /^[+-]?\d+$/
const decimalPattern = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/

const integerRanges = {
  i32: [-(2n ** 31n), 2n ** 31n - 1n],
  u32: [0n, 2n ** 32n - 1n],
  i64: [-(2n ** 63n), 2n ** 63n - 1n],
  u64: [0n, 2n ** 64n - 1n],
  u8: [0n, 255n],
  u16: [0n, 65535n],
  i8: [-128n, 127n],
  i16: [-32768n, 32767n]
} as const

type IntegerKind = keyof typeof integerRanges

/** The integer in `text`, range-checked for `kind`, or why not. */
const parseInteger = (text: string, kind: IntegerKind): bigint | string => {
  const trimmed = text.trim()
  if (!integerPattern.test(trimmed)) {
    return decimalPattern.test(trimmed)
      ? `${JSON.stringify(text)} is not an integer; a ${kind} holds whole numbers only`
      : `${JSON.stringify(text)} is not a decimal integer`
  }
  const value = BigInt(trimmed)
  const [min, max] = integerRanges[kind]
  if (value < min || value > max) return `${trimmed} is outside the ${kind} range ${min}..${max}`
  return value
}

const F32_MAX = 3.4028234663852886e38

/** The number in `text` for a float of `kind`, or why not: decimal, `Infinity`, `-Infinity`, `NaN`. */
const parseReal = (text: string, kind: "f32" | "f64"): number | string => {
  const trimmed = text.trim()
  switch (trimmed) {
    case "Infinity":
    case "+Infinity":
      return Number.POSITIVE_INFINITY
    case "-Infinity":
      return Number.NEGATIVE_INFINITY
    case "NaN":
      return Number.NaN
  }
  if (!decimalPattern.test(trimmed)) return `${JSON.stringify(text)} is not a number`
  const value = Number(trimmed)
  // A finite number written out must not silently become Infinity in its type.
  const limit = kind === "f32" ? F32_MAX : Number.MAX_VALUE
  if (!Number.isFinite(value) || Math.abs(value) > limit) {
    return `${trimmed} is outside the ${kind} range (largest finite magnitude ${limit})`
  }
  return value
}

const parseTyped = (type: Value.KnownType, text: string): Value.Value | string => {
  switch (type) {
    case "i32":
    case "u32": {
      const n = parseInteger(text, type)
      return typeof n === "string" ? n : { type, value: Number(n) }
    }
    case "i64":
    case "u64": {
      const n = parseInteger(text, type)
      return typeof n === "string" ? n : { type, value: n }
    }
    case "f32":
    case "f64": {
      const n = parseReal(text, type)
      return typeof n === "string" ? n : { type, value: n }
    }
    case "string":
      return text.includes("\u0000") ? "a string cannot hold a NUL character" : Value.string(text)
    case "raw": {
      const hex = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text
      const bytes = Result.getOrUndefined(Hex.decode(hex))
      return bytes === undefined ? `${JSON.stringify(text)} is not hex (an even number of 0-9, a-f)` : Value.raw(bytes)
    }
    case "u8[]":
      return integerArray(text, "u8", Value.u8Array)
    case "u16[]":
      return integerArray(text, "u16", Value.u16Array)
    case "u32[]":
      return integerArray(text, "u32", Value.u32Array)
    case "i8[]":
      return integerArray(text, "i8", Value.i8Array)
    case "i16[]":
      return integerArray(text, "i16", Value.i16Array)
    case "i32[]":
      return integerArray(text, "i32", Value.i32Array)
    case "u64[]":
      return bigintArray(text, "u64", Value.u64Array)
    case "i64[]":
      return bigintArray(text, "i64", Value.i64Array)
    case "f32[]":
      return floatArray(text, "f32", Value.f32Array)
    case "f64[]":
      return floatArray(text, "f64", Value.f64Array)
  }
}

/** The elements of a comma list; an empty VALUE is an empty array. */
const elements = (text: string): ReadonlyArray<string> => (text.trim() === "" ? [] : text.split(","))

const mapElements = <A>(text: string, parse: (element: string) => A | string): ReadonlyArray<A> | string => {
  const out: Array<A> = []
  const items = elements(text)
  for (let i = 0; i < items.length; i++) {
    const parsed = parse(items[i] ?? "")
    if (typeof parsed === "string") return `element ${i}: ${parsed}`
    out.push(parsed)
  }
  return out
}

const integerArray = <V extends Value.Value>(
  text: string,
  kind: "u8" | "u16" | "u32" | "i8" | "i16" | "i32",
  make: (values: ReadonlyArray<number>) => V
): V | string => {
  const values = mapElements(text, (element) => {
    const n = parseInteger(element, kind)
    return typeof n === "string" ? n : Number(n)
  })
  return typeof values === "string" ? values : make(values)
}

const bigintArray = <V extends Value.Value>(
  text: string,
  kind: "u64" | "i64",
  make: (values: ReadonlyArray<bigint>) => V
): V | string => {
  const values = mapElements(text, (element) => parseInteger(element, kind))
  return typeof values === "string" ? values : make(values)
}

const floatArray = <V extends Value.Value>(
  text: string,
  kind: "f32" | "f64",
  make: (values: ReadonlyArray<number>) => V
): V | string => {
  const values = mapElements(text, (element) => parseReal(element, kind))
  return typeof values === "string" ? values : make(values)
}

/** The value of an untyped param: i32 for a decimal integer, f64 for another number, else a string. */
const inferValue = (name: string, text: string): Value.Value | string => {
  if (integerPattern.test(text)) {
    const n = parseInteger(text, "i32")
    return typeof n === "string"
      ? `${n}; give a type for a wider integer, e.g. ${name}:i64=${text}`
      : Value.i32(Number(n))
  }
  if (decimalPattern.test(text)) {
    const n = parseReal(text, "f64")
    return typeof n === "string" ? n : Value.f64(n)
  }
  return Value.string(text)
}
