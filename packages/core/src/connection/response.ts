/**
 * The `Response` that `send` returns: the mailbox its command's replies are routed to (see
 * `responses.ts`), read with `recv`, `recvField` or `fields`, each reply under the command's
 * deadline.
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Stream from "effect/Stream"
import type { IncomingField, Response } from "../Connection.js"
import type { ConnectionError } from "../ConnectionError.js"
import type { ByteBudget } from "./budget.js"
import { anyItem, fromItem, itemMatches } from "./items.js"
import { ResponseMailbox, type Sent } from "./responses.js"
import { streamItems } from "./subscriptions.js"

/** `take` under a Response's reply deadline (the command's, else the connection's), if there is one. */
export type ReplyDeadline = (
  take: Effect.Effect<IncomingField, ConnectionError>,
  packetType: string,
  fieldName: string,
  timeout: Duration.Input | undefined
) => Effect.Effect<IncomingField, ConnectionError>

/**
 * A Response. Its Effects are built when used, not when the command is sent: a pipelining
 * client holds thousands of Responses at once, and each object they hold is copied by every
 * garbage collection they live through.
 */
export class ResponseImpl extends ResponseMailbox implements Response {
  constructor(
    capacity: number,
    budget: ByteBudget,
    packetType: string,
    sent: NonEmptyReadonlyArray<Sent[number]>,
    private readonly deadline: ReplyDeadline,
    private readonly timeout: Duration.Input | undefined
  ) {
    const first = sent[0]
    super(capacity, budget, packetType, first.name, first.id, sent.length > 1 ? sent.slice(1) : undefined)
  }

  get fieldName(): string {
    return this.name
  }

  get fieldId(): number {
    return this.id
  }

  get recv(): Effect.Effect<IncomingField, ConnectionError> {
    return this.deadline(this.takeAs(anyItem, fromItem), this.packetType, this.name, this.timeout)
  }

  // A getter returning a function, not a method: `recvField` must work detached from the Response.
  get recvField(): (name: string) => Effect.Effect<IncomingField, ConnectionError> {
    return (name) =>
      this.deadline(this.takeAs(itemMatches(this.packetType, name), fromItem), this.packetType, name, this.timeout)
  }

  get fields(): Stream.Stream<IncomingField, ConnectionError> {
    return streamItems(this, (take) => this.deadline(take, this.packetType, this.name, this.timeout))
  }
}
