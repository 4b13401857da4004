/**
 * Calling typed commands: send an `NcpCommand` on a connection (or on the `Client.NcpClient`
 * service) with its params checked and encoded by its Schemas, and get its replies decoded.
 * {@link call} takes the first reply, {@link stream} every reply of a streaming command,
 * {@link send} the replies one by one with the fields they came in.
 *
 * Errors stay distinct: the node's `CommandError` (an error reply, whatever the connection's
 * `autoErro`), `NcpCommand.InvalidParams` (nothing was sent), `NcpCommand.InvalidReply` (a reply
 * the Schema refuses, naming the param), the connection's errors, and `NetworkTimeout` (naming
 * the command) when the `timeout` of a call passes.
 *
 * @example
 * ```ts
 * import { CommandClient, type Connection } from "@effect-ncp/core"
 * import { SimulatedNode } from "@effect-ncp/core/testing"
 * import * as Effect from "effect/Effect"
 *
 * declare const connection: Connection.Connection
 * const program = Effect.gen(function* () {
 *   const sweep = yield* CommandClient.call(connection, SimulatedNode.Sweep, { FSTA: 400, FSTP: 500 }, { timeout: "5 seconds" })
 *   return sweep.PDAT // Uint8Array
 * })
 * ```
 *
 * @module
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Client from "./Client.js"
import type * as Connection from "./Connection.js"
import { CommandError, type ConnectionError } from "./ConnectionError.js"
import * as Field from "./Field.js"
import {
  type Any,
  type AnyStream,
  type CallError,
  decodeReply,
  encodeParams,
  type InvalidParams,
  InvalidReply,
  isNcpCommand,
  type Params,
  type Reply
} from "./NcpCommand.js"

/** Options of {@link call}, {@link stream} and {@link send}. */
export interface CallOptions {
  /**
   * The longest wait for each reply (`Connection.RequestOptions`): past it the wait fails with
   * a `NetworkTimeout` whose `command` names the command; the connection stays open and the
   * command is not cancelled on the node. Default: the connection's `requestTimeout` (none
   * unless set; the connection's receive timeout still applies).
   */
  readonly timeout?: Duration.Input | undefined
}

/** A reply with the field it came in (packet type and timestamp, params the Schema does not name). */
export interface TypedReply<A> {
  readonly params: A
  readonly field: Connection.IncomingField
}

/** The replies to a command sent with {@link send}, decoded. */
export interface TypedResponse<A> {
  /** The id of the field sent. */
  readonly fieldId: number
  /** The next reply. */
  readonly recv: Effect.Effect<TypedReply<A>, ConnectionError | InvalidReply>
  /** Every reply as a Stream; it ends when the connection closes gracefully. */
  readonly replies: Stream.Stream<TypedReply<A>, ConnectionError | InvalidReply>
}

/** The params argument, which a command without required params lets you leave out. */
type ParamsArgs<C extends Any, Rest extends ReadonlyArray<unknown>> =
  {} extends Params<C> ? [params?: Params<C>, ...rest: Rest] : [params: Params<C>, ...rest: Rest]

const isAcknowledgement = (field: Field.Field) => Field.has(field, "ACKN")
const isErrorReply = (field: Field.Field) => Field.has(field, "ERRO") || Field.has(field, "ERRC")

/** A reply field (not an acknowledgement) as a typed reply, or the node's `CommandError` for an error reply. */
const toReply = <C extends Any>(
  command: C,
  field: Connection.IncomingField
): Result.Result<TypedReply<Reply<C>>, CommandError | InvalidReply> => {
  if (isErrorReply(field)) return Result.fail(CommandError.fromField(field.packetType, field))
  const decoded = decodeReply(command, field)
  return Result.isSuccess(decoded) ? Result.succeed({ params: decoded.success, field }) : Result.fail(decoded.failure)
}

const nextReply = <C extends Any>(
  command: C,
  response: Connection.Response
): Effect.Effect<TypedReply<Reply<C>>, ConnectionError | InvalidReply> =>
  Effect.flatMap(response.recv, (field) =>
    isAcknowledgement(field) ? nextReply(command, response) : Effect.fromResult(toReply(command, field))
  )

/**
 * Sends a command and returns its {@link TypedResponse}, registered for the life of the current
 * scope (as `Connection.send`). Each reply comes with its field.
 *
 * @example
 * ```ts
 * const response = yield* CommandClient.send(connection, SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, REPT: 0 })
 * const { params, field } = yield* response.recv
 * Timestamp.toIsoString(field.packetTimestamp)
 * ```
 */
export const send = <C extends Any>(
  connection: Connection.Connection,
  command: C,
  ...[params, options]: ParamsArgs<C, [options?: CallOptions]>
): Effect.Effect<TypedResponse<Reply<C>>, ConnectionError | InvalidParams, Scope.Scope> =>
  sendOn(connection, command, params, options)

const sendOn = <C extends Any>(
  connection: Connection.Connection,
  command: C,
  params: Params<C> | undefined,
  options: CallOptions | undefined
): Effect.Effect<TypedResponse<Reply<C>>, ConnectionError | InvalidParams, Scope.Scope> => {
  const encoded = encodeParams(command, (params ?? {}) as Params<C>)
  if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
  const sent = connection.send(command.packetType, command.fieldName, encoded.success, options)
  return Effect.map(sent, (response) => ({
    fieldId: response.fieldId,
    recv: nextReply(command, response),
    get replies() {
      return response.fields.pipe(
        Stream.filter((field) => !isAcknowledgement(field)),
        Stream.mapEffect((field) => Effect.fromResult(toReply(command, field)))
      )
    }
  }))
}

