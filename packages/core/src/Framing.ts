/**
 * Stream framing: byte chunks, split anywhere, into packets, and packets into bytes.
 *
 * Packets on a connection follow each other with nothing in between: read 12 bytes, learn
 * the size, read the rest. {@link PacketFramer} is the synchronous state machine that does
 * this; {@link decodePackets} and {@link encodePackets} wrap it as Stream transformations that
 * keep Effect's pull-based backpressure (no byte is read before a packet is asked for).
 *
 * A declared size above `maxPacketBytes` (default 64 MiB) is refused as soon as the header is
 * read, before waiting for or allocating the body.
 *
 * @example
 * ```ts
 * import { Framing } from "@effect-ncp/core"
 * import * as Stream from "effect/Stream"
 *
 * declare const bytes: Stream.Stream<Uint8Array>
 * const packets = bytes.pipe(Framing.decodePackets({ maxPacketBytes: 1024 * 1024 }))
 * // Stream<Decoded, DecodeError>
 * ```
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { DecodeError, type EncodeError } from "./CodecError.js"
import { type Decoded, type DecodeOptions, declaredPacketSize, decodePacket } from "./Decoder.js"
import { encodePacket } from "./Encoder.js"
import type { PacketInput } from "./Packet.js"

/** The default largest packet a stream reader accepts: 64 MiB. */
export const DEFAULT_MAX_PACKET_BYTES = 64 * 1024 * 1024

/** Options of stream framing. */
export interface FramingOptions {
  /** The largest declared packet size accepted, in bytes. Default 64 MiB. */
  readonly maxPacketBytes?: number | undefined
}

const HEADER_PREFIX = 12

/**
 * The framing state machine: feed it chunks with {@link push}, take whole packets with
 * {@link next}, and call {@link end} when the input ends.
 *
 * A packet that lies whole inside one chunk is returned as a view on that chunk, without
 * copying; a packet split across chunks is assembled once into a buffer of its exact size.
 * Only the unread remainder is kept.
 */
export class PacketFramer {
  readonly maxPacketBytes: number
  private chunks: Array<Uint8Array> = []
  private buffered = 0
  // offset of the first unread byte within chunks[0]
  private head = 0
  // stream offset of the first unread byte
  private position = 0
  private failed: DecodeError | undefined

  constructor(options?: FramingOptions) {
    this.maxPacketBytes = options?.maxPacketBytes ?? DEFAULT_MAX_PACKET_BYTES
  }

  /** Bytes received but not yet returned as packets. */
  get pending(): number {
    return this.buffered
  }

  /** The stream offset of the next packet. */
  get offset(): number {
    return this.position
  }

  /** Adds a chunk of input. The framer keeps a reference to it: do not reuse its memory. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /**
   * The bytes of the next whole packet, `undefined` when more input is needed, or a
   * `DecodeError` when the input cannot be framed (a bad header magic, a declared size below
   * the minimum or above `maxPacketBytes`). After an error, framing cannot resume: the
   * packet boundaries are lost.
   */
  next(): Uint8Array | DecodeError | undefined {
    if (this.failed !== undefined) return this.failed
    if (this.buffered < HEADER_PREFIX) return undefined
    const header = this.peek(HEADER_PREFIX)
    const declared = declaredPacketSize(header, this.position)
    if (Result.isFailure(declared)) return (this.failed = declared.failure)
    const size = declared.success
    if (size > this.maxPacketBytes) {
      return (this.failed = new DecodeError({
        reason: "PacketTooLarge",
        offset: this.position + 8,
        detail: `declared packet size ${size} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`
      }))
    }
    if (this.buffered < size) return undefined
    const packet = this.take(size)
    this.position += size
    return packet
  }

  /**
   * Signals the end of input: `undefined` when it ended between packets (a graceful close),
   * or a `Truncated` `DecodeError` when it ended inside one.
   */
  end(): DecodeError | undefined {
    if (this.failed !== undefined) return this.failed
    if (this.buffered === 0) return undefined
    return (this.failed = new DecodeError({
      reason: "Truncated",
      offset: this.position,
      detail: `input ended inside a packet, ${this.buffered} bytes into it`
    }))
  }

