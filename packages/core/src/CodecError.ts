/**
 * What the codec reports: `DecodeError` when bytes are not a packet, `DecodeWarning` for a
 * recoverable oddity in a packet that still decoded, `EncodeError` when a packet cannot be
 * written. Each says which check failed and where (byte offset; packet, field and param).
 *
 * @module
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as NcpError from "./NcpError.js"

/** Which decode check failed. */
export const DecodeErrorReason = Schema.Literals([
  "HeaderMagic",
  "FooterMagic",
  "PacketTooSmall",
  "PacketSizeMismatch",
  "PacketTooLarge",
  "FieldOverflow",
  "ParamOverflow",
  "ZeroSize",
  "InvalidUtf8",
  "Truncated",
  "TooManyFields",
  "TooManyParams",
  "InvalidName"
])
export type DecodeErrorReason = typeof DecodeErrorReason.Type

/**
 * Bytes that are not a valid NCP packet. `offset` is the byte offset of the failing check,
 * counted from the start of the packet (for a stream, from the start of the stream).
 *
 * @example
 * ```ts
 * import { Decoder } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * const result = Decoder.decodePacket(new Uint8Array(8))
 * if (Result.isFailure(result)) console.log(result.failure.message)
 * // "packet too small: 8 bytes, a packet needs at least 40 (at offset 0)"
 * ```
 */
export class DecodeError extends Schema.TaggedError<DecodeError>()("DecodeError", {
  reason: DecodeErrorReason,
  offset: Schema.Number,
  detail: Schema.String,
  packetType: Schema.optional(Schema.String),
  field: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String)
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    return `${this.detail}${where(this)} (at offset ${this.offset})`
  }
}

/**
 * The kind of a decode warning: `UnknownType` (a param of a type code this library does not
 * know, kept with its bytes), `LegacyFooter` (the footer some old nodes embed in a field,
 * skipped), `NanosOutOfRange` (a timestamp whose nanoseconds word is 10^9 or more, kept as
 * sent; see `Timestamp`).
 */
export const DecodeWarningKind = Schema.Literals(["UnknownType", "LegacyFooter", "NanosOutOfRange"])
export type DecodeWarningKind = typeof DecodeWarningKind.Type

/**
 * A recoverable oddity in a packet that still decoded: a param of an unknown type code (kept
 * with its bytes), the legacy footer some old nodes embed in a field (skipped), or a timestamp
 * nanoseconds word of 10^9 or more (kept as sent).
 */
export class DecodeWarning extends Schema.Class<DecodeWarning>("DecodeWarning")({
  kind: DecodeWarningKind,
  offset: Schema.Number,
  detail: Schema.String,
  packetType: Schema.optional(Schema.String),
  field: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String)
}) {
  get message(): string {
    return `${this.detail}${where(this)} (at offset ${this.offset})`
  }
}

/**
 * All the decode warnings of one kind in one packet: how many, and where the first was. A
 * packet keeps one summary per kind it met however many warnings it had, so a peer cannot
 * make the decoder (or a log) hold one entry per param.
 *
 * @example
 * ```ts
 * import { Decoder } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * declare const bytes: Uint8Array
 * const { warningSummary } = Result.getOrThrow(Decoder.decodePacket(bytes))
 * for (const summary of warningSummary) console.log(summary.message)
 * // "1048576 UnknownType warnings, the first: unknown type code 0x99, kept as bytes in
 * //  packet "DSPC", field "ECHO", param "P" (at offset 52)"
 * ```
 */
export class DecodeWarningSummary extends Schema.Class<DecodeWarningSummary>("DecodeWarningSummary")({
  kind: DecodeWarningKind,
  /** How many warnings of this kind the packet gave. */
  count: Schema.Number,
  /** The offset of the first. */
  offset: Schema.Number,
  /** The detail of the first. */
  detail: Schema.String,
  packetType: Schema.optional(Schema.String),
  field: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String)
}) {
  get message(): string {
    const first = `${this.detail}${where(this)} (at offset ${this.offset})`
    return this.count === 1 ? first : `${this.count} ${this.kind} warnings, the first: ${first}`
  }
}

/** Which encode check failed. */
export const EncodeErrorReason = Schema.Literals(["InvalidIdentifier", "InvalidValue", "TooLarge"])
export type EncodeErrorReason = typeof EncodeErrorReason.Type

/**
 * A packet that cannot be written: an invalid identifier, a value its wire type cannot hold
 * (out of range, not a wire type, a string with NUL or lone surrogates), or a size the wire's
 * 24/32-bit size words cannot express.
 */
export class EncodeError extends Schema.TaggedError<EncodeError>()("EncodeError", {
  reason: EncodeErrorReason,
  detail: Schema.String,
  packetType: Schema.optional(Schema.String),
  field: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String)
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    return `${this.detail}${where(this)}`
  }
}

const where = (at: {
  readonly packetType?: string | undefined
  readonly field?: string | undefined
  readonly param?: string | undefined
}): string => {
  const parts: Array<string> = []
  if (at.packetType !== undefined) parts.push(`packet ${JSON.stringify(at.packetType)}`)
  if (at.field !== undefined) parts.push(`field ${JSON.stringify(at.field)}`)
  if (at.param !== undefined) parts.push(`param ${JSON.stringify(at.param)}`)
  return parts.length === 0 ? "" : ` in ${parts.join(", ")}`
}
