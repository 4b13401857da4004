/**
 * The connection's streams: `fields` (every field from now on, the unclaimed ones queued before
 * it first), `warnings` (the node's `CommandWarning`s), and a Response's replies. Each
 * subscriber of `fields` or `warnings` has a mailbox of its own, which routing offers to; a
 * slow `fields` subscriber makes routing wait (backpressure to the peer), a slow `warnings` one
 * misses the oldest.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import type * as Pull from "effect/Pull"
import * as Stream from "effect/Stream"
import { type CommandWarning, ConnectionClosed, type ConnectionError } from "../ConnectionError.js"
import type { ByteBudget } from "./budget.js"
import { anyItem, fromItem, type Item, isClosed, type Received } from "./items.js"
import { Mailbox } from "./mailbox.js"

/** Warnings a `warnings` subscriber may fall behind before it misses the oldest. */
const WARNINGS_BUFFER = 64

export class Subscriptions {
  private readonly fieldSubscribers = new Set<Mailbox<Received, ConnectionError>>()
  private readonly warningSubscribers = new Set<Mailbox<CommandWarning, ConnectionError>>()
  /** Why fields are no longer delivered, once they are not. */
  private stopped: ConnectionClosed | undefined

  constructor(
    private readonly peer: { readonly remote: string; readonly ended: ConnectionError | undefined },
    /** How many fields a subscriber holds before routing waits. */
    private readonly capacity: number,
    /** What the fields they hold count against. */
    private readonly budget: ByteBudget,
    /** The unclaimed fields queued before a `fields` stream starts, which it hands out first. */
    private readonly inbox: Mailbox<Item, ConnectionError>
  ) {}

  /** Whether a `fields` stream runs: unclaimed fields then go to it, not to the inbox. */
  get hasFieldSubscribers(): boolean {
    return this.fieldSubscribers.size > 0
  }

  /** Whether anybody listens to `warnings`. */
  get hasWarningSubscribers(): boolean {
    return this.warningSubscribers.size > 0
  }

  /** Offers a field to every `fields` subscriber; adds the waits of those that are full to `waits`. */
  offerField(
    received: Received,
    cost: number,
    waits: Array<Effect.Effect<void>> | undefined
  ): Array<Effect.Effect<void>> | undefined {
    for (const mailbox of this.fieldSubscribers) {
      const wait = mailbox.offerNow(received, cost)
      if (wait !== undefined) (waits ??= []).push(wait)
    }
    return waits
  }

  /** Hands a warning to every `warnings` subscriber, dropping the oldest of one that has fallen behind. */
  offerWarning(warning: CommandWarning): void {
    for (const mailbox of this.warningSubscribers) mailbox.offerDroppingOldest(warning, 0, Number.POSITIVE_INFINITY)
  }

  /** The `fields` streams end with `reason` once they have handed out what they hold. */
  stop(reason: ConnectionClosed): void {
    this.stopped ??= reason
    for (const mailbox of this.fieldSubscribers) mailbox.end(reason)
  }

  /** Every stream ends with `error`, once it has handed out what it holds. */
  end(error: ConnectionError): void {
    for (const mailbox of this.fieldSubscribers) mailbox.end(error)
    for (const mailbox of this.warningSubscribers) mailbox.end(error)
  }

  private readonly subscribeFields = Effect.acquireRelease(
    Effect.sync(() => {
      const mailbox = new Mailbox<Received, ConnectionError>(this.capacity, this.budget)
      const ended = this.peer.ended ?? this.stopped
      if (ended !== undefined) mailbox.end(ended)
      this.fieldSubscribers.add(mailbox)
      return mailbox
    }),
    (mailbox) =>
      Effect.sync(() => {
        this.fieldSubscribers.delete(mailbox)
        mailbox.discard(new ConnectionClosed({ detail: "the fields stream ended", remote: this.peer.remote }))
      })
  )

  /** Every field from now on, the queued unclaimed ones first. */
  readonly fields: Stream.Stream<Received, ConnectionError> = Stream.unwrap(
    Effect.map(this.subscribeFields, (mailbox) => {
      // Fields that arrived before the stream started come first.
      const queued = this.inbox.drain()
      // Mostly none: then no concatenation layer for every later field to go through.
      if (queued.length === 0) return streamFields(mailbox)
      const first = Stream.fromIterable(queued).pipe(Stream.mapEffect(fromItem))
      return Stream.concat(first, streamFields(mailbox))
    })
  )

  /** The node's warnings from now on; it ends when the connection does. */
  readonly warnings: Stream.Stream<CommandWarning> = Stream.unwrap(
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => {
          const mailbox = new Mailbox<CommandWarning, ConnectionError>(WARNINGS_BUFFER)
          const ended = this.peer.ended
          if (ended !== undefined) mailbox.end(ended)
          this.warningSubscribers.add(mailbox)
          return mailbox
        }),
        (mailbox) => Effect.sync(() => this.warningSubscribers.delete(mailbox))
      ),
      (mailbox) => Stream.fromPull(Effect.succeed(mailbox.pullAll((): Pull.Pull<never> => Cause.done())))
    )
  )
}

/** A Stream of a mailbox's fields; it ends at a graceful close, fails on other errors. */
const streamFields = (mailbox: Mailbox<Received, ConnectionError>): Stream.Stream<Received, ConnectionError> => {
  const pull: Pull.Pull<readonly [Received, ...Array<Received>], ConnectionError> = mailbox.pullAll(
    (error: ConnectionError): Pull.Pull<never, ConnectionError> => (isClosed(error) ? Cause.done() : Effect.fail(error))
  )
  return Stream.fromPull(Effect.succeed(pull))
}

/**
 * A Stream of a Response's replies; an error reply fails it after the replies before it. Each
 * take goes through `deadline` (the Response's reply deadline).
 */
export const streamItems = (
  mailbox: Mailbox<Item, ConnectionError>,
  deadline: (take: Effect.Effect<Received, ConnectionError>) => Effect.Effect<Received, ConnectionError>
): Stream.Stream<Received, ConnectionError> => {
  // One item per pull: an error reply must fail the stream without taking the replies after it.
  const pull: Pull.Pull<readonly [Received], ConnectionError> = deadline(mailbox.takeAs(anyItem, fromItem)).pipe(
    Effect.map((received) => [received] as const),
    Effect.catch(
      (error: ConnectionError): Pull.Pull<never, ConnectionError> =>
        isClosed(error) ? Cause.done() : Effect.fail(error)
    )
  )
  return Stream.fromPull(Effect.succeed(pull))
}
