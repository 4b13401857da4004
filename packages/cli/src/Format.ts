/**
 * Fields as the `ncp` command prints them: one JSON line per field, the form `ncp decode`
 * prints (`{"packet_type","packet_id","timestamp","name","id","params"}`, params as in the
 * vectors), or a readable block: a header line, then one line per param with its type and
 * value (long data arrays shortened).
 *
 * @example
 * ```ts
 * import { Format } from "@effect-ncp/cli"
 *
 * console.log(Format.fieldText(reply))
 * // DSPC SWEP id 1 packet 1 at 2024-05-17T12:30:45.123456+00:00
 * //   FSTA  i32   400
 * //   PDAT  u8[]  1024 values: 73 75 72 70 71 ...
 * ```
 *
 * @module
 * @since 0.1.0
 */
import { type Fleet, Json, Timestamp, type Value } from "@effect-ncp/core"
import * as Hex from "effect/encoding/Hex"

/** A received field (a connection's, or a fleet's reply) as one JSON line, the form `ncp decode` prints. */
export const fieldJson = (field: Fleet.ReplyField): string =>
  JSON.stringify({
    packet_type: field.packetType,
    packet_id: field.packetId,
    timestamp: Timestamp.toIsoString(field.packetTimestamp),
    name: field.name,
    id: field.id,
    params: field.params.map(Json.fromParam)
  })

/** How many elements of a data array the readable form shows. */
export const shownElements = 16

/** A value as readable text: strings quoted, data arrays as a count and the first elements. */
export const valueText = (value: Value.Value): string => {
  switch (value.type) {
    case "string":
      return JSON.stringify(value.value)
    case "raw":
    case "unknown": {
      const shown = Hex.encode(value.value.subarray(0, 64))
      return `${value.value.length} bytes: ${shown}${value.value.length > 64 ? "..." : ""}`
    }
    case "i32":
    case "u32":
    case "i64":
    case "u64":
    case "f32":
    case "f64":
      return String(value.value)
    default: {
      const elements: ArrayLike<number | bigint> = value.value
      const shown = Array.from({ length: Math.min(shownElements, elements.length) }, (_, i) => String(elements[i]))
      const more = elements.length > shownElements ? " ..." : ""
      return `${elements.length} values: ${shown.join(" ")}${more}`
    }
  }
}

/** A received field (a connection's, or a fleet's reply) as a readable block: a header line, then one line per param. */
export const fieldText = (field: Fleet.ReplyField): string => {
  const header = `${field.packetType} ${field.name} id ${field.id} packet ${field.packetId} at ${Timestamp.toIsoString(field.packetTimestamp)}`
  const nameWidth = Math.max(4, ...field.params.map((param) => param.name.length))
  const typeWidth = Math.max(4, ...field.params.map((param) => typeName(param.value).length))
  const lines = field.params.map(
    (param) =>
      `  ${param.name.padEnd(nameWidth)}  ${typeName(param.value).padEnd(typeWidth)}  ${valueText(param.value)}`
  )
  return [header, ...lines].join("\n")
}

const typeName = (value: Value.Value): string =>
  value.type === "unknown" ? `0x${value.code.toString(16)}` : value.type
