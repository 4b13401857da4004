/**
 * The JSON form of packets and values, exactly as the test vectors spell it, for logs, tools
 * and tests:
 *
 * - a value is `{"type": "i32", "value": 10}`; 64-bit integers are decimal strings
 *   (`{"type": "u64", "value": "18446744073709551615"}`); non-finite floats are the strings
 *   `"Infinity"`, `"-Infinity"` and `"NaN"`; raw bytes are hex (`{"type": "raw", "hex": "666f6f00"}`);
 *   data arrays are lists (`{"type": "f32[]", "value": [1, "Infinity"]}`); a value of an
 *   unknown type code is `{"type": "unknown", "code": 200, "hex": "..."}`;
 * - a packet is `{"packet_type", "packet_id", "timestamp", "info_hex", "fields"}` with fields
 *   `{"name", "id", "params": [[name, value], ...]}` and an ISO 8601 timestamp.
 *
 * @example
 * ```ts
 * import { Json, decodePacket } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * declare const bytes: Uint8Array
 * const { packet } = Result.getOrThrow(decodePacket(bytes))
 * console.log(JSON.stringify(Json.fromPacket(packet)))
 * ```
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import type { Field, Param } from "./Field.js"
import type { Packet } from "./Packet.js"
import * as Timestamp from "./Timestamp.js"
import * as Value from "./Value.js"

/** A number in JSON form: finite numbers as themselves, the rest as strings. */
export type JsonNumber = number | "Infinity" | "-Infinity" | "NaN"

/** A value in JSON form. */
export type ValueJson =
  | { readonly type: "i32" | "u32" | "f32" | "f64"; readonly value: JsonNumber }
  | { readonly type: "i64" | "u64"; readonly value: string }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "raw"; readonly hex: string }
  | {
      readonly type: "u8[]" | "u16[]" | "u32[]" | "i8[]" | "i16[]" | "i32[]" | "f32[]" | "f64[]"
      readonly value: ReadonlyArray<JsonNumber>
    }
  | { readonly type: "u64[]" | "i64[]"; readonly value: ReadonlyArray<string> }
  | { readonly type: "unknown"; readonly code: number; readonly hex: string }

/** A param in JSON form: `[name, value]`. */
export type ParamJson = readonly [string, ValueJson]

/** A field in JSON form. */
export interface FieldJson {
  readonly name: string
  readonly id: number
  readonly params: ReadonlyArray<ParamJson>
}

/** A packet in JSON form. */
export interface PacketJson {
  readonly packet_type: string
  readonly packet_id: number
  readonly timestamp: string
  readonly info_hex: string
  readonly fields: ReadonlyArray<FieldJson>
}

/** Bytes as lowercase hex. */
export const toHex = (bytes: Uint8Array): string => {
  let out = ""
  for (let i = 0; i < bytes.length; i++) out += hexDigits[bytes[i] as number]
  return out
}

const hexDigits = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"))

/** Hex text (any case, even length) as bytes, or `undefined` when it is not hex. */
export const fromHex = (hex: string): Uint8Array | undefined => {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) return undefined
  const bytes = new Uint8Array(hex.length / 2)
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16)
  return bytes
}

const jsonNumber = (n: number): JsonNumber =>
  Number.isFinite(n) ? n : Number.isNaN(n) ? "NaN" : n > 0 ? "Infinity" : "-Infinity"

/** A value in JSON form. */
export const fromValue = (value: Value.Value): ValueJson => {
  switch (value.type) {
    case "i32":
    case "u32":
    case "f32":
    case "f64":
      return { type: value.type, value: jsonNumber(value.value) }
    case "i64":
    case "u64":
      return { type: value.type, value: value.value.toString() }
    case "string":
      return { type: "string", value: value.value }
    case "raw":
      return { type: "raw", hex: toHex(value.value) }
    case "unknown":
      return { type: "unknown", code: value.code, hex: toHex(value.value) }
    case "u64[]":
    case "i64[]":
      return { type: value.type, value: Array.from(value.value, (n) => n.toString()) }
    default:
      return { type: value.type, value: Array.from(value.value as ArrayLike<number>, jsonNumber) }
  }
}

/** A param in JSON form. */
export const fromParam = (param: Param): ParamJson => [param.name, fromValue(param.value)]

/** A field in JSON form. */
export const fromField = (field: Field): FieldJson => ({
  name: field.name,
  id: field.id,
  params: field.params.map(fromParam)
})

/** A packet in JSON form. */
export const fromPacket = (packet: Packet): PacketJson => ({
  packet_type: packet.type,
  packet_id: packet.id,
  timestamp: Timestamp.toIsoString(packet.timestamp),
  info_hex: toHex(packet.info),
  fields: packet.fields.map(fromField)
})

/** JSON text that is not the JSON form of a value or packet, with the path of the fault. */
export class JsonError extends Schema.TaggedError<JsonError>()("JsonError", {
  path: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `${this.detail} at ${this.path}`
  }
}

class Invalid {
  constructor(
    readonly path: string,
    readonly detail: string
  ) {}
}

const invalid = (path: string, detail: string): never => {
  throw new Invalid(path, detail)
}

const catching = <A>(f: () => A): Result.Result<A, JsonError> => {
  try {
    return Result.succeed(f())
  } catch (thrown) {
    if (thrown instanceof Invalid) return Result.fail(new JsonError({ path: thrown.path, detail: thrown.detail }))
    throw thrown
  }
}

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

