/**
 * The reading half of a connection: how received bytes reach its packets ({@link Inbound}).
 *
 * Reading has two modes. Until the connection opens (the tunnel, the handshake), parts pull:
 * {@link Reader.pullBytes}, {@link Reader.readPacket}. Once it is open,
 * {@link Reader.startRouting} turns the reader around: the link pushes each chunk as it
 * arrives, and every whole packet is routed synchronously, in the socket's own event, with no
 * fiber per packet. Only what has to wait (a full mailbox, a log line, a large packet decoded in
 * steps, the packet rate, another connection's turn, the read budget) runs as an Effect, in a
 * fiber forked for the occasion, with reading paused meanwhile: backpressure to the peer.
 *
 * It also stamps since when it has been waiting for bytes, for the receive timeout: time spent
 * paused for a slow consumer never counts as the peer's silence.
 */
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Socket from "effect/socket/Socket"
import * as Bytes from "../Bytes.js"
import type { ConnectionError, NetworkError } from "../ConnectionError.js"
import type { Decoded } from "../Decoder.js"
import { PacketDecoder } from "../Decoder.js"
import type { ByteBudget } from "./budget.js"
import type { Inbound } from "./inbound.js"
import type { Link } from "./link.js"
import type { WarningLog } from "./log.js"
import { isGracefulClose, networkError } from "./socketError.js"

/**
 * What routing does with the packets received once the connection is open: `route` routes
 * every whole packet, returning an Effect only for what must wait (or fail); `onExit` handles
 * how reading ended, in the fiber that runs it.
 */
export interface Routing {
  readonly route: () => Effect.Effect<void, ConnectionError> | undefined
  readonly onExit: (effect: Effect.Effect<unknown, ConnectionError>) => Effect.Effect<void>
}

/** How the input ended: gracefully (the peer's FIN), or with the socket's error. */
export type InputEnd = { readonly _tag: "End" } | { readonly _tag: "Fail"; readonly error: Socket.SocketError }

const textEncoder = new TextEncoder()

const concatChunks = (chunks: ReadonlyArray<Uint8Array | string>): Uint8Array => {
  const [first] = chunks
  // The usual case: one chunk of bytes, passed on as it is.
  if (chunks.length === 1 && first instanceof Uint8Array) return first
  return Bytes.concat(chunks.map((chunk) => (typeof chunk === "string" ? textEncoder.encode(chunk) : chunk)))
}

/** Whether a socket error is the graceful end of input. */
export const isGraceful = (end: InputEnd): boolean => end._tag === "End" || isGracefulClose(end.error)

export class Reader {
  /**
   * Epoch millis (Clock) since which the reader has been waiting for bytes, or `undefined` while
   * it waits for nothing (not reading, or paused for a slow consumer).
   */
  private waitingSinceMillis: number | undefined
  /** Whether the link is paused: by a pushed chunk not pulled yet, or by routing that waits. */
  private paused = false
  /** Pulling (before routing): chunks pushed and not pulled yet. */
  private pulled: Array<Uint8Array> = []
  /** Pulling: the pull waiting for a chunk. */
  private puller: ((effect: Effect.Effect<Uint8Array | undefined, NetworkError>) => void) | undefined
  /** How the input ended, once it has; acted on once every packet before the end is routed. */
  private inputEnd: InputEnd | undefined
  /** Routing (once the connection is open). */
  private routing: Routing | undefined
  /**
   * Routing is running, synchronously or in a fiber waiting for something: bytes arriving
   * meanwhile go into the framer and are routed by that run.
   */
  private busy = false
  /** Input is over: it ended, failed, or the connection is closing. */
  private inputDone = false
  /** Set when reading failed unexpectedly before routing: every later pull dies with it. */
  private pullDefect: Cause.Cause<never> | undefined

  /** The next chunk of bytes, or `undefined` at a graceful end of input. Built once: every read runs it. */
  readonly pullBytes: Effect.Effect<Uint8Array | undefined, NetworkError>

  constructor(
    private readonly link: Link,
    /** The packets received, and what they count against. */
    readonly inbound: Inbound,
    private readonly peer: { readonly remote: string },
    private readonly log: WarningLog,
    private readonly clock: Clock.Clock,
    /** Runs an Effect in a fiber of the connection's scope: what routing has to wait for. */
    private readonly spawn: (effect: Effect.Effect<void>) => void
  ) {
    this.pullBytes = link.pull === undefined ? this.pullPushed : this.pullFromReader(link.pull)
  }

