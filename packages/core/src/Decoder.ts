/**
 * The packet decoder: a plain synchronous function from the bytes of one whole packet to a
 * `Packet`, with the decode warnings it met, or a `DecodeError` saying which check failed at
 * which byte offset.
 *
 * **Memory.** Data arrays and raw values are views on the given bytes, without copying,
 * wherever the alignment allows (always for raw, u8 and i8; for wider types when the value's
 * absolute offset in the underlying `ArrayBuffer` is a multiple of the element size); a
 * misaligned wide array is copied into fresh memory. Such a view shares memory with the bytes
 * you decoded: if you reuse or mutate that buffer, copy the values you keep (`value.slice()`),
 * or pass `{ copy: true }`, which copies every raw, data and unknown value and the info bytes.
 * The input may be any `Uint8Array` at any `byteOffset`, a Node `Buffer` included; every value
 * handed out is a plain `Uint8Array` or typed array (never a `Buffer`) whatever the input.
 *
 * **Sharing.** Empty things cost no allocation of their own: a field without params has a
 * shared frozen empty `params` array, and a zero-length raw, data or unknown value is a shared
 * frozen value object holding a frozen empty typed array. Neither can be mutated, and neither
 * views the input, so this holds with `{ copy: true }` too.
 *
 * **Work.** A packet of at most `maxPacketBytes` can still hold millions of empty fields or
 * params, each costing a record. `maxFieldsPerPacket` (default 65,536), `maxParamsPerField`
 * (default 4,096) and `maxParamsPerPacket` (default 262,144) refuse such a packet with a
 * `TooManyFields` or `TooManyParams` error as soon as a count is passed: 262,144 params are
 * about 12 MB of records, which the collector handles without holding the event loop for
 * long; the 8 million a 64 MiB packet can hold are not. To decode a large packet without
 * holding the thread, use a {@link PacketDecoder} and call `step` with a budget of work,
 * yielding in between; `decodePacket` is the same decoder run with no budget.
 *
 * **Warnings.** A packet keeps at most {@link MAX_DECODE_WARNINGS} individual warnings (the
 * first ones), a count of all of them, and one {@link DecodeWarningSummary} per kind, so a
 * packet of a million params of an unknown type allocates a handful of warnings, not a
 * million. {@link summarizeWarnings} gives one line to log per packet.
 *
 * @example
 * ```ts
 * import { decodePacket, Field } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * declare const bytes: Uint8Array
 * const result = decodePacket(bytes)
 * if (Result.isSuccess(result)) {
 *   const { packet, warnings } = result.success
 *   for (const field of packet.fields) console.log(field.name, Field.toRecord(field))
 * }
 * ```
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { DecodeError, DecodeWarning, type DecodeWarningKind, DecodeWarningSummary } from "./CodecError.js"
import type { Field, Param } from "./Field.js"
import * as Identifier from "./Identifier.js"
import {
  FIELD_HEADER_BYTES,
  FOOTER_BYTES,
  FOOTER_MAGIC,
  HEADER_BYTES,
  HEADER_MAGIC,
  PARAM_HEADER_BYTES,
  type Packet
} from "./Packet.js"
import * as Timestamp from "./Timestamp.js"
import * as Value from "./Value.js"

/** The default of `maxFieldsPerPacket`: far above the few fields a real packet holds. */
export const DEFAULT_MAX_FIELDS_PER_PACKET = 65_536
/** The default of `maxParamsPerField`: far above the tens of params a real field holds. */
export const DEFAULT_MAX_PARAMS_PER_FIELD = 4_096
/**
 * The default of `maxParamsPerPacket`: far above what a real packet holds (its data travel as
 * arrays, one param each), and low enough that one packet's records stay near 12 MB.
 */
export const DEFAULT_MAX_PARAMS_PER_PACKET = 262_144
/** How many individual warnings a `Decoded` keeps; the rest are only counted. */
export const MAX_DECODE_WARNINGS = 16
/**
 * The default budget of {@link PacketDecoder.step}: fields, params and skipped legacy footers
 * decoded per step. A step of 4,096 empty records takes about a millisecond on a small, busy
 * server (`npm run bench:codec`), far below the 50 ms a step may hold the thread, while a
 * real packet (tens of records) still decodes in one step.
 */
export const DEFAULT_DECODE_STEP_BUDGET = 4_096

