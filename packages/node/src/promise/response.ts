/**
 * The replies to a command, pulled one at a time: a `Response` (the fields that answer a
 * command sent with `send`, as ncplib's) and `Replies` (a typed command's replies, decoded).
 * Both are async iterables: `for await` asks for the next reply only when the loop comes back
 * for it, so a slow loop slows the node down (backpressure) instead of filling memory; leaving
 * the loop (`break`, `return`, an error) releases the command's registration.
 *
 * @internal
 */
import {
  type CommandClient,
  ConnectionError,
  type Connection as EffectConnection,
  type NcpCommand
} from "@effect-ncp/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Field, Replies, Response } from "./api.js"
import { type Owner, ReplyField } from "./field.js"

const done: IteratorReturnResult<undefined> = { done: true, value: undefined }

const isClosed = (error: unknown): boolean =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "ConnectionClosed"

/**
 * The next element as an iterator result: a graceful close ends the iteration, and the end of
 * the iteration, however it ends, closes `scope` (the command's registration), if any.
 */
export const nextOf = <A, E>(
  recv: Effect.Effect<A, E>,
  scope?: Scope.Closeable
): Effect.Effect<IteratorResult<A, undefined>, E> =>
  Effect.matchEffect(recv, {
    onSuccess: (value) => Effect.succeed({ done: false, value }),
    onFailure: (error) => {
      const ended = isClosed(error) ? Effect.succeed(done) : Effect.fail(error)
      return scope === undefined ? ended : Effect.andThen(Scope.close(scope, Exit.void), ended)
    }
  })

/**
 * What both iterators share: the command's scope (its registration), closed when the loop
 * leaves early or the caller closes it; once closed, no reply reaches it any more, so a read
 * would wait forever and ends at once instead.
 */
abstract class ScopedReplies<A> implements AsyncIterator<A, undefined> {
  protected closed = false

  constructor(
    protected readonly owner: Owner,
    protected readonly scope: Scope.Closeable
  ) {}

  abstract next(): Promise<IteratorResult<A, undefined>>

  async return(): Promise<IteratorResult<A, undefined>> {
    await this.close()
    return done
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  close(): Promise<void> {
    this.closed = true
    return this.owner.perform(Scope.close(this.scope, Exit.void))
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/** A Response of the Effect API, read with Promises. */
export class PromiseResponse extends ScopedReplies<Field> implements Response {
  readonly packetType: string
  readonly fieldName: string
  readonly fieldId: number
  private readonly nextField: Effect.Effect<IteratorResult<Field, undefined>, ConnectionError.ConnectionError>

  constructor(
    owner: Owner,
    private readonly response: EffectConnection.Response,
    scope: Scope.Closeable
  ) {
    super(owner, scope)
    this.packetType = response.packetType
    this.fieldName = response.fieldName
    this.fieldId = response.fieldId
    this.nextField = nextOf(Effect.map(response.recv, toField), scope)
  }

  recv(): Promise<Field> {
    return this.closed ? closedResponse(this) : this.owner.perform(Effect.map(this.response.recv, toField))
  }

  recvField(name: string): Promise<Field> {
    return this.closed ? closedResponse(this) : this.owner.perform(Effect.map(this.response.recvField(name), toField))
  }

  next(): Promise<IteratorResult<Field, undefined>> {
    return this.closed ? Promise.resolve(done) : this.owner.perform(this.nextField)
  }
}

/** What reading a closed Response rejects with. */
const closedResponse = (response: Response): Promise<never> =>
  Promise.reject(
    new ConnectionError.ConnectionClosed({
      detail: `the Response to ${response.packetType} ${response.fieldName} was closed`
    })
  )

/** A received field of the Effect API as the Promise API's. */
export const toField = (field: EffectConnection.IncomingField): Field => new ReplyField(field)

/** A typed command's replies: the command is sent at the first `next`. */
export class PromiseReplies<A> extends ScopedReplies<A> implements Replies<A> {
  private nextReply: Effect.Effect<IteratorResult<A, undefined>, NcpCommand.CallError> | undefined
  private sending: Promise<void> | undefined

  constructor(
    owner: Owner,
    private readonly send: Effect.Effect<CommandClient.TypedResponse<A>, NcpCommand.CallError, Scope.Scope>,
    scope: Scope.Closeable
  ) {
    super(owner, scope)
  }

  async next(): Promise<IteratorResult<A, undefined>> {
    if (this.closed) return done
    if (this.nextReply === undefined) {
      this.sending ??= this.owner.perform(
        Effect.matchEffect(Scope.provide(this.send, this.scope), {
          onSuccess: (response) =>
            Effect.sync(() => {
              this.nextReply = nextOf(
                Effect.map(response.recv, (reply) => reply.params),
                this.scope
              )
            }),
          // nothing was sent (bad params) or the connection is gone: the iteration is over
          onFailure: (error) => Effect.andThen(Scope.close(this.scope, Exit.void), Effect.fail(error))
        })
      )
      await this.sending
    }
    return this.nextReply === undefined || this.closed ? done : this.owner.perform(this.nextReply)
  }
}
