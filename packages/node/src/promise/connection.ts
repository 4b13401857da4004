/**
 * A connection of the Promise API: the Effect API's `Connection`, each operation a Promise.
 * `connect` opens one; `close` (or `await using`) ends it.
 *
 * Each connection owns a `Scope`: what its calls register (a `send`'s Response, a `stream`)
 * lives in a scope of its own inside it, and closing the connection closes them all. Its
 * socket keeps the process alive only while a call waits on it (`socket.ts`), and a
 * connection still open when the process runs out of work is closed then (`exit.ts`).
 *
 * @internal
 */

import {
  Client,
  CommandClient,
  type ConnectionError,
  type Field as CoreField,
  type Connection as EffectConnection,
  type NcpCommand,
  Transport
} from "@effect-ncp/core"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type {
  Connection,
  ConnectOptions,
  Field,
  IncomingField,
  OutgoingField,
  ParamsArgs,
  Replies,
  RequestOptions,
  Response
} from "./api.js"
import * as AtExit from "./exit.js"
import { CommandField, type Owner } from "./field.js"
import { nextOf, PromiseReplies, PromiseResponse, toField } from "./response.js"
import * as Runtime from "./runtime.js"
import { SocketRef, transport } from "./socket.js"
import * as Units from "./units.js"

/** An Effect API connection behind the Promise API's. */
export class PromiseConnection implements Connection, Owner, AtExit.ClosedAtExit {
  readonly remoteHostname: string
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
  readonly timeout: number
  readonly closed: Promise<ConnectionError.ConnectionError>
  private closing: Promise<void> | undefined
  private ended = false
  private readonly done: () => void
  private readonly closeEffect: Effect.Effect<void>
  private readonly toCommandField: (field: EffectConnection.IncomingField) => IncomingField
  private readonly nextIncoming: Effect.Effect<
    IteratorResult<IncomingField, undefined>,
    ConnectionError.ConnectionError
  >

  /**
   * `owner` is the scope of what the connection's calls register; the connection ends when
   * it closes. `socketRef`, for a client, holds its socket while a call waits.
   */
  constructor(
    private readonly inner: EffectConnection.Connection,
    private readonly owner: Scope.Closeable,
    private readonly socketRef: SocketRef | undefined
  ) {
    this.remoteHostname = inner.remoteHostname
    this.remoteAddress = inner.remoteAddress
    this.remotePort = inner.remotePort
    this.timeout = inner.timeout
    this.done = socketRef === undefined ? noop : () => socketRef.release()
    this.closeEffect = Effect.andThen(inner.close, Scope.close(owner, Exit.void))
    this.toCommandField = (field) => new CommandField(field, this)
    this.nextIncoming = nextOf(Effect.map(inner.recv, this.toCommandField))
    this.closed = new Promise((resolve) =>
      Runtime.observe(inner.closed, (reason) => {
        this.ended = true
        AtExit.untrack(this)
        // what the calls registered goes with the connection
        Runtime.observe(Scope.close(owner, Exit.void), noop)
        resolve(reason)
      })
    )
  }

  get isClosing(): boolean {
    return this.ended || this.closing !== undefined
  }

  /** Runs `effect`, holding the socket until it ends. */
  perform<A, E>(effect: Effect.Effect<A, E, Runtime.Services>): Promise<A> {
    this.socketRef?.hold()
    return Runtime.run(effect, this.done)
  }

  /** {@link perform}, mapping the value as it resolves. */
  private performMap<A, B, E>(effect: Effect.Effect<A, E, Runtime.Services>, map: (a: A) => B): Promise<B> {
    this.socketRef?.hold()
    return Runtime.runMap(effect, map, this.done)
  }

  request(
    packetType: string,
    fieldName: string,
    params?: CoreField.ParamsInput,
    options?: RequestOptions
  ): Promise<Field> {
    const reply =
      options === undefined
        ? this.inner.request(packetType, fieldName, params)
        : Effect.suspend(() => this.inner.request(packetType, fieldName, params, requestOptions(options)))
    return this.performMap(reply, toField)
  }

