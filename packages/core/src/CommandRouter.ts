/**
 * The server side of described commands: a router from `NcpCommand` descriptions to typed
 * handlers, turned into a connection handler for `Server.serve` (or `NodeNcp.serve`).
 *
 * Each handler receives the command's params decoded and returns its reply (an Effect), or
 * for a command described with `stream: true`, a Stream of replies; the router encodes each
 * reply with the command's reply Schema and sends it. For every field a connection receives:
 *
 * - params that fail the command's Schema are answered with `ERRO` naming the param
 *   (`"param FSTP: Missing key"`) and `ERRC=400`; the handler does not run;
 * - a handler failing with {@link ErrorReply} is answered with its `ERRO` and `ERRC`; the
 *   connection carries on. Any other failure ends the connection as a failing handler does
 *   (`Server` answers `LINK ERRO` 500);
 * - a reply that does not match its own Schema (a bug in the handler) is logged and answered
 *   with `ERRO`, `ERRC=500`, naming the param;
 * - a command no route describes goes to the `fallback`, by default {@link unknownCommand}:
 *   `ERRO="Unknown command"`, `ERRC=400`, as the simulated node answers. A fallback is how a
 *   router composes with a plain field handler for commands it does not describe;
 * - `LINK` fields after the handshake are the link's, not commands: ignored.
 *
 * The router reads the fields no `Response` claims, with `connection.recv` (so the replies to
 * commands the server sends itself are not taken for commands); a `connection.fields` stream
 * run beside it would take them instead.
 *
 * **Fair service.** A connection runs at most `concurrency` commands at once (default
 * {@link defaultConcurrency}); later commands wait, in the order they came, in the
 * connection's inbox (a server's holds `bufferCapacity` fields), and once that is full the
 * connection stops reading the socket, so a client that floods a server slows only itself. A
 * command whose Stream never ends (a repeating one) holds its slot until it ends or the
 * connection closes.
 *
 * @example
 * ```ts
 * import { CommandRouter, NcpCommand, Server, WireSchema } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 *
 * const Add = NcpCommand.make("CALC", "ADD", {
 *   params: { A: WireSchema.i32, B: WireSchema.i32 },
 *   reply: { SUM: WireSchema.i32 }
 * })
 *
 * const router = CommandRouter.make(CommandRouter.route(Add, ({ A, B }) => Effect.succeed({ SUM: A + B })))
 * const server = Server.serve(CommandRouter.toHandler(router))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as Connection from "./Connection.js"
import { type ConnectionError, errorParams } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import * as NcpCommand from "./NcpCommand.js"
import * as NcpError from "./NcpError.js"
import * as Value from "./Value.js"

/**
 * What a handler fails with to answer its command with an error reply: `ERRO=detail`,
 * `ERRC=code`. The connection carries on.
 *
 * @example
 * ```ts
 * CommandRouter.route(Divide, ({ A, B }) =>
 *   B === 0 ? Effect.fail(new CommandRouter.ErrorReply({ detail: "division by zero", code: 400 })) : Effect.succeed({ Q: A / B })
 * )
 * ```
 */
export class ErrorReply extends Schema.TaggedError<ErrorReply>()("ErrorReply", {
  detail: Schema.String,
  code: Schema.Number
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    return `${this.detail} (code ${this.code})`
  }
}

/** One command and its handler. */
export interface Route<out E, out R> {
  readonly command: NcpCommand.Any
  /** Whether the route answers every field of the command's packet type that no route names. */
  readonly anyFieldName: boolean
  /** The bytes each reply is expected to take, reserved before it is generated. */
  readonly replyBytes: (params: unknown) => number
  /** The handler: an Effect of one reply, or a Stream of replies for a streaming command. */
  readonly handle: (
    params: unknown,
    field: Connection.IncomingField
  ) => Effect.Effect<unknown, E, R> | Stream.Stream<unknown, E, R>
}

/** Options of {@link route}; `P` is the command's params. */
export interface RouteOptions<P = never> {
  /**
   * Answer every field of the command's packet type that no route names, whatever its name
   * (a node answers `STAT` whatever the field is called). Default false.
   */
  readonly anyFieldName?: boolean | undefined
  /**
   * How many bytes one reply to these params takes, about: before each reply is generated
   * (each element of a Stream is pulled) that many outgoing bytes are reserved on the
   * connection (`Connection.reserveOutgoing`), so that large replies are made only as fast as
   * the client reads them, and a server's total of replies waiting stays bounded. Default 0:
   * each reply waits only until the connection's queue is below its limit.
   *
   * @example
   * ```ts
   * // a capture of NSMP complex 16-bit samples
   * CommandRouter.route(Time, capture, { replyBytes: ({ NSMP }) => 4 * (NSMP ?? 4096) })
   * ```
   */
  readonly replyBytes?: ((params: P) => number) | undefined
}

