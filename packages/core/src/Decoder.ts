/**
 * The packet decoder: a plain synchronous function from the bytes of one whole packet to a
 * `Packet`, with the decode warnings it met, or a `DecodeError` saying which check failed at
 * which byte offset.
 *
 * Data arrays and raw values are views on the given bytes, without copying, wherever the
 * alignment allows (always for raw, u8 and i8; for wider types when the value's absolute
 * offset in the underlying `ArrayBuffer` is a multiple of the element size). Such a value
 * shares memory with the bytes you decoded: if you reuse or mutate that buffer, copy the
 * values you keep (`value.slice()`), or pass `{ copy: true }`.
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
import { DecodeError, DecodeWarning } from "./CodecError.js"
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
import * as Value from "./Value.js"

/** Options of {@link decodePacket}. */
export interface DecodeOptions {
  /** Copy raw and data values instead of viewing the input bytes. Default `false`. */
  readonly copy?: boolean | undefined
  /** Added to every offset in errors and warnings, e.g. the packet's position in a stream. */
  readonly baseOffset?: number | undefined
}

/** A decoded packet and the warnings met on the way. */
export interface Decoded {
  readonly packet: Packet
  readonly warnings: ReadonlyArray<DecodeWarning>
}

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const NO_WARNINGS: ReadonlyArray<DecodeWarning> = Object.freeze([])
const LEGACY_FOOTER_MAGIC = FOOTER_MAGIC

// Thrown inside `decode` and turned into a DecodeError (with the base offset added) by its
// callers, so the hot path carries no per-call closure over the base offset.
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
    return Result.succeed(decode(bytes, options?.copy === true, options?.baseOffset ?? 0))
  } catch (thrown) {
    if (thrown instanceof Failure) return Result.fail(thrown.toError(options?.baseOffset ?? 0))
    throw thrown
  }
}

