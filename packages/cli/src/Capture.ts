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
 * @module
 * @since 0.1.0
 */
import { CodecError, Decoder, Framing, Limits } from "@effect-ncp/core"
import * as Result from "effect/Result"

/** A packet that decoded, at its byte offset in the capture. */
export interface PacketFound {
  readonly _tag: "Packet"
  readonly offset: number
  readonly decoded: Decoder.Decoded
}

/**
 * Bytes that are not a packet: `error` says what is wrong and where, and `offset` and
 * `length` which bytes were skipped before the scan resumed.
 */
export interface Malformed {
  readonly _tag: "Malformed"
  readonly offset: number
  readonly length: number
  readonly error: CodecError.DecodeError
}

/** What {@link scanCapture} finds, in capture order. */
export type CaptureEvent = PacketFound | Malformed

/** Options of {@link scanCapture}. */
export interface ScanOptions {
  /** The largest declared packet size taken as sane. Default 64 MiB, as for connections. */
  readonly maxPacketBytes?: number | undefined
}

const MAGIC = [0xdd, 0xcc, 0xbb, 0xaa] as const
const HEADER_PREFIX = 12

/**
 * The scan as a state machine over chunks: {@link push} bytes as they are read, take the events
 * found so far with {@link next}, and call {@link end} when the input ends. It keeps only what it
 * has not scanned yet (at most one packet of `maxPacketBytes`, and the few bytes a header magic
 * may straddle), so a capture of any size is scanned in flat memory. The events are those of
 * {@link scanCapture} over the whole input, whatever the chunks.
 *
 * Decoded values may view the bytes given: give chunks that are not reused afterwards.
 */
export class CaptureScanner {
  private readonly maxPacketBytes: number
  private buffer = new Uint8Array(0)
  /** The capture offset of `buffer[0]`. */
  private base = 0
  /** The scan position (a capture offset): bytes before it are done with. */
  private offset = 0
  /** The capture offset where the bytes held end. */
  private limit = 0
  private ended = false
  /** Skipping malformed bytes: where they started, why, and where the search for a magic is. */
  private skipping: { readonly offset: number; readonly error: CodecError.DecodeError; searchFrom: number } | undefined

  constructor(options?: ScanOptions) {
    this.maxPacketBytes = options?.maxPacketBytes ?? Limits.client.maxPacketBytes
  }

  /** Adds the next chunk of the capture. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    const tail = this.limit - this.base
    if (this.buffer.length - tail >= chunk.length) {
      // appended into free room: bytes already handed out are not touched
      this.buffer.set(chunk, tail)
    } else {
      // A new buffer rather than moving bytes within the old one: events already handed out may
      // view it. Doubling keeps the copying linear in the capture's size.
      const keepFrom = Math.max(this.base, this.skipping?.searchFrom ?? this.offset)
      const held = this.limit - keepFrom
      const next = new Uint8Array(Math.max(4096, 2 * (held + chunk.length)))
      next.set(this.buffer.subarray(keepFrom - this.base, tail))
      next.set(chunk, held)
      this.buffer = next
      this.base = keepFrom
    }
    this.limit += chunk.length
  }

  /** The bytes held now: what is not scanned yet (at most a packet and a few bytes). */
  get held(): number {
    return this.limit - Math.max(this.base, this.skipping?.searchFrom ?? this.offset)
  }

  /** Marks the end of the capture: what is left is scanned as the capture's last bytes. */
  end(): void {
    this.ended = true
  }

  private byte(at: number): number {
    return this.buffer[at - this.base] ?? 0
  }

  private magicAt(at: number): boolean {
    return (
      at + 4 <= this.limit &&
      this.byte(at) === MAGIC[0] &&
      this.byte(at + 1) === MAGIC[1] &&
      this.byte(at + 2) === MAGIC[2] &&
      this.byte(at + 3) === MAGIC[3]
    )
  }

  private resync(error: CodecError.DecodeError, searchFrom: number): void {
    this.skipping = { offset: this.offset, error, searchFrom }
  }

