/**
 * Commands described once, with Schemas: the packet type, the field name, the params and the
 * reply params, and whether the command answers once or with a stream of replies. Both ends
 * are typed from the one description: `CommandClient` calls it, `CommandRouter` answers it.
 *
 * Params and replies are Structs of `WireSchema`s, so the description fixes the wire type of
 * every param; the types refuse a param whose Schema does not encode to a `Value`.
 *
 * - **Params are checked before anything is sent.** A value its wire type cannot hold fails
 *   with {@link InvalidParams} naming the command and the param; nothing is written.
 * - **Optional params** (`Schema.optionalKey(...)`, or `Schema.optional(...)`, which also takes
 *   `undefined`) are left out of the field when absent or `undefined`.
 * - **A reply is decoded, never guessed.** A reply whose params do not match the reply Schema
 *   fails with {@link InvalidReply} naming the command and the param (a missing one, a wrong
 *   type, a value out of range); a value is never coerced into a wrong one. Numbers decode
 *   from any numeric wire type that holds them exactly (see `WireSchema`).
 * - **Params a node adds that the Schema does not name are ignored** by the typed decode, so a
 *   newer node with more params still answers an older description. They stay on the raw
 *   field: `CommandClient.send` gives each reply with its field (`reply.field`), packet
 *   timestamp included.
 * - **Acknowledgements and error replies are not replies.** A reply carrying `ERRO`/`ERRC` is
 *   the node's `CommandError`, whatever the connection's `autoErro`. `CommandClient.send` and
 *   `CommandClient.stream` skip fields carrying `ACKN` whatever its `autoAckn`;
 *   `CommandClient.call` takes the first reply, as `Connection.request` does, so it relies on
 *   `autoAckn` (on by default for clients): without it, an acknowledgement where the reply was
 *   expected is an {@link InvalidReply} naming `ACKN`.
 *
 * Errors stay distinct: the node's `CommandError`, {@link InvalidParams} and
 * {@link InvalidReply}, the connection's errors, and `NetworkTimeout` (naming the command)
 * when the `timeout` of a call passes.
 *
 * @example
 * ```ts
 * import { CommandClient, type Connection, NcpCommand, WireSchema } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 * import * as Schema from "effect/Schema"
 *
 * const Sweep = NcpCommand.make("DSPC", "SWEP", {
 *   params: { FSTA: WireSchema.number, FSTP: WireSchema.number, BINS: Schema.optionalKey(WireSchema.i32) },
 *   reply: { FSTA: WireSchema.number, FSTP: WireSchema.number, PDAT: WireSchema.u8Array }
 * })
 *
 * declare const connection: Connection.Connection
 * const program = Effect.gen(function* () {
 *   const sweep = yield* CommandClient.call(connection, Sweep, { FSTA: 400, FSTP: 500 }, { timeout: "5 seconds" })
 *   sweep.PDAT // Uint8Array
 * })
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Predicate from "effect/Predicate"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaParser from "effect/SchemaParser"
import type { ConnectionError } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import * as NcpError from "./NcpError.js"
import type * as Value from "./Value.js"
import * as WireSchema from "./WireSchema.js"

/** The brand every command description carries; {@link isNcpCommand} tests for it. */
export const TypeId = "~@effect-ncp/core/NcpCommand"

/** The Schema of a command's params or reply params: it encodes to a `Value` per param. */
export interface ParamsSchema extends Schema.Codec<unknown, WireSchema.Encoded> {}

/** The params of a command as Struct fields, each a `WireSchema.Param`. */
export type ParamFields = { readonly [name: string]: WireSchema.Param }

/** The Schema a `ParamsSchema` or `ParamFields` stands for. */
export type ToSchema<P> = P extends Schema.Top ? P : P extends ParamFields ? Schema.Struct<P> : never

/**
 * A command described once: its packet type and field name, the Schemas of its params and of
 * its reply params, and whether it answers with a stream of replies.
 */
export interface NcpCommand<
  out Params extends ParamsSchema = ParamsSchema,
  out Reply extends ParamsSchema = ParamsSchema,
  out Streaming extends boolean = boolean
> {
  readonly [TypeId]: typeof TypeId
  readonly packetType: string
  readonly fieldName: string
  readonly params: Params
  readonly reply: Reply
  /** Whether the command answers with a stream of replies (then `stream` applies) rather than once. */
  readonly stream: Streaming
}

/** Any command. */
export type Any = NcpCommand<ParamsSchema, ParamsSchema, boolean>