  /** What received data counts against (see {@link Inbound.budget}). */
  get budget(): ByteBudget {
    return this.inbound.budget
  }

  /** Epoch millis since which the reader has been waiting for bytes, or `undefined`. */
  get waitingSince(): number | undefined {
    return this.waitingSinceMillis
  }

  /** Gives back bytes read past the end of something else (a tunnel head): packets come next. */
  unread(bytes: Uint8Array): void {
    this.inbound.unread(bytes)
  }

  private pause(): void {
    this.waitingSinceMillis = undefined
    if (this.paused) return
    this.paused = true
    this.link.pause()
  }

  private resume(): void {
    if (!this.paused) return
    this.paused = false
    this.link.resume()
  }

  // --- what the link tells ---

  /** A chunk from the link: held for a pull, or (once routing) framed and routed at once. */
  receive(chunk: Uint8Array): void {
    if (this.inputDone) return
    if (this.routing === undefined) {
      // One chunk at a time: the link stays paused until it is pulled.
      this.pulled.push(chunk)
      this.pause()
      const puller = this.puller
      if (puller !== undefined) {
        this.puller = undefined
        puller(Effect.succeed(this.takePulled()))
      }
      return
    }
    try {
      this.inbound.push(chunk)
    } catch (cause) {
      this.defect(Cause.die(cause))
      return
    }
    if (!this.busy) this.pump()
  }

  /** The input ended, gracefully or not: acted on once what came before is routed. */
  receiveEnd(end: InputEnd): void {
    if (this.inputEnd !== undefined) return
    this.inputEnd = end
    this.waitingSinceMillis = undefined
    if (this.routing === undefined) {
      const puller = this.puller
      if (puller !== undefined && this.pulled.length === 0) {
        this.puller = undefined
        puller(this.endOfPull(end))
      }
      return
    }
    if (!this.busy) this.pump()
  }

  /** A defect while reading (a bug in the decoder or the socket): ends the connection with a `ConnectionDefect`. */
  defect(cause: Cause.Cause<never>): void {
    if (this.inputDone) return
    this.inputDone = true
    this.busy = true
    this.pause()
    const routing = this.routing
    // Before routing, the pull waiting and every later one die with it instead.
    if (routing === undefined) {
      const defect = Cause.die(Cause.squash(cause))
      this.pullDefect = defect
      this.pulled = []
      const puller = this.puller
      this.puller = undefined
      puller?.(Effect.failCause(defect))
      return
    }
    this.spawn(routing.onExit(Effect.failCause(cause)))
  }

  /**
   * Stops reading for good: the connection is closing. What its read budget still holds goes
   * back to the server's total now (a packet half received counts at its declared size).
   */
  close(): void {
    this.inputDone = true
    this.inbound.budget.detach()
  }

  // --- pulling, until the connection opens ---

  private takePulled(): Uint8Array {
    const chunk = this.pulled.shift() as Uint8Array
    if (this.pulled.length === 0) this.resume()
    return chunk
  }

  private endOfPull(end: InputEnd): Effect.Effect<undefined, NetworkError> {
    if (end._tag === "End" || isGraceful(end)) return Effect.succeed(undefined)
    return Effect.fail(networkError(end.error, this.peer.remote))
  }

  /** Pulling a `DirectSocket`: what it pushed, one chunk at a time. */
  private readonly pullPushed: Effect.Effect<Uint8Array | undefined, NetworkError> = Effect.suspend(() => {
    if (this.pullDefect !== undefined) return Effect.failCause(this.pullDefect)
    if (this.pulled.length > 0) return Effect.succeed(this.takePulled())
    if (this.inputEnd !== undefined) return this.endOfPull(this.inputEnd)
    return Effect.callback<Uint8Array | undefined, NetworkError>((resume) => {
      this.puller = resume
      this.waitingSinceMillis = this.clock.currentTimeMillisUnsafe()
      this.resume()
      return Effect.sync(() => {
        if (this.puller === resume) this.puller = undefined
        this.waitingSinceMillis = undefined
      })
    })
  })

