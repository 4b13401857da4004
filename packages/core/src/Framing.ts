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
 * Chunks may be any `Uint8Array`, Node `Buffer`s included, split anywhere: the packets handed
 * out are plain `Uint8Array`s (views on a chunk, or fresh memory for a packet split across
 * chunks), never `Buffer`s, and decode the same whatever their offset.
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
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { DecodeError, type EncodeError } from "./CodecError.js"
import {
  DEFAULT_DECODE_STEP_BUDGET,
  type Decoded,
  type DecodeOptions,
  declaredPacketSize,
  PacketDecoder
} from "./Decoder.js"
import { encodePacket } from "./Encoder.js"
import type { PacketInput } from "./Packet.js"

/** The default largest packet a stream reader accepts: 64 MiB. */
export const DEFAULT_MAX_PACKET_BYTES = 64 * 1024 * 1024

/** Options of stream framing. */
export interface FramingOptions {
  /** The largest declared packet size accepted, in bytes. Default 64 MiB. */
  readonly maxPacketBytes?: number | undefined
}

/**
 * Options of {@link decodePackets}: framing, the decoder's (`copy`, `maxFieldsPerPacket`,
 * `maxParamsPerField`, `maxParamsPerPacket`; offsets are counted from the start of the stream), and how much to
 * decode before yielding.
 */
export interface DecodePacketsOptions extends FramingOptions, Omit<DecodeOptions, "baseOffset"> {
  /**
   * Fields and params decoded in one go before the stream yields to other fibers, inside a
   * large packet (see `PacketDecoder`). Default `DEFAULT_DECODE_STEP_BUDGET`.
   */
  readonly decodeStepBudget?: number | undefined
}

const HEADER_PREFIX = 12

/** A plain `Uint8Array` view of `length` bytes at `at` of `chunk`, even when `chunk` is a `Buffer`. */
const viewOf = (chunk: Uint8Array, at: number, length: number): Uint8Array =>
  new Uint8Array(chunk.buffer, chunk.byteOffset + at, length)

/**
 * The framing state machine: feed it chunks with {@link push}, take whole packets with
 * {@link next}, and call {@link end} when the input ends.
 *
 * A packet that lies whole inside one chunk is returned as a view on that chunk, without
 * copying; a packet split across chunks is assembled once into a buffer of its exact size.
 * Either way it is a plain `Uint8Array`, whatever the class of the chunks. Only the unread
 * remainder is kept.
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
    if (first.length - this.head >= n) return viewOf(first, this.head, n)
    const out = new Uint8Array(n)
    let filled = 0
    for (let i = 0; filled < n; i++) {
      const chunk = this.chunks[i] as Uint8Array
      const start = i === 0 ? this.head : 0
      const count = Math.min(n - filled, chunk.length - start)
      out.set(viewOf(chunk, start, count), filled)
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
      const view = viewOf(first, this.head, n)
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
      out.set(viewOf(chunk, this.head, count), filled)
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
 * Decodes a stream of byte chunks, split anywhere, into packets (with their decode warnings).
 * Fails with a `DecodeError` on the first packet that cannot be framed or decoded, or when the
 * input ends inside a packet; ending between packets ends the stream. A packet that takes more
 * than one decode step (`decodeStepBudget` fields and params) is decoded in steps with a
 * yield between them, so a huge packet does not hold the thread.
 */
export const decodePackets =
  (options?: DecodePacketsOptions) =>
  <E, R>(self: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Decoded, E | DecodeError, R> => {
    const budget = options?.decodeStepBudget ?? DEFAULT_DECODE_STEP_BUDGET
    return frame(self, options, (bytes, offset) => {
      const decoder = new PacketDecoder(bytes, {
        copy: options?.copy,
        maxFieldsPerPacket: options?.maxFieldsPerPacket,
        maxParamsPerField: options?.maxParamsPerField,
        maxParamsPerPacket: options?.maxParamsPerPacket,
        baseOffset: offset
      })
      return decoder.step(budget) ?? { step: () => decoder.step(budget) }
    })
  }

/** Encodes a stream of packets into their wire bytes, one chunk per packet. */
export const encodePackets = <E, R>(
  self: Stream.Stream<PacketInput, E, R>
): Stream.Stream<Uint8Array, E | EncodeError, R> =>
  Stream.mapEffect(self, (packet) => Effect.fromResult(encodePacket(packet)))

/** A conversion that did not finish in one go: call `step` again (after a yield) until it gives a result. */
interface Unfinished<A> {
  readonly step: () => Result.Result<A, DecodeError> | undefined
}

const frame = <A, E, R>(
  self: Stream.Stream<Uint8Array, E, R>,
  options: FramingOptions | undefined,
  convert: (bytes: Uint8Array, offset: number) => Result.Result<A, DecodeError> | Unfinished<A>
): Stream.Stream<A, E | DecodeError, R> =>
  Stream.transformPull(self, (upstream) =>
    Effect.sync(() => {
      const framer = new PacketFramer(options)
      let ended = false
      let failure: DecodeError | undefined
      let unfinished: Unfinished<A> | undefined
      // A packet has more steps to go: hand out what is done, or let other fibers run first.
      const pause = (out: Array<A>) =>
        Arr.isArrayNonEmpty(out) ? Effect.succeed(out) : Effect.andThen(Effect.yieldNow, pull)
      const pull: Pull.Pull<readonly [A, ...Array<A>], E | DecodeError> = Effect.suspend(() => {
        if (failure !== undefined) return Effect.fail(failure)
        const out: Array<A> = []
        for (;;) {
          let converted: Result.Result<A, DecodeError> | Unfinished<A>
          if (unfinished !== undefined) {
            const stepped = unfinished.step()
            if (stepped === undefined) return pause(out)
            unfinished = undefined
            converted = stepped
          } else {
            const offset = framer.offset
            const next = ended && framer.pending === 0 ? undefined : framer.next()
            if (next === undefined) break
            if (next instanceof DecodeError) {
              failure = next
              break
            }
            converted = convert(next, offset)
            if (!Result.isResult(converted)) {
              unfinished = converted
              return pause(out)
            }
          }
          if (Result.isFailure(converted)) {
            failure = converted.failure
            break
          }
          out.push(converted.success)
        }
        if (Arr.isArrayNonEmpty(out)) return Effect.succeed(out)
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