/** A command answering with a stream of replies. */
export type AnyStream = NcpCommand<ParamsSchema, ParamsSchema, true>

/** The params of a command, as a caller gives them. */
export type Params<C extends Any> = C["params"]["Type"]

/** The reply of a command, decoded. */
export type Reply<C extends Any> = C["reply"]["Type"]

/** Whether a value is a command description. */
export const isNcpCommand = (u: unknown): u is Any => Predicate.hasProperty(u, TypeId)

/**
 * Describes a command. `params` and `reply` are Structs of `WireSchema`s, or their fields
 * (default: none). `stream: true` marks a command that answers with a stream of replies
 * (read them with `CommandClient.stream`); `CommandClient.call` takes the first reply of any command.
 *
 * @example
 * ```ts
 * import { NcpCommand, WireSchema } from "@effect-ncp/core"
 *
 * const Status = NcpCommand.make("STAT", "STAT", {
 *   reply: { STAT: WireSchema.string, UPTM: WireSchema.u32, TEMP: WireSchema.f32 }
 * })
 * const Watch = NcpCommand.make("DSPC", "WTCH", {
 *   params: { CHAN: WireSchema.i32 },
 *   reply: { LEVL: WireSchema.f32 },
 *   stream: true
 * })
 * ```
 */
export const make = <
  const Streaming extends boolean = false,
  P extends ParamsSchema | ParamFields = Schema.Struct<{}>,
  R extends ParamsSchema | ParamFields = Schema.Struct<{}>
>(
  packetType: string,
  fieldName: string,
  options?: {
    readonly params?: P | undefined
    readonly reply?: R | undefined
    readonly stream?: Streaming | undefined
  }
): NcpCommand<ToSchema<P> & ParamsSchema, ToSchema<R> & ParamsSchema, Streaming> =>
  ({
    [TypeId]: TypeId,
    packetType,
    fieldName,
    params: toSchema(options?.params),
    reply: toSchema(options?.reply),
    stream: options?.stream ?? false
  }) as NcpCommand<ToSchema<P> & ParamsSchema, ToSchema<R> & ParamsSchema, Streaming>

const toSchema = (params: ParamsSchema | ParamFields | undefined): ParamsSchema =>
  params === undefined ? Schema.Struct({}) : Schema.isSchema(params) ? params : Schema.Struct(params)

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

const FieldSchema = Schema.declare((u: unknown): u is Field.Field => Predicate.hasProperty(u, "params"), {
  expected: "Field"
})

const paramWhere = (param: string | undefined) => (param === undefined ? "" : `param ${param}: `)

/**
 * Params that do not match a command's params Schema: a value its wire type cannot hold, a
 * missing required param, a check that failed. Raised before anything is sent (client), or
 * answered with `ERRO`, `ERRC=400` (server). `param` names the param when the problem is one
 * param's.
 */
export class InvalidParams extends Schema.TaggedError<InvalidParams>()("InvalidParams", {
  packetType: Schema.String,
  fieldName: Schema.String,
  param: Schema.optional(Schema.String),
  detail: Schema.String
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    return `${this.packetType} ${this.fieldName}: ${paramWhere(this.param)}${this.detail}`
  }
}

/**
 * A reply that does not match a command's reply Schema: a param missing, of another wire
 * type, or out of range. Holds the reply field as received.
 */
export class InvalidReply extends Schema.TaggedError<InvalidReply>()("InvalidReply", {
  packetType: Schema.String,
  fieldName: Schema.String,
  fieldId: Schema.Number,
  param: Schema.optional(Schema.String),
  detail: Schema.String,
  field: FieldSchema
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    return `${this.packetType} ${this.fieldName}: reply ${paramWhere(this.param)}${this.detail}`
  }
}

/** Every error of a typed call: the connection's (the node's `CommandError` included) and the Schemas'. */
export type CallError = ConnectionError | InvalidParams | InvalidReply

// ---------------------------------------------------------------------------------------------
// Encoding and decoding params, shared by the client and the router
// ---------------------------------------------------------------------------------------------

interface Compiled {
  readonly encodeParams: (input: unknown) => Result.Result<WireSchema.Encoded, SchemaIssue.Issue>
  readonly decodeParams: (input: unknown) => Result.Result<unknown, SchemaIssue.Issue>
  readonly encodeReply: (input: unknown) => Result.Result<WireSchema.Encoded, SchemaIssue.Issue>
  readonly decodeReply: (input: unknown) => Result.Result<unknown, SchemaIssue.Issue>
}