/** Decodes the bytes of exactly one packet, throwing a `DecodeError` when they are not one. */
export const decodePacketOrThrow = (bytes: Uint8Array, options?: DecodeOptions): Decoded => {
  try {
    return decode(bytes, options?.copy === true, options?.baseOffset ?? 0)
  } catch (thrown) {
    if (thrown instanceof Failure) throw thrown.toError(options?.baseOffset ?? 0)
    throw thrown
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

const decode = (bytes: Uint8Array, copy: boolean, base: number): Decoded => {
  const length = bytes.length
  if (length < 12) fail("PacketTooSmall", 0, `packet too small: ${length} bytes, a packet needs at least 40`)
  const view = new DataView(bytes.buffer, bytes.byteOffset, length)
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

  let warnings: Array<DecodeWarning> | undefined
  const fields: Array<Field> = []
  let pos = HEADER_BYTES
  while (pos < end) {
    if (end - pos >= 8 && isLegacyFooter(view, pos)) {
      ;(warnings ??= []).push(legacyWarning(base + pos, packetType))
      pos += 8
      continue
    }
    if (end - pos < FIELD_HEADER_BYTES) {
      fail(
        "FieldOverflow",
        pos,
        `a field header of 12 bytes runs past the footer (${end - pos} bytes left)`,
        packetType
      )
    }
    const fieldName = Identifier.fromWord(view.getUint32(pos, true))
    const fieldWords = view.getUint32(pos + 4, true) & 0xffffff
    if (fieldWords === 0) fail("ZeroSize", pos + 4, "field size is zero", packetType, fieldName)
    const fieldEnd = pos + fieldWords * 4
    if (fieldWords * 4 < FIELD_HEADER_BYTES) {
      fail(
        "ZeroSize",
        pos + 4,
        `field size ${fieldWords * 4} bytes is smaller than its 12-byte header`,
        packetType,
        fieldName
      )
    }
    if (fieldEnd > end) {
      fail(
        "FieldOverflow",
        pos + 4,
        `field of ${fieldWords * 4} bytes runs past the footer (${end - pos} bytes left)`,
        packetType,
        fieldName
      )
    }
    const fieldId = view.getUint32(pos + 8, true)
    const params: Array<Param> = []
    let p = pos + FIELD_HEADER_BYTES
    while (p < fieldEnd) {
      if (fieldEnd - p >= 8 && isLegacyFooter(view, p)) {
        ;(warnings ??= []).push(legacyWarning(base + p, packetType, fieldName))
        p += 8
        continue
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
          value = { type: "string", value: readString(bytes, at, paramEnd) }
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
          value = { type: "raw", value: copy ? bytes.slice(at, paramEnd) : bytes.subarray(at, paramEnd) }
          break
        case 0x81:
          value = { type: "u8[]", value: copy ? bytes.slice(at, paramEnd) : bytes.subarray(at, paramEnd) }
          break
        case 0x84: {
          const slice = copy ? bytes.slice(at, paramEnd) : bytes.subarray(at, paramEnd)
          value = { type: "i8[]", value: new Int8Array(slice.buffer, slice.byteOffset, slice.length) }
          break
        }
        case 0x82:
        case 0x83:
        case 0x85:
        case 0x86:
        case 0x87:
        case 0x88:
        case 0x90:
        case 0x91: {
          const type = Value.typeOfCode(code) as WideArrayType
          const elementSize = wideArray[type].BYTES_PER_ELEMENT
          if (valueBytes % elementSize !== 0) {
            fail(
              "ParamOverflow",
              p + 4,
              `a ${type} value of ${valueBytes} bytes is not a whole number of ${elementSize}-byte elements`,
              packetType,
              fieldName,
              paramName
            )
          }
          value = readArray(bytes, view, at, valueBytes, type, copy)
          break
        }
        default: {
          value = { type: "unknown", code, value: copy ? bytes.slice(at, paramEnd) : bytes.subarray(at, paramEnd) }
          ;(warnings ??= []).push(
            new DecodeWarning({
              kind: "UnknownType",
              offset: base + p + 7,
              detail: `unknown type code 0x${code.toString(16).padStart(2, "0")}, kept as bytes`,
              packetType,
              field: fieldName,
              param: paramName
            })
          )
        }
      }
      params.push({ name: paramName, value })
      p = paramEnd
    }
    fields.push({ name: fieldName, id: fieldId, params })
    pos = fieldEnd
  }
  const info = copy ? bytes.slice(28, 32) : bytes.subarray(28, 32)
  return {
    packet: {
      type: packetType,
      id: view.getUint32(12, true),
      timestamp: { seconds: view.getUint32(20, true), nanos: view.getUint32(24, true) },
      info,
      fields
    },
    warnings: warnings ?? NO_WARNINGS
  }
}

// The 8 footer bytes `00 00 00 00 AA BB CC DD` some old nodes embed inside a field. No valid
// param or field starts this way: its name would be empty.
const isLegacyFooter = (view: DataView, at: number): boolean =>
  view.getUint32(at, true) === 0 && view.getUint32(at + 4, true) === LEGACY_FOOTER_MAGIC

const legacyWarning = (offset: number, packetType: string, field?: string) =>
  new DecodeWarning({
    kind: "LegacyFooter",
    offset,
    detail: "skipped a legacy footer (00 00 00 00 aa bb cc dd) embedded in the packet",
    packetType,
    field
  })

const INVALID = "\u0000invalid"

/** The bytes before the first NUL as UTF-8, or {@link INVALID}. */
const readString = (bytes: Uint8Array, start: number, end: number): string => {
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
    return utf8.decode(bytes.subarray(start, stop))
  } catch {
    return INVALID
  }
}

type WideArrayType = "u16[]" | "u32[]" | "i16[]" | "i32[]" | "u64[]" | "i64[]" | "f32[]" | "f64[]"

const wideArray = {
  "u16[]": Uint16Array,
  "u32[]": Uint32Array,
  "i16[]": Int16Array,
  "i32[]": Int32Array,
  "u64[]": BigUint64Array,
  "i64[]": BigInt64Array,
  "f32[]": Float32Array,
  "f64[]": Float64Array
} as const

const readArray = (
  bytes: Uint8Array,
  view: DataView,
  at: number,
  byteLength: number,
  type: WideArrayType,
  copy: boolean
): Value.DataArray => {
  const Class = wideArray[type]
  const count = byteLength / Class.BYTES_PER_ELEMENT
  const absolute = bytes.byteOffset + at
  if (littleEndian) {
    const buffer =
      !copy && absolute % Class.BYTES_PER_ELEMENT === 0 ? bytes.buffer : bytes.slice(at, at + byteLength).buffer
    const offset = buffer === bytes.buffer ? absolute : 0
    const View = Class as unknown as new (buffer: ArrayBufferLike, offset: number, length: number) => Value.TypedArray
    return { type, value: new View(buffer, offset, count) } as Value.DataArray
  }
  // Big-endian hosts: read element by element in wire (little-endian) order.
  const array = new Class(count)
  for (let i = 0; i < count; i++) {
    const o = at + i * Class.BYTES_PER_ELEMENT
    switch (type) {
      case "u16[]":
        array[i] = view.getUint16(o, true)
        break
      case "i16[]":
        array[i] = view.getInt16(o, true)
        break
      case "u32[]":
        array[i] = view.getUint32(o, true)
        break
      case "i32[]":
        array[i] = view.getInt32(o, true)
        break
      case "f32[]":
        array[i] = view.getFloat32(o, true)
        break
      case "f64[]":
        array[i] = view.getFloat64(o, true)
        break
      case "u64[]":
        array[i] = view.getBigUint64(o, true)
        break
      case "i64[]":
        array[i] = view.getBigInt64(o, true)
        break
    }
  }
  return { type, value: array } as Value.DataArray
}