/** Options of {@link decodePacket} and {@link PacketDecoder}. */
export interface DecodeOptions {
  /** Copy raw, data and unknown values and the info bytes instead of viewing the input. Default `false`. */
  readonly copy?: boolean | undefined
  /** Added to every offset in errors and warnings, e.g. the packet's position in a stream. */
  readonly baseOffset?: number | undefined
  /** The most fields a packet may hold; more is a `TooManyFields` error. Default 65,536. */
  readonly maxFieldsPerPacket?: number | undefined
  /** The most params a field may hold; more is a `TooManyParams` error. Default 4,096. */
  readonly maxParamsPerField?: number | undefined
  /** The most params all fields of a packet may hold together; more is a `TooManyParams` error. Default 262,144. */
  readonly maxParamsPerPacket?: number | undefined
}

/** A decoded packet and the warnings met on the way. */
export interface Decoded {
  readonly packet: Packet
  /** The first warnings, at most {@link MAX_DECODE_WARNINGS} of them, in packet order. */
  readonly warnings: ReadonlyArray<DecodeWarning>
  /** How many warnings the packet gave in all, those not kept in `warnings` included. */
  readonly warningCount: number
  /** One summary per kind of warning met (kind, count, the first's offset and place), in order of first appearance. */
  readonly warningSummary: ReadonlyArray<DecodeWarningSummary>
}

/**
 * One line describing a packet's decode warnings, to log once per packet, or `undefined` when
 * it had none. Its length depends on the kinds met, not on how many warnings there were.
 *
 * @example
 * ```ts
 * import { decodePacket, summarizeWarnings } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * declare const bytes: Uint8Array
 * const line = summarizeWarnings(Result.getOrThrow(decodePacket(bytes)))
 * // "2 decode warnings: unknown type code 0xc8, kept as bytes in packet ... (at offset 52);
 * //  skipped a legacy footer ... (at offset 192)"
 * ```
 */
