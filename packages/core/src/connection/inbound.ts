/**
 * What a connection has received and not yet routed: the bytes in its packet framer, what they
 * count against the read budget, and their decoding into packets (large ones in steps, yielding
 * to the event loop between them). The reader ({@link Reader}) feeds it, however the bytes
 * arrive, and asks it whether reading must wait: for room in the budget while decoded fields
 * wait to be taken, or for room for a large packet whose header has come.
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Scheduler from "effect/Scheduler"
import { DecodeError } from "../CodecError.js"
import { ConnectionClosed, type ConnectionError } from "../ConnectionError.js"
import { type Decoded, type DecodeOptions, decodePacket, PacketDecoder } from "../Decoder.js"
import { PacketFramer } from "../Framing.js"
import type * as Limits from "../Limits.js"
import { ByteBudget } from "./budget.js"
import type { Telemetry } from "./telemetry.js"

/**
 * A packet being received counts at its declared size once its header is read; one this large
 * or smaller goes on even when the budget is full (a command), so a crowd of half-sent large
 * packets cannot stop every client, and what small ones hold beyond the budget stays bounded.
 */
const SMALL_PACKET_BYTES = 64 * 1024

/** Packets from this size on are decoded in steps, yielding to the event loop between them. */
const STEPPED_DECODE_BYTES = 256 * 1024

/** A yield to the event loop (a macrotask), whatever scheduler the fiber runs on. */
export const yieldToEventLoop = Effect.yieldNow.pipe(
  Effect.provideService(Scheduler.Scheduler, new Scheduler.MixedScheduler())
)

export class Inbound {
  private readonly framer: PacketFramer
  /**
   * What received data holds: bytes in the framer, and the cost of decoded fields queued for
   * Responses, subscribers and the inbox (routing's mailboxes count against it).
   */
  readonly budget: ByteBudget
  /** What the framer's bytes count for in the budget: as received, or a partial packet at its declared size. */
  private counted = 0
  /**
   * The decoder's options for packets decoded at once: one object, of one shape, for every
   * packet (the decoder keeps no reference to it). A spread made objects the decoder's reads of
   * its options could not optimise, costing about an eighth of the round-trip rate.
   */
  private readonly decodeOptions: {
    readonly maxFieldsPerPacket: number
    readonly maxParamsPerField: number
    readonly maxParamsPerPacket: number
    baseOffset: number
  }

  constructor(
    private readonly peer: { readonly remote: string },
    limits: Limits.ConnectionLimits,
    /** A budget every received byte also counts against: a server's total. */
    totalBudget: ByteBudget | undefined,
    private readonly telemetry: Telemetry
  ) {
    this.framer = new PacketFramer({ maxPacketBytes: limits.maxPacketBytes })
    this.decodeOptions = {
      maxFieldsPerPacket: limits.maxFieldsPerPacket,
      maxParamsPerField: limits.maxParamsPerField,
      maxParamsPerPacket: limits.maxParamsPerPacket,
      baseOffset: 0
    }
    this.budget = new ByteBudget(limits.maxBufferedBytes, totalBudget)
  }

  /** Takes received bytes; {@link count} then counts them. */
  push(bytes: Uint8Array): void {
    this.framer.push(bytes)
    this.telemetry.received(bytes.length)
  }

  /** Gives back bytes read past the end of something else (a tunnel head): packets come next. */
  unread(bytes: Uint8Array): void {
    this.framer.push(bytes)
    this.budget.take(bytes.length)
    this.counted += bytes.length
  }

  /**
   * Counts what the framer holds: the bytes received, or, once a packet's header says how large
   * it is, that size. A large packet whose size does not fit the budget (or the server's total)
   * waits for room before any more of it is read (the Effect returned; `undefined` when nothing
   * waits): its memory is counted before it is taken.
   */
  count(): Effect.Effect<void> | undefined {
    const framer = this.framer
    const pending = framer.pending
    // the usual case: whatever was received has been routed
    if (pending === 0 && this.counted === 0) return undefined
    const partial = framer.partial
    const want = partial === undefined ? pending : Math.max(partial, pending)
    const more = want - this.counted
    if (more <= 0) return undefined
    this.counted = want
    if (partial === undefined || partial <= SMALL_PACKET_BYTES || this.budget.fitsNow(more)) {
      this.budget.take(more)
      return undefined
    }
    this.telemetry.budgetWait("read")
    return this.budget.acquire(more)
  }

  /**
   * What reading must wait for before it reads on, if anything: while decoded fields nobody has
   * taken yet fill the read budget (or the server's total), room. The packet being framed never
   * waits, so one always completes.
   */
  roomToRead(): Effect.Effect<void> | undefined {
    const budget = this.budget
    if (!budget.full || budget.used <= this.counted) return undefined
    this.telemetry.budgetWait("read")
    return budget.room
  }

  /**
   * The end of input as an error: a `Truncated` `DecodeError` inside a packet, `ConnectionClosed`
   * between packets.
   */
  endOfInput(): ConnectionError {
    return (
      this.framer.end() ?? new ConnectionClosed({ detail: "the peer closed the connection", remote: this.peer.remote })
    )
  }

  /**
   * The next whole packet the framer holds: decoded at once, or, when it is large, a
   * `PacketDecoder` to run with {@link decodeInSteps}; `undefined` when more bytes are needed.
   */
  nextDecoded(): Result.Result<Decoded, DecodeError> | PacketDecoder | undefined {
    const offset = this.framer.offset
    const next = this.framer.next()
    if (next === undefined) return undefined
    if (next instanceof DecodeError) return Result.fail(next)
    this.budget.give(next.length)
    this.counted -= next.length
    const options = this.decodeOptions
    if (next.length < STEPPED_DECODE_BYTES) {
      options.baseOffset = offset
      return decodePacket(next, options)
    }
    // A decoder in steps keeps its options: its own.
    const own: DecodeOptions = {
      maxFieldsPerPacket: options.maxFieldsPerPacket,
      maxParamsPerField: options.maxParamsPerField,
      maxParamsPerPacket: options.maxParamsPerPacket,
      baseOffset: offset
    }
    return new PacketDecoder(next, own)
  }

  /**
   * Decodes a large packet a slice at a time, letting the event loop run between slices, so
   * that one connection's huge packet does not stall every other connection.
   */
  decodeInSteps(decoder: PacketDecoder): Effect.Effect<Decoded, DecodeError> {
    const step: Effect.Effect<Decoded, DecodeError> = Effect.suspend(() => {
      const result = decoder.step()
      if (result === undefined) return Effect.andThen(yieldToEventLoop, step)
      return Result.isSuccess(result) ? Effect.succeed(result.success) : Effect.fail(result.failure)
    })
    return step
  }
}