  /** The first `n` buffered bytes, without consuming them (copied only if split). */
  private peek(n: number): Uint8Array {
    const first = this.chunks[0] as Uint8Array
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n)
    const out = new Uint8Array(n)
    let filled = 0
    for (let i = 0; filled < n; i++) {
      const chunk = this.chunks[i] as Uint8Array
      const start = i === 0 ? this.head : 0
      const count = Math.min(n - filled, chunk.length - start)
      out.set(chunk.subarray(start, start + count), filled)
      filled += count
    }
    return out
  }

  /** Consumes the first `n` buffered bytes. */
  private take(n: number): Uint8Array {
    this.buffered -= n
    const first = this.chunks[0] as Uint8Array
    const available = first.length - this.head
    if (available >= n) {
      const view = first.subarray(this.head, this.head + n)
      if (available === n) {
        this.chunks.shift()
        this.head = 0
      } else {
        this.head += n
      }
      return view
    }
    const out = new Uint8Array(n)
    let filled = 0
    while (filled < n) {
      const chunk = this.chunks[0] as Uint8Array
      const count = Math.min(n - filled, chunk.length - this.head)
      out.set(chunk.subarray(this.head, this.head + count), filled)
      filled += count
      if (this.head + count === chunk.length) {
        this.chunks.shift()
        this.head = 0
      } else {
        this.head += count
      }
    }
    return out
  }
}

/**
 * Splits a stream of byte chunks into the bytes of whole packets, without decoding them. Fails
 * with a `DecodeError` when the framing breaks or the input ends inside a packet.
 */
export const framePackets =
  (options?: FramingOptions) =>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Uint8Array, E | DecodeError, R> =>
    frame(self, options, Result.succeed)

/**
 * Decodes a stream of byte chunks, split anywhere, into packets (with their decode warnings).
 * Fails with a `DecodeError` on the first packet that cannot be framed or decoded, or when the
 * input ends inside a packet; ending between packets ends the stream.
 */
export const decodePackets =
  (options?: FramingOptions & DecodeOptions) =>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Decoded, E | DecodeError, R> =>
    frame(self, options, (bytes, offset) => decodePacket(bytes, { copy: options?.copy, baseOffset: offset }))

/** Encodes a stream of packets into their wire bytes, one chunk per packet. */
export const encodePackets = <E, R>(
  self: Stream.Stream<PacketInput, E, R>
): Stream.Stream<Uint8Array, E | EncodeError, R> =>
  Stream.mapEffect(self, (packet) => Effect.fromResult(encodePacket(packet)))

const frame = <A, E, R>(
  self: Stream.Stream<Uint8Array, E, R>,
  options: FramingOptions | undefined,
  convert: (bytes: Uint8Array, offset: number) => Result.Result<A, DecodeError>
): Stream.Stream<A, E | DecodeError, R> =>
  Stream.transformPull(self, (upstream) =>
    Effect.sync(() => {
      const framer = new PacketFramer(options)
      let ended = false
      let failure: DecodeError | undefined
      const pull: Pull.Pull<readonly [A, ...Array<A>], E | DecodeError> = Effect.suspend(() => {
        if (failure !== undefined) return Effect.fail(failure)
        const out: Array<A> = []
        for (;;) {
          const offset = framer.offset
          const next = ended && framer.pending === 0 ? undefined : framer.next()
          if (next === undefined) break
          if (next instanceof DecodeError) {
            failure = next
            break
          }
          const converted = convert(next, offset)
          if (Result.isFailure(converted)) {
            failure = converted.failure
            break
          }
          out.push(converted.success)
        }
        if (out.length > 0) return Effect.succeed(out as unknown as readonly [A, ...Array<A>])
        if (failure !== undefined) return Effect.fail(failure)
        if (ended) {
          const truncated = framer.end()
          return truncated === undefined ? Cause.done() : Effect.fail((failure = truncated))
        }
        return upstream.pipe(
          Effect.flatMap((chunks) => {
            for (const chunk of chunks) framer.push(chunk)
            return pull
          }),
          Pull.catchDone(() => {
            ended = true
            return pull
          })
        )
      })
      return pull
    })
  )