const compiledByCommand = new WeakMap<Any, Compiled>()

const compiled = (command: Any): Compiled => {
  let found = compiledByCommand.get(command)
  if (found === undefined) {
    found = {
      encodeParams: SchemaParser.encodeUnknownResult(command.params),
      decodeParams: SchemaParser.decodeUnknownResult(command.params),
      encodeReply: SchemaParser.encodeUnknownResult(command.reply),
      decodeReply: SchemaParser.decodeUnknownResult(command.reply)
    }
    compiledByCommand.set(command, found)
  }
  return found
}

/** The param an issue is about (the first key of its path) and what went wrong, with the value. */
const describeIssue = (
  issue: SchemaIssue.Issue,
  input: unknown
): { readonly param: string | undefined; readonly detail: string } => {
  const first = standardFormatter(issue).issues[0]
  const path = first?.path ?? []
  const key = path[0]
  const param = typeof key === "string" ? key : undefined
  let detail = first?.message ?? "does not match the Schema"
  const rest = path.slice(1)
  if (rest.length > 0) detail = `at ${rest.map(String).join(".")}: ${detail}`
  // Schema messages leave the value out unless asked (and then print it whole, however big):
  // a short description of what was given.
  if (param !== undefined && !detail.includes(", got ")) {
    const value = Predicate.isObject(input) ? (input as Record<string, unknown>)[param] : undefined
    if (value !== undefined) detail = `${detail}, got ${WireSchema.describeValue(value)}`
  }
  return { param, detail }
}

const standardFormatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** The params of a field as the reply or params Schemas decode them: a `Value` per name, the last one for a repeated name. */
const paramsRecord = (field: Field.Field): Record<string, Value.Value> => {
  const record: Record<string, Value.Value> = {}
  for (const param of field.params) record[param.name] = param.value
  return record
}

/** Encoded params as the field's params, in the Schema's order; a param left out (`undefined`) is not sent. */
const toFieldParams = (encoded: WireSchema.Encoded): Array<Field.Param> => {
  const params: Array<Field.Param> = []
  for (const name in encoded) {
    const value = encoded[name]
    if (value !== undefined) params.push({ name, value })
  }
  return params
}

/** The field params of a command's params, or {@link InvalidParams}: nothing has been sent. */
export const encodeParams = <C extends Any>(
  command: C,
  params: Params<C>
): Result.Result<Array<Field.Param>, InvalidParams> => {
  const encoded = compiled(command).encodeParams(params)
  if (Result.isSuccess(encoded)) return Result.succeed(toFieldParams(encoded.success))
  const { param, detail } = describeIssue(encoded.failure, params)
  return Result.fail(new InvalidParams({ packetType: command.packetType, fieldName: command.fieldName, param, detail }))
}

/** A command's params decoded from a received field, or {@link InvalidParams} naming the param. */
export const decodeParams = <C extends Any>(
  command: C,
  field: Field.Field
): Result.Result<Params<C>, InvalidParams> => {
  const record = paramsRecord(field)
  const decoded = compiled(command).decodeParams(record)
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
  const { param, detail } = describeIssue(decoded.failure, record)
  return Result.fail(new InvalidParams({ packetType: command.packetType, fieldName: command.fieldName, param, detail }))
}

/**
 * The field params of a command's reply, or a description of what does not match (the
 * param, and what is wrong).
 */
export const encodeReply = <C extends Any>(
  command: C,
  reply: Reply<C>
): Result.Result<Array<Field.Param>, { readonly param: string | undefined; readonly detail: string }> => {
  const encoded = compiled(command).encodeReply(reply)
  return Result.isSuccess(encoded)
    ? Result.succeed(toFieldParams(encoded.success))
    : Result.fail(describeIssue(encoded.failure, reply))
}

/** A command's reply decoded from a reply field, or {@link InvalidReply} naming the param. */
export const decodeReply = <C extends Any>(command: C, field: Field.Field): Result.Result<Reply<C>, InvalidReply> => {
  const record = paramsRecord(field)
  const decoded = compiled(command).decodeReply(record)
  if (Result.isSuccess(decoded)) return Result.succeed(decoded.success)
  const { param, detail } = describeIssue(decoded.failure, record)
  return Result.fail(
    new InvalidReply({
      packetType: command.packetType,
      fieldName: command.fieldName,
      fieldId: field.id,
      param,
      detail,
      field
    })
  )
}