/**
 * A route: `command` answered by `handler`, which receives the decoded params and the field
 * (its packet header, params the Schema does not name) and returns the reply; for a command
 * described with `stream: true`, a Stream of replies.
 */
export const route: {
  <C extends NcpCommand.NcpCommand<NcpCommand.ParamsSchema, NcpCommand.ParamsSchema, false>, E = never, R = never>(
    command: C,
    handler: (
      params: NcpCommand.Params<C>,
      field: Connection.IncomingField
    ) => Effect.Effect<NcpCommand.Reply<C>, E, R>,
    options?: RouteOptions<NcpCommand.Params<C>>
  ): Route<E, R>
  <C extends NcpCommand.AnyStream, E = never, R = never>(
    command: C,
    handler: (
      params: NcpCommand.Params<C>,
      field: Connection.IncomingField
    ) => Stream.Stream<NcpCommand.Reply<C>, E, R>,
    options?: RouteOptions<NcpCommand.Params<C>>
  ): Route<E, R>
} = (
  command: NcpCommand.Any,
  handler: (
    params: never,
    field: Connection.IncomingField
  ) => Effect.Effect<unknown, unknown, unknown> | Stream.Stream<unknown, unknown, unknown>,
  options?: RouteOptions<never>
): Route<unknown, unknown> => ({
  command,
  anyFieldName: options?.anyFieldName ?? false,
  replyBytes: (options?.replyBytes as ((params: unknown) => number) | undefined) ?? noBytes,
  handle: handler as Route<unknown, unknown>["handle"]
})

const noBytes = () => 0

/** A set of routes. A later route for the same command replaces an earlier one. */
export interface CommandRouter<out E, out R> {
  readonly routes: ReadonlyArray<Route<E, R>>
}

/** The error of a route. */
export type RouteError<T> = T extends Route<infer E, infer _R> ? E : never
/** The services of a route. */
export type RouteContext<T> = T extends Route<infer _E, infer R> ? R : never

/**
 * A router of these routes. Routers compose by their routes:
 * `CommandRouter.make(...a.routes, ...b.routes)`.
 */
export const make = <const Routes extends ReadonlyArray<Route<any, any>>>(
  ...routes: Routes
): CommandRouter<RouteError<Routes[number]>, RouteContext<Routes[number]>> => ({ routes })

/** Commands of one connection that run at once, unless `concurrency` says otherwise. */
export const defaultConcurrency = 4

/** Options of {@link toHandler}. */
export interface HandlerOptions<EF = never, RF = never> {
  /**
   * The most commands of one connection running at once; later ones wait in order in its inbox,
   * and past that (`bufferCapacity`) its reading stops. Default
   * {@link defaultConcurrency} (4).
   */
  readonly concurrency?: number | undefined
  /** Reply with `ACKN=1` as soon as a command's params decode, before its handler runs, as nodes do. Default false. */
  readonly acknowledge?: boolean | undefined
  /**
   * Answers the fields no route describes (`LINK` fields aside). Default {@link unknownCommand}.
   * It runs like a command, in one of the connection's slots.
   */
  readonly fallback?:
    | ((field: Connection.IncomingField, connection: Connection.Connection) => Effect.Effect<void, EF, RF>)
    | undefined
}

/** The answer to a command nobody knows: `ERRO="Unknown command"`, `ERRC=400`. */
export const unknownCommand = (field: Connection.IncomingField): Effect.Effect<void, ConnectionError> =>
  field.reply(errorParams("Unknown command", 400))

const acknowledgement: Field.ParamsInput = [["ACKN", Value.i32(1)]]

const isConnectionClosed = (u: unknown): boolean => Predicate.isTagged(u, "ConnectionClosed")

const routeKey = (packetType: string, fieldName: string) => `${packetType} ${fieldName}`

/**
 * The router as a connection handler, for `Server.serve`, `Server.layer` or `NodeNcp.serve`:
 * it answers the connection's commands until the connection closes (then it succeeds), or
 * until a handler fails with an error other than {@link ErrorReply}.
 *
 * @example
 * ```ts
 * // Described commands by the router, anything else by a plain field handler.
 * const handler = CommandRouter.toHandler(router, {
 *   fallback: (field) => field.reply({ ERRO: `no ${field.name} here`, ERRC: 404 })
 * })
 * ```
 */