export const summarizeWarnings = (decoded: Decoded): string | undefined => {
  const { warningCount, warningSummary } = decoded
  if (warningCount === 0) return undefined
  const parts = warningSummary.map((summary) => summary.message)
  return `${warningCount} decode warning${warningCount === 1 ? "" : "s"}: ${parts.join("; ")}`
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const NO_WARNINGS: ReadonlyArray<DecodeWarning> = Object.freeze([])
const NO_SUMMARIES: ReadonlyArray<DecodeWarningSummary> = Object.freeze([])
const NO_PARAMS: ReadonlyArray<Param> = Object.freeze([])
const LEGACY_FOOTER_MAGIC = FOOTER_MAGIC

// Thrown inside a step and turned into a DecodeError (with the base offset added) by `step`,
// so the hot path carries no per-call closure over the base offset.
class Failure {
  constructor(
    readonly reason: DecodeError["reason"],
    readonly offset: number,
    readonly detail: string,
    readonly packetType?: string,
    readonly field?: string,
    readonly param?: string
  ) {}

  toError(base: number): DecodeError {
    return error(this.reason, base + this.offset, this.detail, this.packetType, this.field, this.param)
  }
}

const fail = (
  reason: DecodeError["reason"],
  offset: number,
  detail: string,
  packetType?: string,
  field?: string,
  param?: string
): never => {
  throw new Failure(reason, offset, detail, packetType, field, param)
}

/** Decodes the bytes of exactly one packet. */
export const decodePacket = (bytes: Uint8Array, options?: DecodeOptions): Result.Result<Decoded, DecodeError> => {
  try {
    return Result.succeed(decodeWhole(bytes, options))
  } catch (thrown) {
    if (thrown instanceof Failure) return Result.fail(thrown.toError(options?.baseOffset ?? 0))
    throw thrown
  }
}

/** Decodes the bytes of exactly one packet, throwing a `DecodeError` when they are not one. */
export const decodePacketOrThrow = (bytes: Uint8Array, options?: DecodeOptions): Decoded => {
  try {
    return decodeWhole(bytes, options)
  } catch (thrown) {
    if (thrown instanceof Failure) throw thrown.toError(options?.baseOffset ?? 0)
    throw thrown
  }
}

/** The whole packet in one step of unlimited budget. Throws a `Failure`. */
const decodeWhole = (bytes: Uint8Array, options: DecodeOptions | undefined): Decoded => {
  const outcome = decodeSteps(bytes, options, undefined, Number.POSITIVE_INFINITY)
  if (outcome instanceof Paused) throw new Error("a decode step of unlimited budget paused")
  return outcome
}

/**
 * A decoder over the bytes of one packet that works in steps, so that a caller can decode a
 * huge packet in slices and yield to other work in between. Each {@link step} decodes at most
 * `budget` fields, params and skipped legacy footers, and returns `undefined` while there is
 * more to do, then the `Decoded` or the `DecodeError` (and the same result on later calls).
 * Checks, limits, warnings and offsets are exactly those of {@link decodePacket}, which runs
 * the same decoding with no budget.
 *
 * A step's cost is bounded by its budget in records, and by the size of the values it meets:
 * a single value (a 64 MiB data array copied with `copy: true`, a long string) is decoded in
 * one piece.
 *
 * The bytes must not change until the decoder is done.
 *
 * @example
 * ```ts
 * import { type Decoded, type DecodeError, PacketDecoder } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 *
 * declare const bytes: Uint8Array
 * const decode = Effect.suspend(() => {
 *   const decoder = new PacketDecoder(bytes, { maxParamsPerField: 1_000_000 })
 *   const loop: Effect.Effect<Decoded, DecodeError> = Effect.suspend(() => {
 *     const result = decoder.step()
 *     return result === undefined ? Effect.andThen(Effect.yieldNow, loop) : Effect.fromResult(result)
 *   })
 *   return loop
 * })
 * ```
 */
export class PacketDecoder {
  private bytes: Uint8Array
  private readonly options: DecodeOptions | undefined
  private paused: Paused | undefined
  private result: Result.Result<Decoded, DecodeError> | undefined

  constructor(bytes: Uint8Array, options?: DecodeOptions) {
    this.bytes = bytes
    this.options = options
  }

  /** Whether decoding has finished, with a packet or an error. */
  get done(): boolean {
    return this.result !== undefined
  }

  /**
   * Decodes at most `budget` fields, params and skipped legacy footers (default
   * {@link DEFAULT_DECODE_STEP_BUDGET}; at least one): `undefined` when there is more to do,
   * else the result.
   */
  step(budget: number = DEFAULT_DECODE_STEP_BUDGET): Result.Result<Decoded, DecodeError> | undefined {
    if (this.result !== undefined) return this.result
    try {
      const outcome = decodeSteps(this.bytes, this.options, this.paused, Math.max(1, budget))
      if (outcome instanceof Paused) {
        this.paused = outcome
        return undefined
      }
      this.result = Result.succeed(outcome)
    } catch (thrown) {
      if (!(thrown instanceof Failure)) throw thrown
      this.result = Result.fail(thrown.toError(this.options?.baseOffset ?? 0))
    }
    // Nothing more will be decoded: let go of the input and of partial results.
    this.bytes = EMPTY_BYTES
    this.paused = undefined
    return this.result
  }
}

// Warnings of one kind met so far: the first is kept whole, the rest only counted.
interface Tally {
  readonly kind: DecodeWarningKind
  count: number
  readonly first: DecodeWarning
}

/** The warnings of one packet so far, made at its first warning. */
class Warnings {
  readonly kept: Array<DecodeWarning> = []
  readonly tallies: Array<Tally> = []
  count = 0

  constructor(
    readonly base: number,
    readonly packetType: string
  ) {}

  add(kind: DecodeWarningKind, offset: number, field: string | undefined, param: string | undefined, n: number): void {
    this.count++
    const { kept, tallies } = this
    let tally: Tally | undefined
    for (let i = 0; i < tallies.length; i++) {
      if ((tallies[i] as Tally).kind === kind) tally = tallies[i]
    }
    if (tally !== undefined) {
      tally.count++
      if (kept.length >= MAX_DECODE_WARNINGS) return
    }
    const warning = new DecodeWarning({
      kind,
      offset: this.base + offset,
      detail: warningDetail(kind, n),
      packetType: this.packetType,
      field,
      param
    })
    if (tally === undefined) tallies.push({ kind, count: 1, first: warning })
    if (kept.length < MAX_DECODE_WARNINGS) kept.push(warning)
  }
}

/** Where decoding stopped when a step's budget ran out, to resume from. */
class Paused {
  constructor(
    readonly pos: number,
    // the field being decoded: its end (-1 between fields), name, id, next param, params so far
    readonly fieldEnd: number,
    readonly fieldName: string,
    readonly fieldId: number,
    readonly p: number,
    readonly params: Array<Param> | undefined,
    readonly fields: Array<Field>,
    readonly warnings: Warnings | undefined,
    // params of the packet so far, the current field's included
    readonly packetParams: number
  ) {}
}

/**
 * Decodes the packet from where `paused` stopped (or from its start), at most `budget` fields,
 * params and skipped footers, and returns the `Decoded`, or where it stopped. Throws a
 * `Failure`. One function with everything in locals, so that a one-shot decode allocates
 * nothing for being resumable.
 */
const decodeSteps = (
  bytes: Uint8Array,
  options: DecodeOptions | undefined,
  paused: Paused | undefined,
  budget: number
): Decoded | Paused => {
  const base = options?.baseOffset ?? 0
  const copy = options?.copy === true
  const maxFields = options?.maxFieldsPerPacket ?? DEFAULT_MAX_FIELDS_PER_PACKET
  const maxParams = options?.maxParamsPerField ?? DEFAULT_MAX_PARAMS_PER_FIELD
  const maxPacketParams = options?.maxParamsPerPacket ?? DEFAULT_MAX_PARAMS_PER_PACKET
  const length = bytes.length
  if (length < 12) fail("PacketTooSmall", 0, `packet too small: ${length} bytes, a packet needs at least 40`)
  // `buffer` is read once: its getter costs more than making a view from it.
  const buffer = bytes.buffer
  const byteOffset = bytes.byteOffset
  const view = new DataView(buffer, byteOffset, length)
  // The header is checked again on each step: a few reads, and nothing to keep between steps.
  const magic = view.getUint32(0, true)
  if (magic !== HEADER_MAGIC) fail("HeaderMagic", 0, `bad header magic ${hex32(magic)}, expected dd cc bb aa`)
  const declared = view.getUint32(8, true) * 4
  if (declared < HEADER_BYTES + FOOTER_BYTES) {
    fail("PacketTooSmall", 8, `declared packet size ${declared} bytes is below the minimum of 40`)
  }
  if (length < HEADER_BYTES + FOOTER_BYTES) {
    fail("PacketTooSmall", 0, `packet too small: ${length} bytes, a packet needs at least 40`)
  }
  const packetType = Identifier.fromWord(view.getUint32(4, true))
  if (declared !== length) {
    fail(
      "PacketSizeMismatch",
      8,
      `declared packet size ${declared} bytes differs from the ${length} bytes given`,
      packetType
    )
  }
  const end = length - FOOTER_BYTES
  const footer = view.getUint32(end + 4, true)
  if (footer !== FOOTER_MAGIC) {
    fail("FooterMagic", end + 4, `bad footer magic ${hex32(footer)}, expected aa bb cc dd`, packetType)
  }
  const nanos = view.getUint32(24, true)

  let warnings: Warnings | undefined
  let fields: Array<Field>
  let pos: number
  let fieldEnd: number
  let fieldName: string
  let fieldId: number
  let p: number
  let params: Array<Param> | undefined
  let packetParams: number
  if (paused === undefined) {
    packetParams = 0
    fields = []
    pos = HEADER_BYTES
    fieldEnd = -1
    fieldName = ""
    fieldId = 0
    p = 0
    if (nanos >= Timestamp.NANOS_PER_SECOND) {
      warnings = new Warnings(base, packetType)
      warnings.add("NanosOutOfRange", 24, undefined, undefined, nanos)
    }
  } else {
    warnings = paused.warnings
    fields = paused.fields
    pos = paused.pos
    fieldEnd = paused.fieldEnd
    fieldName = paused.fieldName
    fieldId = paused.fieldId
    p = paused.p
    params = paused.params
    packetParams = paused.packetParams
  }
  let count = params === undefined ? 0 : params.length
  let work = 0
  for (;;) {
    if (fieldEnd < 0) {
      if (pos >= end) break
      if (work >= budget) return new Paused(pos, -1, "", 0, 0, undefined, fields, warnings, packetParams)
      work++
      if (end - pos >= 8 && isLegacyFooter(view, pos)) {
        ;(warnings ??= new Warnings(base, packetType)).add("LegacyFooter", pos, undefined, undefined, 0)
        pos += 8
        continue
      }
      if (fields.length >= maxFields) {
        fail(
          "TooManyFields",
          pos,
          `packet holds more than ${maxFields} fields, the limit set by maxFieldsPerPacket`,
          packetType
        )
      }
      if (end - pos < FIELD_HEADER_BYTES) {
        fail(
          "FieldOverflow",
          pos,
          `a field header of 12 bytes runs past the footer (${end - pos} bytes left)`,
          packetType
        )
      }
      fieldName = Identifier.fromWord(view.getUint32(pos, true))
      const fieldWords = view.getUint32(pos + 4, true) & 0xffffff
      if (fieldWords === 0) fail("ZeroSize", pos + 4, "field size is zero", packetType, fieldName)
      if (fieldWords * 4 < FIELD_HEADER_BYTES) {
        fail(
          "ZeroSize",
          pos + 4,
          `field size ${fieldWords * 4} bytes is smaller than its 12-byte header`,
          packetType,
          fieldName
        )
      }
      fieldEnd = pos + fieldWords * 4
      if (fieldEnd > end) {
        fail(
          "FieldOverflow",
          pos + 4,
          `field of ${fieldWords * 4} bytes runs past the footer (${end - pos} bytes left)`,
          packetType,
          fieldName
        )
      }
      fieldId = view.getUint32(pos + 8, true)
      p = pos + FIELD_HEADER_BYTES
      params = undefined
      count = 0
    }
    while (p < fieldEnd) {
      if (work >= budget) {
        return new Paused(pos, fieldEnd, fieldName, fieldId, p, params, fields, warnings, packetParams)
      }
      work++
      if (fieldEnd - p >= 8 && isLegacyFooter(view, p)) {
        ;(warnings ??= new Warnings(base, packetType)).add("LegacyFooter", p, fieldName, undefined, 0)
        p += 8
        continue
      }
      if (count >= maxParams) {
        fail(
          "TooManyParams",
          p,
          `field holds more than ${maxParams} params, the limit set by maxParamsPerField`,
          packetType,
          fieldName
        )
      }
      if (packetParams >= maxPacketParams) {
        fail(
          "TooManyParams",
          p,
          `packet holds more than ${maxPacketParams} params, the limit set by maxParamsPerPacket`,
          packetType,
          fieldName
        )
      }
      if (fieldEnd - p < PARAM_HEADER_BYTES) {
        fail(
          "ParamOverflow",
          p,
          `a param header of 8 bytes runs past its field (${fieldEnd - p} bytes left)`,
          packetType,
          fieldName
        )
      }
      const paramName = Identifier.fromWord(view.getUint32(p, true))
      const sizeWord = view.getUint32(p + 4, true)
      const paramWords = sizeWord & 0xffffff
      const code = sizeWord >>> 24
      if (paramWords === 0) fail("ZeroSize", p + 4, "param size is zero", packetType, fieldName, paramName)
      if (paramWords === 1) {
        fail(
          "ZeroSize",
          p + 4,
          "param size 4 bytes is smaller than its 8-byte header",
          packetType,
          fieldName,
          paramName
        )
      }
      const paramEnd = p + paramWords * 4
      if (paramEnd > fieldEnd) {
        fail(
          "ParamOverflow",
          p + 4,
          `param of ${paramWords * 4} bytes runs past its field (${fieldEnd - p} bytes left)`,
          packetType,
          fieldName,
          paramName
        )
      }
      const at = p + PARAM_HEADER_BYTES
      const valueBytes = paramEnd - at
      if (valueBytes < 4 && (code <= 0x01 || code === 0x10)) {
        fail(
          "ParamOverflow",
          p + 4,
          `a ${Value.typeOfCode(code)} needs 4 value bytes, the param holds ${valueBytes}`,
          packetType,
          fieldName,
          paramName
        )
      }
      let value: Value.Value
      switch (code) {
        case 0x00:
          value = { type: "i32", value: view.getInt32(at, true) }
          break
        case 0x01:
          value = { type: "u32", value: view.getUint32(at, true) }
          break
        case 0x10:
          value = { type: "f32", value: view.getFloat32(at, true) }
          break
        case 0x02: {
          value = { type: "string", value: readString(bytes, buffer, byteOffset, at, paramEnd) }
          if (value.value === INVALID) {
            fail("InvalidUtf8", at, "string is not valid UTF-8", packetType, fieldName, paramName)
          }
          break
        }
        case 0x03:
        case 0x04:
        case 0x11:
          if (valueBytes < 8) {
            fail(
              "ParamOverflow",
              p + 4,
              `a ${Value.typeOfCode(code)} needs 8 value bytes, the param holds ${valueBytes}`,
              packetType,
              fieldName,
              paramName
            )
          }
          value =
            code === 0x03
              ? { type: "i64", value: view.getBigInt64(at, true) }
              : code === 0x04
                ? { type: "u64", value: view.getBigUint64(at, true) }
                : { type: "f64", value: view.getFloat64(at, true) }
          break
        case 0x80:
          value =
            valueBytes === 0 ? EMPTY_RAW : { type: "raw", value: readBytes(buffer, byteOffset + at, valueBytes, copy) }
          break
        case 0x81:
          value =
            valueBytes === 0 ? EMPTY_U8 : { type: "u8[]", value: readBytes(buffer, byteOffset + at, valueBytes, copy) }
          break
        case 0x84:
          value =
            valueBytes === 0 ? EMPTY_I8 : { type: "i8[]", value: readInt8(buffer, byteOffset + at, valueBytes, copy) }
          break
        default: {
          // the wide data types, from their table; any other code is unknown
          const array = wideArrayOfCode[code]
          if (array !== undefined) {
            if (valueBytes % array.size !== 0) {
              fail(
                "ParamOverflow",
                p + 4,
                `a ${array.empty.type} value of ${valueBytes} bytes is not a whole number of ${array.size}-byte elements`,
                packetType,
                fieldName,
                paramName
              )
            }
            value =
              valueBytes === 0 ? array.empty : readArray(buffer, byteOffset + at, view, at, valueBytes, array, copy)
            break
          }
          value =
            valueBytes === 0
              ? emptyUnknown(code)
              : {
                  type: "unknown",
                  code,
                  value: readBytes(buffer, byteOffset + at, valueBytes, copy)
                }
          ;(warnings ??= new Warnings(base, packetType)).add("UnknownType", p + 7, fieldName, paramName, code)
        }
      }
      ;(params ??= []).push({ name: paramName, value })
      count++
      packetParams++
      p = paramEnd
    }
    fields.push({ name: fieldName, id: fieldId, params: params ?? NO_PARAMS })
    params = undefined
    pos = fieldEnd
    fieldEnd = -1
  }
  return {
    packet: {
      type: packetType,
      id: view.getUint32(12, true),
      timestamp: { seconds: view.getUint32(20, true), nanos },
      info: readBytes(buffer, byteOffset + 28, 4, copy),
      fields
    },
    warnings: warnings === undefined ? NO_WARNINGS : warnings.kept,
    warningCount: warnings === undefined ? 0 : warnings.count,
    warningSummary: warnings === undefined ? NO_SUMMARIES : warnings.tallies.map(summarize)
  }
}

const summarize = (tally: Tally): DecodeWarningSummary =>
  new DecodeWarningSummary({
    kind: tally.kind,
    count: tally.count,
    offset: tally.first.offset,
    detail: tally.first.detail,
    packetType: tally.first.packetType,
    field: tally.first.field,
    param: tally.first.param
  })

const warningDetail = (kind: DecodeWarningKind, n: number): string => {
  switch (kind) {
    case "UnknownType":
      return `unknown type code 0x${n.toString(16).padStart(2, "0")}, kept as bytes`
    case "LegacyFooter":
      return "skipped a legacy footer (00 00 00 00 aa bb cc dd) embedded in the packet"
    case "NanosOutOfRange":
      return `timestamp nanoseconds word ${n} is not below 10^9; kept as sent, read as ${Math.floor(n / Timestamp.NANOS_PER_SECOND)} s ${n % Timestamp.NANOS_PER_SECOND} ns past the seconds word`
  }
}

/**
 * The total size in bytes a packet header declares, read from the first 12 bytes, or a
 * `DecodeError` when they are not the start of a packet. Stream framing uses it to learn how
 * much to read before it reads it.
 */
export const declaredPacketSize = (header: Uint8Array, baseOffset = 0): Result.Result<number, DecodeError> => {
  if (header.length < 12) {
    return Result.fail(error("Truncated", baseOffset, `a packet header needs 12 bytes, got ${header.length}`))
  }
  const view = new DataView(header.buffer, header.byteOffset, 12)
  const magic = view.getUint32(0, true)
  if (magic !== HEADER_MAGIC) {
    return Result.fail(error("HeaderMagic", baseOffset, `bad header magic ${hex32(magic)}, expected dd cc bb aa`))
  }
  const size = view.getUint32(8, true) * 4
  if (size < HEADER_BYTES + FOOTER_BYTES) {
    return Result.fail(
      error("PacketTooSmall", baseOffset + 8, `declared packet size ${size} bytes is below the minimum of 40`)
    )
  }
  return Result.succeed(size)
}

const error = (
  reason: DecodeError["reason"],
  offset: number,
  detail: string,
  packetType?: string,
  field?: string,
  param?: string
) => new DecodeError({ reason, offset, detail, packetType, field, param })

const hex32 = (word: number): string =>
  [0, 8, 16, 24].map((shift) => ((word >>> shift) & 0xff).toString(16).padStart(2, "0")).join(" ")

// The 8 footer bytes `00 00 00 00 AA BB CC DD` some old nodes embed inside a field. No valid
// param or field starts this way: its name would be empty.
const isLegacyFooter = (view: DataView, at: number): boolean =>
  view.getUint32(at, true) === 0 && view.getUint32(at + 4, true) === LEGACY_FOOTER_MAGIC

const INVALID = "\u0000invalid"

/** The bytes before the first NUL as UTF-8, or {@link INVALID}. */
const readString = (
  bytes: Uint8Array,
  buffer: ArrayBufferLike,
  byteOffset: number,
  start: number,
  end: number
): string => {
  let stop = start
  let ascii = true
  while (stop < end) {
    const byte = bytes[stop] as number
    if (byte === 0) break
    if (byte >= 0x80) ascii = false
    stop++
  }
  if (ascii && stop - start <= 64) {
    // Short ASCII strings dominate real traffic; building them directly skips TextDecoder's
    // per-call overhead.
    let s = ""
    for (let i = start; i < stop; i++) s += String.fromCharCode(bytes[i] as number)
    return s
  }
  try {
    return utf8.decode(new Uint8Array(buffer, byteOffset + start, stop - start))
  } catch {
    return INVALID
  }
}

// Values are built on the input's ArrayBuffer with the plain constructors, never with the
// input's own `subarray` or `slice`: on a Node `Buffer` those return a `Buffer`, and its
// `slice` is a view, not a copy.

/**
 * `length` bytes at `absolute` in `buffer` (the input's, offsets counted from its start): a
 * plain `Uint8Array` view, or with `copy` a copy in fresh memory.
 */
const readBytes = (buffer: ArrayBufferLike, absolute: number, length: number, copy: boolean): Uint8Array => {
  const view = new Uint8Array(buffer, absolute, length)
  // `slice` of a plain Uint8Array is a copy (a Buffer's would be a view: never called on the input)
  return copy ? view.slice() : view
}

const readInt8 = (buffer: ArrayBufferLike, absolute: number, length: number, copy: boolean): Int8Array => {
  const view = new Int8Array(buffer, absolute, length)
  return copy ? view.slice() : view
}

const frozenValue = <V extends Value.Value>(value: V): V => {
  Object.freeze(value.value)
  return Object.freeze(value)
}

const EMPTY_BYTES = Object.freeze(new Uint8Array(0))
const EMPTY_RAW: Value.Raw = frozenValue({ type: "raw", value: new Uint8Array(0) })
const EMPTY_U8: Value.U8Array = frozenValue({ type: "u8[]", value: new Uint8Array(0) })
const EMPTY_I8: Value.I8Array = frozenValue({ type: "i8[]", value: new Int8Array(0) })
const emptyUnknowns: Array<Value.Unknown | undefined> = []
const emptyUnknown = (code: number): Value.Unknown =>
  (emptyUnknowns[code] ??= frozenValue({ type: "unknown", code, value: new Uint8Array(0) }))

/** How to build one data type wider than a byte. */
interface WideArray {
  readonly size: number
  /** The shared value of no elements. */
  readonly empty: Value.DataArray
  /** A view of `count` elements on `buffer` at `byteOffset` (a multiple of `size`). */
  readonly view: (buffer: ArrayBufferLike, byteOffset: number, count: number) => Value.DataArray
  /** A copy in fresh memory of `count` elements on `buffer` at `byteOffset` (a multiple of `size`). */
  readonly copy: (buffer: ArrayBufferLike, byteOffset: number, count: number) => Value.DataArray
  /** A copy in fresh memory of `count` elements on `buffer` at any `byteOffset`. */
  readonly copyBytes: (buffer: ArrayBufferLike, byteOffset: number, count: number) => Value.DataArray
  /** `count` elements read one by one from the little-endian bytes at `at` of `view`. */
  readonly read: (view: DataView, at: number, count: number) => Value.DataArray
}

/** A typed array class, as the wide data types use them. */
interface TypedArrayClass<A> {
  new (length: number): A
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): A
  readonly BYTES_PER_ELEMENT: number
}

