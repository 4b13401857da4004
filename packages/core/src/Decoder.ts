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
 * params, each costing a record. `maxFieldsPerPacket`, `maxParamsPerField` and
 * `maxParamsPerPacket` (defaults in `Limits`: 65,536, 4,096 and 262,144) refuse such a packet
 * with a `TooManyFields` or `TooManyParams` error as soon as a count is passed: 262,144 params
 * are about 12 MB of records, which the collector handles without holding the event loop for
 * long; the 8 million a 64 MiB packet can hold are not. To decode a large packet without
 * holding the thread, use a {@link PacketDecoder} and call `step` with a budget of work,
 * yielding in between; `decodePacket` is the same decoder run with no budget.
 *
 * **Warnings.** A packet keeps at most `Limits.maxDecodeWarnings` (16) individual warnings (the
 * first ones), a count of all of them, and one `DecodeWarningSummary` per kind, so a packet of a
 * million params of an unknown type allocates a handful of warnings, not a million.
 * {@link summarizeWarnings} gives one line to log per packet.
 *
 * @example
 * ```ts
 * import { Decoder, Field } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * declare const bytes: Uint8Array
 * const result = Decoder.decodePacket(bytes)
 * if (Result.isSuccess(result)) {
 *   const { packet, warnings } = result.success
 *   for (const field of packet.fields) console.log(field.name, Field.toRecord(field))
 * }
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Result from "effect/Result"
import { DecodeError, type DecodeWarning, type DecodeWarningSummary } from "./CodecError.js"
import * as Reader from "./codec/reader.js"
import { NO_SUMMARIES, NO_WARNINGS, Warnings } from "./codec/warnings.js"
import * as WireType from "./codec/wireType.js"
import type { Field, Param } from "./Field.js"
import * as Identifier from "./Identifier.js"
import * as Limits from "./Limits.js"
import {
  FIELD_HEADER_BYTES,
  FOOTER_BYTES,
  FOOTER_MAGIC,
  HEADER_BYTES,
  PARAM_HEADER_BYTES,
  type Packet
} from "./Packet.js"
import * as Timestamp from "./Timestamp.js"
import type * as Value from "./Value.js"

/**
 * Options of {@link decodePacket} and {@link PacketDecoder}: the decode limits (each defaults to
 * `Limits.client`'s), whether to copy, and where the packet starts.
 */
export interface DecodeOptions extends Partial<Limits.DecodeLimits> {
  /** Copy raw, data and unknown values and the info bytes instead of viewing the input. Default `false`. */
  readonly copy?: boolean | undefined
  /** Added to every offset in errors and warnings, e.g. the packet's position in a stream. */
  readonly baseOffset?: number | undefined
}

/** A decoded packet and the warnings met on the way. */
export interface Decoded {
  readonly packet: Packet
  /** The first warnings, at most `Limits.maxDecodeWarnings` of them, in packet order. */
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
 * import { Decoder } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * declare const bytes: Uint8Array
 * const line = Decoder.summarizeWarnings(Result.getOrThrow(Decoder.decodePacket(bytes)))
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

const NO_PARAMS: ReadonlyArray<Param> = Object.freeze([])

// A number param holding fewer value bytes than its type (`WireType.numberBytes`).
const tooShort = (
  code: number,
  valueBytes: number,
  p: number,
  packetType: string,
  field: string,
  param: string
): never =>
  fail(
    "ParamOverflow",
    p + 4,
    `a ${WireType.byCode[code]?.name} needs ${WireType.numberBytes[code]} value bytes, the param holds ${valueBytes}`,
    packetType,
    field,
    param
  )

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
    const { reason, detail, packetType, field, param } = this
    return new DecodeError({ reason, offset: base + this.offset, detail, packetType, field, param })
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
 * import { type CodecError, Decoder } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 *
 * declare const bytes: Uint8Array
 * const decode = Effect.suspend(() => {
 *   const decoder = new Decoder.PacketDecoder(bytes, { maxParamsPerField: 1_000_000 })
 *   const loop: Effect.Effect<Decoder.Decoded, CodecError.DecodeError> = Effect.suspend(() => {
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
   * `Limits.decodeStepBudget`; at least one): `undefined` when there is more to do,
   * else the result.
   */
  step(budget: number = Limits.decodeStepBudget): Result.Result<Decoded, DecodeError> | undefined {
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
    this.bytes = Reader.EMPTY_BYTES
    this.paused = undefined
    return this.result
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
  const maxFields = options?.maxFieldsPerPacket ?? Limits.client.maxFieldsPerPacket
  const maxParams = options?.maxParamsPerField ?? Limits.client.maxParamsPerField
  const maxPacketParams = options?.maxParamsPerPacket ?? Limits.client.maxParamsPerPacket
  const length = bytes.length
  if (length < 12) fail("PacketTooSmall", 0, `packet too small: ${length} bytes, a packet needs at least 40`)
  // `buffer` is read once: its getter costs more than making a view from it.
  const buffer = bytes.buffer
  const byteOffset = bytes.byteOffset
  const view = new DataView(buffer, byteOffset, length)
  // The header is checked again on each step: a few reads, and nothing to keep between steps.
  const declared = Reader.declaredSize(view)
  if (declared < Reader.MIN_PACKET_BYTES) {
    const fault = Reader.headerFault(view)
    fail(fault.reason, fault.offset, fault.detail)
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
    fail("FooterMagic", end + 4, `bad footer magic ${Reader.hex32(footer)}, expected aa bb cc dd`, packetType)
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
      if (end - pos >= 8 && Reader.isLegacyFooter(view, pos)) {
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
      if (fieldEnd - p >= 8 && Reader.isLegacyFooter(view, p)) {
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
      // The hot path, in literals V8 compares without loading anything: the type codes, each
      // checked against its table entry by the compiler; the sizes of the number types
      // (`WireType.numberBytes`: 4, checked here, or 8, checked in their case); and their
      // DataView readers (their entries' `read`). Reading these from the table measured 5-10%
      // slower on small packets; the other data types, and every other fact, come from it.
      if (valueBytes < 4 && (code <= 0x01 || code === 0x10)) {
        tooShort(code, valueBytes, p, packetType, fieldName, paramName)
      }
      let value: Value.Value
      switch (code) {
        case 0x00 satisfies typeof WireType.i32.code:
          value = { type: "i32", value: view.getInt32(at, true) }
          break
        case 0x01 satisfies typeof WireType.u32.code:
          value = { type: "u32", value: view.getUint32(at, true) }
          break
        case 0x10 satisfies typeof WireType.f32.code:
          value = { type: "f32", value: view.getFloat32(at, true) }
          break
        case 0x02 satisfies typeof WireType.string.code: {
          value = { type: "string", value: Reader.readString(bytes, buffer, byteOffset, at, paramEnd) }
          if (value.value === Reader.INVALID_STRING) {
            fail("InvalidUtf8", at, "string is not valid UTF-8", packetType, fieldName, paramName)
          }
          break
        }
        case 0x03 satisfies typeof WireType.i64.code:
        case 0x04 satisfies typeof WireType.u64.code:
        case 0x11 satisfies typeof WireType.f64.code:
          if (valueBytes < 8) tooShort(code, valueBytes, p, packetType, fieldName, paramName)
          value =
            code === 0x03
              ? { type: "i64", value: view.getBigInt64(at, true) }
              : code === 0x04
                ? { type: "u64", value: view.getBigUint64(at, true) }
                : { type: "f64", value: view.getFloat64(at, true) }
          break
        case 0x80 satisfies typeof WireType.raw.code:
          value =
            valueBytes === 0
              ? Reader.EMPTY_RAW
              : { type: "raw", value: Reader.readBytes(buffer, byteOffset + at, valueBytes, copy) }
          break
        case 0x81 satisfies typeof WireType.u8Array.code:
          // the common data type (sweeps), and always aligned: a plain view, or a copy
          value =
            valueBytes === 0
              ? Reader.emptyArray(WireType.u8Array)
              : { type: "u8[]", value: Reader.readBytes(buffer, byteOffset + at, valueBytes, copy) }
          break
        default: {
          // the other data types, alike; any other code is unknown
          const type = WireType.byCode[code]
          if (type !== undefined && type.form === "data") {
            if (valueBytes % type.size !== 0) {
              fail(
                "ParamOverflow",
                p + 4,
                `a ${type.name} value of ${valueBytes} bytes is not a whole number of ${type.size}-byte elements`,
                packetType,
                fieldName,
                paramName
              )
            }
            value =
              valueBytes === 0
                ? Reader.emptyArray(type)
                : Reader.readArray(buffer, byteOffset + at, view, at, valueBytes, type, copy)
            break
          }
          value =
            valueBytes === 0
              ? Reader.emptyUnknown(code)
              : { type: "unknown", code, value: Reader.readBytes(buffer, byteOffset + at, valueBytes, copy) }
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
      info: Reader.readBytes(buffer, byteOffset + 28, 4, copy),
      fields
    },
    warnings: warnings === undefined ? NO_WARNINGS : warnings.kept,
    warningCount: warnings === undefined ? 0 : warnings.count,
    warningSummary: warnings === undefined ? NO_SUMMARIES : warnings.summaries()
  }
}