/**
 * A reply field as the command's reply, as `call` takes its first reply: decoded with the
 * command's reply Schema; the node's `CommandError` for an error reply; an `InvalidReply` for
 * an acknowledgement (see `call`) or a reply the Schema refuses. For replies that arrived some
 * other way, such as a `Fleet`'s.
 */
export const decodeReplyField = <C extends Any>(
  command: C,
  field: Field.Field & { readonly packetType: string }
): Result.Result<Reply<C>, CommandError | InvalidReply> => {
  if (isErrorReply(field)) return Result.fail(CommandError.fromField(field.packetType, field))
  if (isAcknowledgement(field)) return Result.fail(acknowledgementInstead(command, field))
  return decodeReply(command, field)
}

const callOn = <C extends Any>(
  connection: Connection.Connection,
  command: C,
  params: Params<C> | undefined,
  options: CallOptions | undefined
): Effect.Effect<Reply<C>, CallError> => {
  const encoded = encodeParams(command, (params ?? {}) as Params<C>)
  if (Result.isFailure(encoded)) return Effect.fail(encoded.failure)
  // `request`, not `send`: no Scope per call, the round trip's hot path.
  return Effect.flatMap(connection.request(command.packetType, command.fieldName, encoded.success, options), (field) =>
    Effect.fromResult(decodeReplyField(command, field))
  )
}

/** What `call` fails with when an acknowledgement comes first: it takes one reply, so it needs `autoAckn`. */
const acknowledgementInstead = (command: Any, field: Field.Field): InvalidReply =>
  new InvalidReply({
    packetType: command.packetType,
    fieldName: command.fieldName,
    fieldId: field.id,
    param: "ACKN",
    detail:
      "an acknowledgement came where the reply was expected: call takes the first reply, which needs the connection's autoAckn (on by default); use send or stream, which skip acknowledgements",
    field
  })

/**
 * Sends a command and returns its first reply, decoded. With a connection as the first
 * argument, on that connection; without, on the `Client.NcpClient` service.
 *
 * @example
 * ```ts
 * const sweep = yield* CommandClient.call(connection, SimulatedNode.Sweep, { FSTA: 400, FSTP: 500 })
 * const status = yield* CommandClient.call(SimulatedNode.Status) // on Client.NcpClient
 * ```
 */
export function call<C extends Any>(
  connection: Connection.Connection,
  command: C,
  ...args: ParamsArgs<C, [options?: CallOptions]>
): Effect.Effect<Reply<C>, CallError>
export function call<C extends Any>(
  command: C,
  ...args: ParamsArgs<C, [options?: CallOptions]>
): Effect.Effect<Reply<C>, CallError, Client.NcpClient>
export function call(...args: ReadonlyArray<unknown>): Effect.Effect<unknown, CallError, Client.NcpClient> {
  const [first, ...rest] = args
  if (isNcpCommand(first)) {
    const [params, options] = rest as [unknown, CallOptions | undefined]
    return Effect.flatMap(Client.NcpClient, (connection) => callOn(connection, first, params, options))
  }
  const [command, params, options] = rest as [Any, unknown, CallOptions | undefined]
  return callOn(first as Connection.Connection, command, params, options)
}

/**
 * Sends a command that answers with a stream of replies and returns them, decoded, as a
 * Stream. NCP has no end-of-replies marker: the Stream ends when the connection closes, so
 * take what you need (`Stream.take`). With a connection as the first argument, on that
 * connection; without, on the `Client.NcpClient` service.
 *
 * @example
 * ```ts
 * const three = yield* CommandClient.stream(connection, SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, REPT: 0 }).pipe(
 *   Stream.take(3),
 *   Stream.runCollect
 * )
 * ```
 */
export function stream<C extends AnyStream>(
  connection: Connection.Connection,
  command: C,
  ...args: ParamsArgs<C, [options?: CallOptions]>
): Stream.Stream<Reply<C>, CallError>
export function stream<C extends AnyStream>(
  command: C,
  ...args: ParamsArgs<C, [options?: CallOptions]>
): Stream.Stream<Reply<C>, CallError, Client.NcpClient>
export function stream(...args: ReadonlyArray<unknown>): Stream.Stream<unknown, CallError, Client.NcpClient> {
  const on = (connection: Connection.Connection, command: Any, params: unknown, options: CallOptions | undefined) =>
    Stream.unwrap(
      Effect.map(sendOn(connection, command, params, options), (response) =>
        Stream.map(response.replies, (reply) => reply.params)
      )
    )
  const [first, ...rest] = args
  if (isNcpCommand(first)) {
    const [params, options] = rest as [unknown, CallOptions | undefined]
    return Stream.unwrap(Effect.map(Client.NcpClient, (connection) => on(connection, first, params, options)))
  }
  const [command, params, options] = rest as [Any, unknown, CallOptions | undefined]
  return on(first as Connection.Connection, command, params, options)
}