export const toHandler = <E, R, EF = never, RF = never>(
  router: CommandRouter<E, R>,
  options: HandlerOptions<EF, RF> = {}
) => {
  // Built once for the router, not once per connection: they are only read.
  const byName = new Map<string, Route<E, R>>()
  const byPacketType = new Map<string, Route<E, R>>()
  for (const route of router.routes) {
    byName.set(routeKey(route.command.packetType, route.command.fieldName), route)
    if (route.anyFieldName) byPacketType.set(route.command.packetType, route)
  }
  const fallback = options.fallback ?? unknownCommand
  const acknowledge = options.acknowledge ?? false
  const concurrency = options.concurrency ?? defaultConcurrency
  return (
    connection: Connection.Connection
  ): Effect.Effect<void, Exclude<E, ErrorReply> | EF | ConnectionError, R | RF> => {
    const answer = (
      field: Connection.IncomingField
    ): Effect.Effect<void, Exclude<E, ErrorReply> | EF | ConnectionError, R | RF> => {
      const route = byName.get(routeKey(field.packetType, field.name)) ?? byPacketType.get(field.packetType)
      if (route === undefined) return fallback(field, connection)
      const params = NcpCommand.decodeParams(route.command, field)
      if (Result.isFailure(params)) {
        const { param, detail } = params.failure
        return field.reply(errorParams(param === undefined ? detail : `param ${param}: ${detail}`, 400))
      }
      const run = runRoute(route, params.success, field, connection)
      const answered = acknowledge ? Effect.andThen(field.reply(acknowledgement), run) : run
      // the handler's own spans nest under the command's (a server with a tracer gives one)
      return field.span === undefined ? answered : Effect.withParentSpan(answered, field.span)
    }

    // `recv`, one field per pull: the router takes only what it can start, leaves the rest in
    // the connection's inbox, and never sees the replies to commands of the server's own.
    return Stream.fromEffectRepeat(connection.recv).pipe(
      Stream.filter((field) => field.packetType !== "LINK"),
      Stream.mapEffect(answer, { concurrency, unordered: true }),
      Stream.runDrain,
      Effect.catchIf(isConnectionClosed, () => Effect.void)
    )
  }
}

/**
 * Runs a route's handler and sends its replies; an `ErrorReply` is answered, other failures go
 * on. Each reply's bytes are reserved before it is generated: an Effect's before it runs, a
 * Stream's before each pull, so that a Stream is pulled only as fast as the client reads.
 */
const runRoute = <E, R>(
  route: Route<E, R>,
  params: unknown,
  field: Connection.IncomingField,
  connection: Connection.Connection
): Effect.Effect<void, Exclude<E, ErrorReply> | ConnectionError, R> => {
  const bytes = route.replyBytes(params)
  const reserved = <A, E2, R2>(effect: Effect.Effect<A, E2, R2>) =>
    Effect.scoped(Effect.andThen(connection.reserveOutgoing(bytes), effect))
  const sent: Effect.Effect<void, E | ConnectionError, R> = Effect.suspend(() => {
    const handled = route.handle(params, field)
    if (!Stream.isStream(handled)) {
      return reserved(Effect.flatMap(handled, (reply) => sendReply(route.command, field, reply)))
    }
    return Effect.scoped(
      Effect.flatMap(Stream.toPull(handled), (pull) => {
        // one reply per pull: reserve, pull (generate), send, give the reservation back
        const step = reserved(
          Effect.flatMap(pull, (replies) =>
            Effect.forEach(replies, (reply) => sendReply(route.command, field, reply), { discard: true })
          )
        )
        return Pull.catchDone(Effect.forever(step), () => Effect.void)
      })
    )
  })
  return Effect.catchIf(
    sent,
    (error): error is Extract<E, ErrorReply> => error instanceof ErrorReply,
    (error) => field.reply(errorParams(error.detail, error.code))
  ) as Effect.Effect<void, Exclude<E, ErrorReply> | ConnectionError, R>
}

/** Encodes a handler's reply and sends it; a reply its own Schema refuses is logged and answered with 500. */
const sendReply = (
  command: NcpCommand.Any,
  field: Connection.IncomingField,
  reply: unknown
): Effect.Effect<void, ConnectionError> => {
  const encoded = NcpCommand.encodeReply(command, reply)
  if (Result.isSuccess(encoded)) return field.reply(encoded.success)
  const { param, detail } = encoded.failure
  const where = param === undefined ? "" : `param ${param}: `
  return Effect.logError(
    `${command.packetType} ${command.fieldName}: the handler's reply does not match its Schema: ${where}${detail}`
  ).pipe(
    Effect.annotateLogs({
      ncp: "InvalidReply",
      packetType: command.packetType,
      field: command.fieldName,
      fieldId: field.id,
      param: param ?? ""
    }),
    Effect.andThen(field.reply(errorParams(`Server error: reply ${where}${detail}`, 500)))
  )
}