/**
 * The {@link WideArray} of one data type: its typed array class (which gives the element size),
 * the value built around an array (`{ type, value }`) and how to read one element from a DataView.
 */
const wideArray = <
  E extends number | bigint,
  A extends { [i: number]: E; readonly buffer: ArrayBufferLike; slice(): A }
>(
  Class: TypedArrayClass<A>,
  toValue: (array: A) => Value.DataArray,
  get: (view: DataView, at: number) => E
): WideArray => {
  const size = Class.BYTES_PER_ELEMENT
  return {
    size,
    empty: frozenValue(toValue(new Class(0))),
    view: (buffer, byteOffset, count) => toValue(new Class(buffer, byteOffset, count)),
    copy: (buffer, byteOffset, count) => toValue(new Class(buffer, byteOffset, count).slice()),
    copyBytes: (buffer, byteOffset, count) => {
      const out = new Class(count)
      new Uint8Array(out.buffer).set(new Uint8Array(buffer, byteOffset, count * size))
      return toValue(out)
    },
    read: (view, at, count) => {
      const out = new Class(count)
      for (let i = 0; i < count; i++) out[i] = get(view, at + i * size)
      return toValue(out)
    }
  }
}

const wideArrayOfCode: Array<WideArray | undefined> = []
wideArrayOfCode[0x82] = wideArray(
  Uint16Array,
  (value) => ({ type: "u16[]", value }),
  (v, at) => v.getUint16(at, true)
)
wideArrayOfCode[0x83] = wideArray(
  Uint32Array,
  (value) => ({ type: "u32[]", value }),
  (v, at) => v.getUint32(at, true)
)
wideArrayOfCode[0x85] = wideArray(
  Int16Array,
  (value) => ({ type: "i16[]", value }),
  (v, at) => v.getInt16(at, true)
)
wideArrayOfCode[0x86] = wideArray(
  Int32Array,
  (value) => ({ type: "i32[]", value }),
  (v, at) => v.getInt32(at, true)
)
wideArrayOfCode[0x87] = wideArray(
  BigUint64Array,
  (value) => ({ type: "u64[]", value }),
  (v, at) => v.getBigUint64(at, true)
)
wideArrayOfCode[0x88] = wideArray(
  BigInt64Array,
  (value) => ({ type: "i64[]", value }),
  (v, at) => v.getBigInt64(at, true)
)
wideArrayOfCode[0x90] = wideArray(
  Float32Array,
  (value) => ({ type: "f32[]", value }),
  (v, at) => v.getFloat32(at, true)
)
wideArrayOfCode[0x91] = wideArray(
  Float64Array,
  (value) => ({ type: "f64[]", value }),
  (v, at) => v.getFloat64(at, true)
)

// Below this many bytes a misaligned array is read element by element: cheaper than making
// the fresh array's ArrayBuffer to copy the bytes into.
const SMALL_ARRAY_BYTES = 128

/**
 * A data array of `byteLength` bytes at `at`: a view when the host is little-endian, the
 * absolute offset is aligned for the element size and no copy is asked for; otherwise fresh
 * memory with the bytes copied in (or, on a big-endian host or for a small misaligned array,
 * read element by element).
 */
const readArray = (
  buffer: ArrayBufferLike,
  absolute: number,
  view: DataView,
  at: number,
  byteLength: number,
  array: WideArray,
  copy: boolean
): Value.DataArray => {
  const size = array.size
  const count = byteLength / size
  if (littleEndian && absolute % size === 0) {
    return copy ? array.copy(buffer, absolute, count) : array.view(buffer, absolute, count)
  }
  if (littleEndian && byteLength > SMALL_ARRAY_BYTES) return array.copyBytes(buffer, absolute, count)
  return array.read(view, at, count)
}