  /** The next event, or `undefined` when more input is needed (or, after {@link end}, when the scan is done). */
  next(): CaptureEvent | undefined {
    for (;;) {
      const skipping = this.skipping
      if (skipping !== undefined) {
        let at = skipping.searchFrom
        while (at + 4 <= this.limit && !this.magicAt(at)) at++
        if (at + 4 > this.limit && !this.ended) {
          // keep the bytes a magic may straddle, forget the rest
          skipping.searchFrom = Math.max(skipping.searchFrom, this.limit - 3)
          this.forget(skipping.searchFrom)
          return undefined
        }
        const resume = at + 4 <= this.limit ? at : this.limit
        this.skipping = undefined
        this.offset = resume
        return { _tag: "Malformed", offset: skipping.offset, length: resume - skipping.offset, error: skipping.error }
      }
      const offset = this.offset
      const remaining = this.limit - offset
      if (remaining === 0 && this.ended) return undefined
      if (remaining < HEADER_PREFIX) {
        if (!this.ended) return undefined
        this.resync(
          new CodecError.DecodeError({
            reason: "Truncated",
            offset,
            detail: `capture ends ${remaining} bytes into a packet header`
          }),
          this.limit
        )
        continue
      }
      // the core's reading of a header: its magic, then its declared size
      const header = Framing.declaredPacketSize(
        this.buffer.subarray(offset - this.base, offset - this.base + HEADER_PREFIX),
        offset
      )
      if (Result.isFailure(header)) {
        // a bad magic: a packet may start at the next byte; a size too small: past this magic
        this.resync(header.failure, header.failure.reason === "HeaderMagic" ? offset + 1 : offset + 4)
        continue
      }
      const declared = header.success
      if (declared > this.maxPacketBytes) {
        this.resync(
          new CodecError.DecodeError({
            reason: "PacketTooLarge",
            offset: offset + 8,
            detail: `declared packet size ${declared} bytes exceeds the maximum of ${this.maxPacketBytes}`
          }),
          offset + 4
        )
        continue
      }
      if (remaining < declared && !this.ended) return undefined
      if (declared > remaining) {
        let resume = offset + 4
        while (resume + 4 <= this.limit && !this.magicAt(resume)) resume++
        const truncated = resume + 4 > this.limit
        this.resync(
          new CodecError.DecodeError({
            reason: truncated ? "Truncated" : "PacketSizeMismatch",
            offset: truncated ? offset : offset + 8,
            detail: truncated
              ? `capture ends inside a packet: ${declared} bytes declared, ${remaining} left`
              : `declared packet size ${declared} bytes runs past the next packet at offset ${resume}`
          }),
          offset + 4
        )
        continue
      }
      const bytes = this.buffer.subarray(offset - this.base, offset - this.base + declared)
      const result = Decoder.decodePacket(bytes, { baseOffset: offset })
      const end = offset + declared
      if (Result.isSuccess(result)) {
        this.offset = end
        return { _tag: "Packet", offset, decoded: result.success }
      }
      // A packet that does not decode: the 4 bytes after it tell whether its size leads to the
      // next one (decoded again once they are here).
      if (this.limit - end < 4 && !this.ended) return undefined
      // Skip exactly the declared size only when that lands on a packet (or the end); a wrong
      // size field would otherwise throw away the packet after it too.
      if (end === this.limit || this.magicAt(end)) {
        this.offset = end
        return { _tag: "Malformed", offset, length: declared, error: result.failure }
      }
      this.resync(result.failure, offset + 4)
    }
  }

  /** Lets go of the bytes before `at` (a capture offset), when that frees much of the buffer. */
  private forget(at: number): void {
    const index = at - this.base
    if (index < this.buffer.length / 2 || index < 4096) return
    this.buffer = this.buffer.slice(index, this.limit - this.base)
    this.base = at
  }
}

/** Decodes every packet of a capture, reporting and skipping what does not decode. */
export function* scanCapture(bytes: Uint8Array, options?: ScanOptions): Generator<CaptureEvent> {
  const scanner = new CaptureScanner(options)
  scanner.push(bytes)
  scanner.end()
  for (let event = scanner.next(); event !== undefined; event = scanner.next()) yield event
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
 * A hex capture decoded as it is read: pairs of hex digits, any case, with whitespace (newlines
 * included) anywhere between pairs ignored. Push the text's bytes (ASCII) chunk by chunk; a pair
 * may straddle two chunks. Offsets in problems count characters from the start of the text.
 */
export class HexDecoder {
  private high = -1
  private highAt = 0
  private position = 0

  /** The bytes of the next chunk of text, or the first problem in it. */
  push(text: Uint8Array): Result.Result<Uint8Array, HexProblem> {
    const out = new Uint8Array((text.length >> 1) + 1)
    let length = 0
    for (let i = 0; i < text.length; i++, this.position++) {
      const code = text[i] ?? 0
      if (code === 0x20 || code === 0x09 || code === 0x0a || code === 0x0d) {
        if (this.high >= 0) {
          return Result.fail({
            offset: this.position,
            detail: `whitespace inside the hex byte at character ${this.highAt}`
          })
        }
        continue
      }
      const digit = hexDigit(code)
      if (digit < 0) {
        return Result.fail({
          offset: this.position,
          detail: `${JSON.stringify(String.fromCharCode(code))} at character ${this.position} is not a hex digit`
        })
      }
      if (this.high < 0) {
        this.high = digit
        this.highAt = this.position
      } else {
        out[length++] = (this.high << 4) | digit
        this.high = -1
      }
    }
    return Result.succeed(out.subarray(0, length))
  }

  /** The end of the text: a problem when a digit is left alone. */
  end(): Result.Result<void, HexProblem> {
    return this.high >= 0
      ? Result.fail({
          offset: this.highAt,
          detail: `odd number of hex digits (lone digit at character ${this.highAt})`
        })
      : Result.void
  }
}

/**
 * The bytes of a hex capture: pairs of hex digits, any case, with whitespace (newlines
 * included) anywhere between pairs ignored.
 */
export const parseHex = (text: string): Result.Result<Uint8Array, HexProblem> => {
  const decoder = new HexDecoder()
  const units = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    // a character beyond one byte is not a hex digit: any such byte is refused the same way
    units[i] = code < 0x100 ? code : 0x3f
  }
  const bytes = decoder.push(units)
  if (Result.isFailure(bytes)) return bytes
  const ended = decoder.end()
  return Result.isFailure(ended) ? Result.fail(ended.failure) : bytes
}

const hexDigit = (code: number): number => {
  if (code >= 0x30 && code <= 0x39) return code - 0x30
  if (code >= 0x61 && code <= 0x66) return code - 0x57
  if (code >= 0x41 && code <= 0x46) return code - 0x37
  return -1
}