  send(
    packetType: string,
    fieldName: string,
    params?: CoreField.ParamsInput,
    options?: RequestOptions
  ): Promise<Response> {
    return this.sendPacket(packetType, [{ name: fieldName, params }], options)
  }

  sendPacket(
    packetType: string,
    fields: NonEmptyReadonlyArray<OutgoingField>,
    options?: RequestOptions
  ): Promise<Response> {
    const scope = Scope.forkUnsafe(this.owner)
    const sent = Effect.suspend(() => this.inner.sendPacket(packetType, fields, requestOptions(options))).pipe(
      Scope.provide(scope),
      Effect.map((response) => new PromiseResponse(this, response, scope)),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
    return this.perform(sent)
  }

  recv(): Promise<IncomingField> {
    return this.performMap(this.inner.recv, this.toCommandField)
  }

  recvField(packetType: string, fieldName: string): Promise<IncomingField> {
    return this.performMap(this.inner.recvField(packetType, fieldName), this.toCommandField)
  }

  [Symbol.asyncIterator](): AsyncIterator<IncomingField, undefined> {
    return { next: () => this.perform(this.nextIncoming) }
  }

  call<C extends NcpCommand.Any>(command: C, ...[params, options]: ParamsArgs<C>): Promise<NcpCommand.Reply<C>> {
    return this.perform(Effect.suspend(() => CommandClient.call(this.inner, command, params, requestOptions(options))))
  }

  stream<C extends NcpCommand.AnyStream>(
    command: C,
    ...[params, options]: ParamsArgs<C>
  ): Replies<NcpCommand.Reply<C>> {
    const sent = Effect.suspend(() => CommandClient.send(this.inner, command, params, requestOptions(options)))
    return new PromiseReplies(this, sent, Scope.forkUnsafe(this.owner))
  }

  close(): Promise<void> {
    if (this.closing === undefined) {
      AtExit.untrack(this)
      // held: code after `await connection.close()` runs before the process may exit
      this.closing = this.perform(this.closeEffect)
    }
    return this.closing
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  /** At exit: closed without holding the process for it. */
  closeAtExit(): void {
    this.closing ??= Runtime.run(this.closeEffect)
  }
}

const noop = () => {}

/** A call's options for the Effect API: its deadline as a Duration (a bad one throws). */
const requestOptions = (options: RequestOptions | undefined): EffectConnection.RequestOptions | undefined =>
  options?.timeout === undefined ? undefined : { timeout: Units.deadline("timeout", options.timeout) }

/** The Effect API's client options: the timeouts from seconds to Durations (a bad one throws). */
const clientOptions = ({ timeout, requestTimeout, tls, ...options }: ConnectOptions): Client.ClientOptions => ({
  ...options,
  timeout: Units.seconds("timeout", timeout),
  // no deadline, rather than an infinite one: nothing to arm on each request
  requestTimeout: requestTimeout === 0 ? undefined : Units.deadline("requestTimeout", requestTimeout),
  // the copy gives TypeScript the index signature Node's options interface lacks
  tls: tls === undefined || typeof tls === "boolean" ? tls : { ...tls }
})

/**
 * Connects to a node over TCP (or TLS) and performs the handshake, as the Effect API's
 * `NodeNcp.connect` does. Rejects with a `NetworkError` (refused, unreachable, TLS), an
 * `AuthenticationError` (the tunnel's password) or a `NetworkTimeout`.
 *
 * @example
 * ```ts
 * const connection = await connect({ host: "rfeye000123.local" })
 * ```
 */
export const connect = async (options: ConnectOptions): Promise<Connection> => {
  const resolved = clientOptions(options)
  await Runtime.ready()
  const socketRef = new SocketRef()
  const owner = Scope.makeUnsafe()
  socketRef.hold()
  try {
    const connection = await Runtime.run(
      Effect.flatMap(Transport.Transport, (node) =>
        Client.connect(resolved).pipe(
          Effect.provideService(Transport.Transport, transport(node, socketRef)),
          Scope.provide(owner)
        )
      )
    )
    const opened = new PromiseConnection(connection, owner, socketRef)
    AtExit.track(opened)
    return opened
  } catch (error) {
    await Runtime.run(Scope.close(owner, Exit.void))
    throw error
  } finally {
    socketRef.release()
  }
}
