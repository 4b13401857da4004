/**
 * Stream framing: byte chunks, split anywhere, into packets, and packets into bytes.
 *
 * Packets on a connection follow each other with nothing in between: read 12 bytes, learn
 * the size, read the rest. {@link PacketFramer} is the synchronous state machine that does
 * this; {@link decodePackets} and {@link encodePackets} wrap it as Stream transformations that
 * keep Effect's pull-based backpressure (no byte is read before a packet is asked for).
 *
 * A declared size above `maxPacketBytes` (default `Limits.client.maxPacketBytes`, 64 MiB) is
 * refused as soon as the header is read, before waiting for or allocating the body.
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
 * @module
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { DecodeError, type EncodeError } from "./CodecError.js"
import * as Reader from "./codec/reader.js"
import { type Decoded, type DecodeOptions, PacketDecoder } from "./Decoder.js"
import { encodePacket } from "./Encoder.js"
import * as Limits from "./Limits.js"
import { HEADER_MAGIC, type PacketInput } from "./Packet.js"

/** Options of stream framing: the largest declared packet size accepted, default `Limits.client`'s (64 MiB). */
export interface FramingOptions extends Partial<Pick<Limits.All, "maxPacketBytes">> {}

/**
 * The total size in bytes a packet header declares, read from its first 12 bytes, or a
 * `DecodeError` when they are not the start of a packet (offsets from `baseOffset`). Framing
 * asks it to learn how much to read before it reads it.
 *
 * @example
 * ```ts
 * import { Framing } from "@effect-ncp/core"
 * import * as Result from "effect/Result"
 *
 * declare const header: Uint8Array // the first 12 bytes of a packet
 * const size = Result.getOrThrow(Framing.declaredPacketSize(header))
 * ```
 */
export const declaredPacketSize = (header: Uint8Array, baseOffset = 0): Result.Result<number, DecodeError> => {
  if (header.length < Reader.SIZE_PREFIX_BYTES) {
    return Result.fail(
      new DecodeError({
        reason: "Truncated",
        offset: baseOffset,
        detail: `a packet header needs ${Reader.SIZE_PREFIX_BYTES} bytes, got ${header.length}`
      })
    )
  }
  const view = new DataView(header.buffer, header.byteOffset, Reader.SIZE_PREFIX_BYTES)
  const declared = Reader.declaredSize(view)
  if (declared >= Reader.MIN_PACKET_BYTES) return Result.succeed(declared)
  const fault = Reader.headerFault(view)
  return Result.fail(new DecodeError({ ...fault, offset: baseOffset + fault.offset }))
}

/**
 * Options of {@link decodePackets}: framing, the decoder's (`copy`, `maxFieldsPerPacket`,
 * `maxParamsPerField`, `maxParamsPerPacket`; offsets are counted from the start of the stream), and how much to
 * decode before yielding.
 */
export interface DecodePacketsOptions extends FramingOptions, Omit<DecodeOptions, "baseOffset"> {
  /**
   * Fields and params decoded in one go before the stream yields to other fibers, inside a
   * large packet (see `Decoder.PacketDecoder`). Default `Limits.decodeStepBudget`.
   */
  readonly decodeStepBudget?: number | undefined
}

