/**
 * Captures: files of concatenated NCP packets, as bytes or as hex text, decoded packet by
 * packet with recovery, so one malformed packet does not hide the rest.
 *
 * Unlike a connection's framing, which must stop at the first bad packet, {@link scanCapture}
 * resumes where the bytes allow:
 * - a packet whose header is sane (magic `dd cc bb aa`, a declared size of at least 40 bytes
 *   that fits in the capture) but that does not decode is skipped by exactly its declared
 *   size, when a packet or the end of the capture follows there;
 * - otherwise (a bad magic, an impossible size, or a size that does not lead to the next
 *   packet) the scan looks for the next header magic and resumes there, reporting the bytes
 *   it skipped.
 *
 * @example
 * ```ts
 * import { Capture } from "@effect-ncp/cli"
 *
 * declare const bytes: Uint8Array
 * for (const event of Capture.scanCapture(bytes)) {
 *   if (event._tag === "Packet") console.log(event.offset, event.decoded.packet.type)
 *   else console.error(Capture.describeProblem(event))
 * }
 * ```
 *
 * @since 0.1.0
 */
import { type Decoded, DecodeError, decodePacket, Framing, Packet } from "@effect-ncp/core"
import * as Result from "effect/Result"

/** A packet that decoded, at its byte offset in the capture. */
export interface PacketFound {
  readonly _tag: "Packet"
  readonly offset: number
  readonly decoded: Decoded
}

/**
 * Bytes that are not a packet: `error` says what is wrong and where, and `offset` and
 * `length` which bytes were skipped before the scan resumed.
 */
export interface Malformed {
  readonly _tag: "Malformed"
  readonly offset: number
  readonly length: number
  readonly error: DecodeError
}

/** What {@link scanCapture} finds, in capture order. */
export type CaptureEvent = PacketFound | Malformed

/** Options of {@link scanCapture}. */
export interface ScanOptions {
  /** The largest declared packet size taken as sane. Default 64 MiB, as for connections. */
  readonly maxPacketBytes?: number | undefined
}

const MAGIC = [0xdd, 0xcc, 0xbb, 0xaa] as const

const magicAt = (bytes: Uint8Array, at: number): boolean =>
  at + 4 <= bytes.length &&
  bytes[at] === MAGIC[0] &&
  bytes[at + 1] === MAGIC[1] &&
  bytes[at + 2] === MAGIC[2] &&
  bytes[at + 3] === MAGIC[3]

/** The offset of the next header magic at or after `from`, or the capture's length. */
const nextMagic = (bytes: Uint8Array, from: number): number => {
  for (let at = from; at + 4 <= bytes.length; at++) if (magicAt(bytes, at)) return at
  return bytes.length
}

/** Decodes every packet of a capture, reporting and skipping what does not decode. */
export function* scanCapture(bytes: Uint8Array, options?: ScanOptions): Generator<CaptureEvent> {
  const maxPacketBytes = options?.maxPacketBytes ?? Framing.DEFAULT_MAX_PACKET_BYTES
  let offset = 0
  while (offset < bytes.length) {
    const remaining = bytes.length - offset
    const resync = (error: DecodeError, searchFrom: number): Malformed => {
      const resume = nextMagic(bytes, searchFrom)
      const event: Malformed = { _tag: "Malformed", offset, length: resume - offset, error }
      offset = resume
      return event
    }
    if (remaining < 12) {
      yield resync(
        new DecodeError({
          reason: "Truncated",
          offset,
          detail: `capture ends ${remaining} bytes into a packet header`
        }),
        bytes.length
      )
      continue
    }
    if (!magicAt(bytes, offset)) {
      const header = Array.from(bytes.subarray(offset, offset + 4), (b) => b.toString(16).padStart(2, "0")).join(" ")
      yield resync(
        new DecodeError({ reason: "HeaderMagic", offset, detail: `bad header magic ${header}, expected dd cc bb aa` }),
        offset + 1
      )
      continue
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, 12)
    const declared = view.getUint32(8, true) * 4
    if (declared < Packet.HEADER_BYTES + Packet.FOOTER_BYTES) {
      yield resync(
        new DecodeError({
          reason: "PacketTooSmall",
          offset: offset + 8,
          detail: `declared packet size ${declared} bytes is below the minimum of 40`
        }),
        offset + 4
      )
      continue
    }
    if (declared > maxPacketBytes) {
      yield resync(
        new DecodeError({
          reason: "PacketTooLarge",
          offset: offset + 8,
          detail: `declared packet size ${declared} bytes exceeds the maximum of ${maxPacketBytes}`
        }),
        offset + 4
      )
      continue
    }
    if (declared > remaining) {
      const resume = nextMagic(bytes, offset + 4)
      yield resync(
        new DecodeError({
          reason: resume === bytes.length ? "Truncated" : "PacketSizeMismatch",
          offset: resume === bytes.length ? offset : offset + 8,
          detail:
            resume === bytes.length
              ? `capture ends inside a packet: ${declared} bytes declared, ${remaining} left`
              : `declared packet size ${declared} bytes runs past the next packet at offset ${resume}`
        }),
        offset + 4
      )
      continue
    }
    const result = decodePacket(bytes.subarray(offset, offset + declared), { baseOffset: offset })
    if (Result.isSuccess(result)) {
      yield { _tag: "Packet", offset, decoded: result.success }
      offset += declared
      continue
    }
    const end = offset + declared
    // Skip exactly the declared size only when that lands on a packet (or the end); a wrong
    // size field would otherwise throw away the packet after it too.
    if (end === bytes.length || magicAt(bytes, end)) {
      yield { _tag: "Malformed", offset, length: declared, error: result.failure }
      offset = end
    } else {
      yield resync(result.failure, offset + 4)
    }
  }
}

/** One line about malformed bytes: where they start, what is wrong, what was skipped. */
export const describeProblem = (event: Malformed): string => {
  const skipped =
    event.length === 0 ? "" : `; skipped ${event.length} bytes (${event.offset}..${event.offset + event.length - 1})`
  return `malformed packet at offset ${event.offset}: ${event.error.message}${skipped}`
}

/** Hex text that is not hex, with the offset of the first bad character. */
export interface HexProblem {
  readonly offset: number
  readonly detail: string
}

/**
 * The bytes of a hex capture: pairs of hex digits, any case, with whitespace (newlines
 * included) anywhere between pairs ignored.
 */
export const parseHex = (text: string): Result.Result<Uint8Array, HexProblem> => {
  const out = new Uint8Array(text.length >> 1)
  let length = 0
  let high = -1
  let highAt = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d) {
      if (high >= 0) return Result.fail({ offset: i, detail: `whitespace inside the hex byte at character ${highAt}` })
      continue
    }
    const digit = hexDigit(code)
    if (digit < 0) {
      return Result.fail({ offset: i, detail: `${JSON.stringify(text[i])} at character ${i} is not a hex digit` })
    }
    if (high < 0) {
      high = digit
      highAt = i
    } else {
      out[length++] = (high << 4) | digit
      high = -1
    }
  }
  if (high >= 0)
    return Result.fail({ offset: highAt, detail: `odd number of hex digits (lone digit at character ${highAt})` })
  return Result.succeed(out.subarray(0, length))
}

const hexDigit = (code: number): number => {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x61 && code <= 0x66) return code - 0x57
  if (code >= 0x41 && code <= 0x46) return code - 0x37
  return -1
}