const toNumber = (u: unknown, path: string): number => {
  if (typeof u === "number") return u
  if (u === "Infinity") return Number.POSITIVE_INFINITY
  if (u === "-Infinity") return Number.NEGATIVE_INFINITY
  if (u === "NaN") return Number.NaN
  return invalid(path, `expected a number, "Infinity", "-Infinity" or "NaN", got ${JSON.stringify(u)}`)
}

const toBigInt = (u: unknown, path: string): bigint => {
  if (typeof u === "string" && /^-?\d+$/.test(u)) return BigInt(u)
  if (typeof u === "number" && Number.isSafeInteger(u)) return BigInt(u)
  return invalid(path, `expected a decimal integer string, got ${JSON.stringify(u)}`)
}

const toBytes = (u: unknown, path: string): Uint8Array => {
  const bytes = typeof u === "string" ? fromHex(u) : undefined
  return bytes ?? invalid(path, `expected hex text, got ${JSON.stringify(u)}`)
}

const toList = (u: unknown, path: string): ReadonlyArray<unknown> =>
  Array.isArray(u) ? u : invalid(path, `expected a list, got ${JSON.stringify(u)}`)

const parseValue = (u: unknown, path: string): Value.Value => {
  if (!isObject(u)) return invalid(path, `expected a value object {"type", "value"}, got ${JSON.stringify(u)}`)
  const type = u.type
  const at = `${path}.value`
  switch (type) {
    case "i32":
    case "u32":
    case "f32":
    case "f64":
      return { type, value: toNumber(u.value, at) }
    case "i64":
    case "u64":
      return { type, value: toBigInt(u.value, at) }
    case "string":
      return typeof u.value === "string"
        ? { type, value: u.value }
        : invalid(at, `expected a string, got ${JSON.stringify(u.value)}`)
    case "raw":
      return { type, value: toBytes(u.hex, `${path}.hex`) }
    case "unknown": {
      const code = u.code
      if (typeof code !== "number" || !Number.isInteger(code) || code < 0 || code > 255) {
        return invalid(`${path}.code`, `expected a type code 0-255, got ${JSON.stringify(code)}`)
      }
      return { type, code, value: toBytes(u.hex, `${path}.hex`) }
    }
    case "u64[]":
      return Value.u64Array(toList(u.value, at).map((x, i) => toBigInt(x, `${at}[${i}]`)))
    case "i64[]":
      return Value.i64Array(toList(u.value, at).map((x, i) => toBigInt(x, `${at}[${i}]`)))
    case "u8[]":
    case "u16[]":
    case "u32[]":
    case "i8[]":
    case "i16[]":
    case "i32[]":
    case "f32[]":
    case "f64[]": {
      const numbers = toList(u.value, at).map((x, i) => toNumber(x, `${at}[${i}]`))
      return numberArrays[type](numbers)
    }
    default:
      return invalid(`${path}.type`, `unknown value type ${JSON.stringify(type)}`)
  }
}

const numberArrays = {
  "u8[]": Value.u8Array,
  "u16[]": Value.u16Array,
  "u32[]": Value.u32Array,
  "i8[]": Value.i8Array,
  "i16[]": Value.i16Array,
  "i32[]": Value.i32Array,
  "f32[]": Value.f32Array,
  "f64[]": Value.f64Array
} as const

const parseParam = (u: unknown, path: string): Param => {
  if (!Array.isArray(u) || u.length !== 2 || typeof u[0] !== "string") {
    return invalid(path, `expected a param [name, value], got ${JSON.stringify(u)}`)
  }
  return { name: u[0], value: parseValue(u[1], `${path}[1]`) }
}

const parseField = (u: unknown, path: string): Field => {
  if (!isObject(u)) return invalid(path, "expected a field object")
  if (typeof u.name !== "string") return invalid(`${path}.name`, "expected a string")
  const id = u.id
  if (typeof id !== "number" || !Number.isInteger(id)) return invalid(`${path}.id`, "expected an integer")
  const params = toList(u.params, `${path}.params`).map((p, i) => parseParam(p, `${path}.params[${i}]`))
  return { name: u.name, id, params }
}

const parsePacket = (u: unknown): Packet => {
  if (!isObject(u)) return invalid("$", "expected a packet object")
  if (typeof u.packet_type !== "string") return invalid("$.packet_type", "expected a string")
  const id = u.packet_id
  if (typeof id !== "number" || !Number.isInteger(id)) return invalid("$.packet_id", "expected an integer")
  const timestamp = typeof u.timestamp === "string" ? Timestamp.fromIsoString(u.timestamp) : undefined
  if (timestamp === undefined)
    return invalid("$.timestamp", `expected an ISO 8601 time, got ${JSON.stringify(u.timestamp)}`)
  const info = u.info_hex === undefined ? new Uint8Array(4) : toBytes(u.info_hex, "$.info_hex")
  if (info.length !== 4) return invalid("$.info_hex", "expected 4 bytes")
  const fields = toList(u.fields, "$.fields").map((f, i) => parseField(f, `$.fields[${i}]`))
  return { type: u.packet_type, id, timestamp, info, fields }
}

/**
 * A value from its JSON form (already parsed from text), or a `JsonError` naming the path of
 * the fault.
 */
export const toValue = (json: unknown): Result.Result<Value.Value, JsonError> => catching(() => parseValue(json, "$"))

/** A packet from its JSON form (already parsed from text), or a `JsonError`. */
export const toPacket = (json: unknown): Result.Result<Packet, JsonError> => catching(() => parsePacket(json))