/** A little-endian u32 read from bytes in place. */
const readU32 = (bytes: Uint8Array, at: number): number =>
  ((bytes[at] as number) |
    ((bytes[at + 1] as number) << 8) |
    ((bytes[at + 2] as number) << 16) |
    ((bytes[at + 3] as number) << 24)) >>>
  0

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
  /**
   * The declared size of the packet being received, once its header is read and while it is
   * not whole; its bytes are then copied into `assembly`, allocated at that size on the next
   * push, instead of being kept as the chunks they came in. So a packet sent in tiny segments
   * costs its size, not a chunk object per segment, and the chunks are free at once.
   */
  private partialSize: number | undefined
  private assembly: Uint8Array | undefined
  private assembled = 0

  constructor(options?: FramingOptions) {
    this.maxPacketBytes = options?.maxPacketBytes ?? Limits.client.maxPacketBytes
  }

  /** Bytes received but not yet returned as packets. */
  get pending(): number {
    return this.buffered
  }

  /** The stream offset of the next packet. */
  get offset(): number {
    return this.position
  }

  /**
   * The declared size of the packet being received when its header has been read but not all
   * of its bytes (a connection counts it at that size from then on), else `undefined`.
   */
  get partial(): number | undefined {
    if (this.partialSize !== undefined || this.failed !== undefined) return this.partialSize
    if (this.buffered < Reader.SIZE_PREFIX_BYTES) return undefined
    let size = this.plainHeaderSize()
    if (size === undefined) {
      const declared = declaredPacketSize(this.peek(Reader.SIZE_PREFIX_BYTES), this.position)
      // a bad header is next()'s to report
      if (Result.isFailure(declared)) return undefined
      size = declared.success
    }
    if (size > this.maxPacketBytes) return undefined
    if (size > this.buffered) this.partialSize = size
    return this.partialSize
  }

  /** Adds a chunk of input. The framer may keep a reference to it: do not reuse its memory. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return
    const size = this.partialSize
    if (size !== undefined) {
      if (this.assembly === undefined) this.startAssembly(size)
      const assembly = this.assembly as Uint8Array
      const count = Math.min(size - this.assembled, chunk.length)
      assembly.set(count === chunk.length ? chunk : viewOf(chunk, 0, count), this.assembled)
      this.assembled += count
      this.buffered += count
      if (count === chunk.length) return
      chunk = viewOf(chunk, count, chunk.length - count)
    }
    this.chunks.push(chunk)
    this.buffered += chunk.length
  }

  /** Moves the packet's bytes received so far out of their chunks into one buffer of its size. */
  private startAssembly(size: number): void {
    const assembly = new Uint8Array(size)
    let filled = 0
    for (let i = 0; i < this.chunks.length; i++) {
      const chunk = this.chunks[i] as Uint8Array
      const start = i === 0 ? this.head : 0
      assembly.set(viewOf(chunk, start, chunk.length - start), filled)
      filled += chunk.length - start
    }
    this.chunks = []
    this.head = 0
    this.assembly = assembly
    this.assembled = filled
  }

  /**
   * The bytes of the next whole packet, `undefined` when more input is needed, or a
   * `DecodeError` when the input cannot be framed (a bad header magic, a declared size below
   * the minimum or above `maxPacketBytes`). After an error, framing cannot resume: the
   * packet boundaries are lost.
   */
  next(): Uint8Array | DecodeError | undefined {
    if (this.failed !== undefined) return this.failed
    const assembly = this.assembly
    if (assembly !== undefined) {
      if (this.assembled < assembly.length) return undefined
      this.assembly = undefined
      this.partialSize = undefined
      this.buffered -= assembly.length
      this.position += assembly.length
      return assembly
    }
    if (this.buffered < Reader.SIZE_PREFIX_BYTES) return undefined
    let size = this.plainHeaderSize()
    if (size === undefined) {
      const declared = declaredPacketSize(this.peek(Reader.SIZE_PREFIX_BYTES), this.position)
      if (Result.isFailure(declared)) return (this.failed = declared.failure)
      size = declared.success
    }
    if (size > this.maxPacketBytes) {
      return (this.failed = new DecodeError({
        reason: "PacketTooLarge",
        offset: this.position + 8,
        detail: `declared packet size ${size} bytes exceeds maxPacketBytes ${this.maxPacketBytes}`
      }))
    }
    if (this.buffered < size) {
      this.partialSize = size
      return undefined
    }
    this.partialSize = undefined
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

  /**
   * The declared size of a well-formed header lying whole in the first chunk, read in place:
   * no view, DataView or Result per packet. `undefined` for anything else (a header split
   * across chunks, or a bad one), which `declaredPacketSize` then reads, or refuses.
   */
  private plainHeaderSize(): number | undefined {
    const first = this.chunks[0]
    const at = this.head
    if (first === undefined || first.length - at < Reader.SIZE_PREFIX_BYTES) return undefined
    if (readU32(first, at) !== HEADER_MAGIC) return undefined
    const size = readU32(first, at + 8) * 4
    // smaller sizes are refused, with the general reading's error
    return size >= Reader.MIN_PACKET_BYTES ? size : undefined
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
    const budget = options?.decodeStepBudget ?? Limits.decodeStepBudget
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