  /** An adapted socket's reader, pulled in the caller's fiber, stamped for the receive timeout. */
  private pullFromReader(
    pull: Effect.Effect<ReadonlyArray<Uint8Array | string>, Socket.SocketError>
  ): Effect.Effect<Uint8Array | undefined, NetworkError> {
    const waited = Effect.ensuring(
      pull,
      Effect.sync(() => {
        this.waitingSinceMillis = undefined
      })
    )
    return Effect.suspend(() => {
      this.waitingSinceMillis = this.clock.currentTimeMillisUnsafe()
      return waited
    }).pipe(
      Effect.map(concatChunks),
      Effect.catch((error: Socket.SocketError) => {
        if (isGracefulClose(error)) return Effect.succeed(undefined)
        return Effect.fail(networkError(error, this.peer.remote))
      })
    )
  }

  private readonly pullIntoFramer: Effect.Effect<void, ConnectionError> = Effect.flatMap(
    Effect.suspend(() => this.pullBytes),
    (bytes): Effect.Effect<void, ConnectionError> => {
      if (bytes === undefined) return Effect.fail(this.inbound.endOfInput())
      this.inbound.push(bytes)
      return this.inbound.count() ?? Effect.void
    }
  )

  /**
   * Pulls the next chunk into the framer, once the read budget has room (see
   * {@link Inbound.roomToRead}). The end of input fails: with `ConnectionClosed` between
   * packets, with a `Truncated` `DecodeError` inside one.
   */
  readonly fill: Effect.Effect<void, ConnectionError> = Effect.suspend(() => {
    const room = this.inbound.roomToRead()
    return room === undefined ? this.pullIntoFramer : Effect.andThen(room, this.pullIntoFramer)
  })

  /** The next whole packet, decoded, pulling as needed; its decode warnings are logged. */
  readPacket(): Effect.Effect<Decoded, ConnectionError> {
    return Effect.suspend(() => {
      const next = this.inbound.nextDecoded()
      if (next === undefined) return Effect.andThen(this.fill, this.readPacket())
      const decoded =
        next instanceof PacketDecoder
          ? this.inbound.decodeInSteps(next)
          : Result.isFailure(next)
            ? Effect.fail(next.failure)
            : Effect.succeed(next.success)
      return Effect.tap(decoded, (packet) =>
        packet.warningCount === 0 ? Effect.void : this.log.decodeWarnings(packet)
      )
    })
  }

  // --- routing, once the connection is open ---

  /**
   * Turns reading around: from now on every chunk is routed as it arrives, by `routing`,
   * starting with what the handshake read past its last packet.
   */
  startRouting(routing: Routing): void {
    this.routing = routing
    const pulled = this.pulled
    this.pulled = []
    for (const chunk of pulled) this.inbound.push(chunk)
    this.link.push(this.spawn)
    this.pump()
  }

  /**
   * Routes every whole packet received, synchronously; then either reads on, or hands what must
   * wait to a fiber, paused meanwhile, which goes on routing once it is done.
   */
  private pump(): void {
    const routing = this.routing
    if (routing === undefined || this.inputDone) return
    const next = this.step()
    if (next !== undefined) this.spawn(routing.onExit(next))
  }

  /**
   * One run of routing: `undefined` when everything received is routed and reading goes on;
   * else, with reading paused, what must be waited for before routing goes on, or how the
   * input ended.
   */
  private step(): Effect.Effect<void, ConnectionError> | undefined {
    const routing = this.routing
    if (routing === undefined || this.inputDone) return undefined
    this.busy = true
    const inbound = this.inbound
    let wait: Effect.Effect<void, ConnectionError> | undefined
    try {
      // what came is counted first (a large packet's room is waited for before it is read on),
      // then routed, then the budget asked whether reading goes on
      wait = inbound.count() ?? routing.route() ?? inbound.count() ?? inbound.roomToRead()
    } catch (cause) {
      this.busy = false
      this.defect(Cause.die(cause))
      return undefined
    }
    if (wait !== undefined) {
      this.pause()
      return Effect.andThen(wait, this.routeAgain)
    }
    const end = this.inputEnd
    if (end !== undefined) {
      // Every packet before the end is routed: now the end.
      this.inputDone = true
      return Effect.fail(
        end._tag === "Fail" && !isGraceful(end) ? networkError(end.error, this.peer.remote) : inbound.endOfInput()
      )
    }
    this.busy = false
    this.waitingSinceMillis = this.clock.currentTimeMillisUnsafe()
    this.resume()
    return undefined
  }

  /** After a wait: routing goes on, in the same fiber while it must wait, in the socket's events once not. */
  private readonly routeAgain: Effect.Effect<void, ConnectionError> = Effect.suspend(() => {
    this.busy = false
    return this.step() ?? Effect.void
  })
}
