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
 *   `{"name", "id", "params": [[name, value], ...]}` and an ISO 8601 timestamp
 *   (`Timestamp.toIsoString`).
 *
 * **Timestamps whose nanoseconds word is 10^9 or more.** The wire can carry such a word, and a
 * decoded packet keeps it as sent. Its `timestamp` is then the ISO 8601 text of the instant the
 * words denote, followed by the nanoseconds word as sent in an RFC 9557 suffix tag:
 * `"2024-05-17T12:30:46.500000+00:00[_ncp-nanos=1500000000]"` for seconds 1715949045 and
 * nanoseconds 1500000000. {@link toPacket} reads the words back from it, so decoding, the JSON
 * form and encoding again give the same bytes. A timestamp whose nanoseconds are below 10^9
 * (every real one) has no suffix. Readers that only want the instant can drop everything from
 * the `[`; parsers of RFC 9557 (such as `Temporal`) ignore the tag, which is not critical.
 *
 * @example
 * ```ts
 * import { Decoder, Json } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * declare const bytes: Uint8Array
 * const { packet } = Result.getOrThrow(Decoder.decodePacket(bytes))
 * console.log(JSON.stringify(Json.fromPacket(packet)))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Hex from "effect/encoding/Hex"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as WireType from "./codec/wireType.js"
import type { Field, Param } from "./Field.js"
import * as NcpError from "./NcpError.js"
import type { Packet } from "./Packet.js"
import * as Timestamp from "./Timestamp.js"
import type * as Value from "./Value.js"

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

// The RFC 9557 suffix tag that keeps a nanoseconds word of 10^9 or more (module doc).
const NANOS_TAG = "_ncp-nanos"
const taggedPattern = new RegExp(`^(.*)\\[${NANOS_TAG}=(\\d{1,10})\\]$`)
const MAX_U32 = 0xffffffff

/** A timestamp in JSON form: ISO 8601, with the nanoseconds word as sent when it is 10^9 or more. */
const fromTimestamp = (timestamp: Timestamp.Timestamp): string => {
  const text = Timestamp.toIsoString(timestamp)
  return Timestamp.isNormalized(timestamp) ? text : `${text}[${NANOS_TAG}=${timestamp.nanos}]`
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
      return { type: "raw", hex: Hex.encode(value.value) }
    case "unknown":
      return { type: "unknown", code: value.code, hex: Hex.encode(value.value) }
    case "u64[]":
    case "i64[]":
      return { type: value.type, value: Array.from(value.value, (n) => n.toString()) }
    default:
      return { type: value.type, value: Array.from(value.value, jsonNumber) }
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
  timestamp: fromTimestamp(packet.timestamp),
  info_hex: Hex.encode(packet.info),
  fields: packet.fields.map(fromField)
})

/** JSON text that is not the JSON form of a value or packet, with the path of the fault. */
export class JsonError extends Schema.TaggedError<JsonError>()("JsonError", {
  path: Schema.String,
  detail: Schema.String
}) {
  static {
    NcpError.mark(this)
  }

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
  const bytes = typeof u === "string" ? Result.getOrUndefined(Hex.decode(u)) : undefined
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
    default: {
      // a Map: a tag such as "constructor" finds nothing
      const data = typeof type === "string" ? WireType.byName.get(type) : undefined
      if (data?.form !== "data") return invalid(`${path}.type`, `unknown value type ${JSON.stringify(type)}`)
      const toElement = data.domain.kind === "bigint" ? toBigInt : toNumber
      const elements = toList(u.value, at).map((x, i) => toElement(x, `${at}[${i}]`))
      return WireType.dataValue(data, data.ArrayClass.from(elements))
    }
  }
}

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

const parseTimestamp = (u: unknown): Timestamp.Timestamp => {
  const expected = () => invalid("$.timestamp", `expected an ISO 8601 time, got ${JSON.stringify(u)}`)
  if (typeof u !== "string") return expected()
  const tagged = taggedPattern.exec(u)
  const instant = Timestamp.fromIsoString(tagged === null ? u : (tagged[1] as string))
  if (instant === undefined) return expected()
  if (tagged === null) return instant
  // The tag gives the nanoseconds word as sent; the seconds word is what remains of the instant.
  const nanos = Number(tagged[2])
  const carried = Math.floor(nanos / Timestamp.NANOS_PER_SECOND)
  const seconds = instant.seconds - carried
  if (nanos > MAX_U32 || nanos % Timestamp.NANOS_PER_SECOND !== instant.nanos || seconds < 0) {
    return invalid(
      "$.timestamp",
      `the nanoseconds word ${tagged[2]} in ${JSON.stringify(u)} does not fit the time before it (its last 9 digits must be the time's fraction)`
    )
  }
  return { seconds, nanos }
}

const parsePacket = (u: unknown): Packet => {
  if (!isObject(u)) return invalid("$", "expected a packet object")
  if (typeof u.packet_type !== "string") return invalid("$.packet_type", "expected a string")
  const id = u.packet_id
  if (typeof id !== "number" || !Number.isInteger(id)) return invalid("$.packet_id", "expected an integer")
  const timestamp = parseTimestamp(u.timestamp)
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
