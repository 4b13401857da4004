/**
 * An NCP server of the Promise API: `serve(handler, options)` listens, and answers every
 * command with `handler`, an async function of the command's field, or with a `CommandRouter`
 * of typed commands. It runs until `close()`.
 *
 * A function handler runs once per command, up to `concurrency` commands of one connection at
 * once (later ones wait in order, and past the connection's buffer its reading stops, as a
 * router's do). A handler that throws answers its command with an error reply (`ERRO` the
 * error's message, `ERRC` 500; a `CommandRouter.ErrorReply` with its own code) and the
 * connection goes on, as ncplib's servers do. The Effect API is stricter: a failing connection
 * handler ends its connection (`LINK ERRO` 500), and so does a route failing with anything but
 * an `ErrorReply`, which a router keeps here too.
 *
 * @internal
 */
import {
  CommandRouter,
  ConnectionError,
  type Field as CoreField,
  type Connection as EffectConnection,
  type Limits
} from "@effect-ncp/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import type * as SocketServer from "effect/socket/SocketServer"
import type * as NodeListener from "../NodeListener.js"
import * as NodeNcp from "../NodeNcp.js"
import type { IncomingField } from "./api.js"
import { PromiseConnection } from "./connection.js"
import { CommandField } from "./field.js"
import * as Runtime from "./runtime.js"
import * as Units from "./units.js"

/**
 * Answers one command: reply with `field.reply(...)` (as many times as it has replies), or
 * throw to answer with an error reply.
 *
 * @example
 * ```ts
 * const handler: FieldHandler = async (field) => {
 *   if (field.name !== "ECHO") throw new ErrorReply({ detail: "Unknown command", code: 400 })
 *   await field.reply(field.params)
 * }
 * ```
 */
export type FieldHandler = (field: IncomingField) => Promise<void> | void

/**
 * Options of `serve`. Every timeout is in seconds, as in ncplib. The limits (`maxConnections`,
 * `maxPacketBytes`, ...) are those of the Effect API (`Limits.table`, server defaults).
 */
export interface ServeOptions extends Limits.Options<Limits.ServerLimits> {
  /** The address to listen on. Default `"0.0.0.0"` (every IPv4 interface). */
  readonly host?: string | undefined
  /** The port. Default 9999 (443 with `tls`, 80 with `authenticate`); 0 picks a free one (`server.port`). */
  readonly port?: number | undefined
  /** Serve TLS (behind the CONNECT tunnel, as nodes do) with this key and certificate (PEM). */
  readonly tls?: NodeListener.TlsOptions | undefined
  /** The network timeout in seconds: each handshake step, and a client silent that long. Default 60. */
  readonly timeout?: number | undefined
  /** Params of the `LINK HELO` field the server greets with (real nodes send NCPV, SEID, MACA). */
  readonly hello?: CoreField.ParamsInput | undefined
  /**
   * Checks a client's credentials; with it, the CONNECT tunnel with valid credentials is
   * mandatory, and `false` (or a rejection) answers 401.
   */
  readonly authenticate?:
    | ((credentials: { readonly username: string; readonly password: string }) => boolean | Promise<boolean>)
    | undefined
  /** The most commands of one connection handled at once. Default 4, as `CommandRouter`'s. */
  readonly concurrency?: number | undefined
  /** Reply with `ACKN=1` to each command before its handler runs, as nodes do. Default false. */
  readonly acknowledge?: boolean | undefined
  /** On `close()`: how long, in seconds, handlers may finish the commands they have. Default 5. */
  readonly shutdownGrace?: number | undefined
}

/**
 * A running server.
 *
 * @example
 * ```ts
 * await using server = await serve(async (field) => field.reply(field.params), { port: 0 })
 * console.log(`listening on ${server.host}:${server.port}`)
 * ```
 */
export interface Server extends AsyncDisposable {
  /** The bound IP address, e.g. `"127.0.0.1"`. */
  readonly host: string
  /** The bound port (the free one picked for port 0). */
  readonly port: number
  /**
   * Stops: refuses new connections, gives handlers `shutdownGrace` to finish, then closes
   * every connection.
   */
  close(): Promise<void>
}

const acknowledgement: CoreField.ParamsInput = { ACKN: 1 }

/** The error reply a thrown error stands for, and whether it is worth logging (a bug, not a refusal). */
const errorReplyOf = (thrown: unknown): { readonly params: CoreField.ParamsInput; readonly logged: boolean } => {
  if (thrown instanceof CommandRouter.ErrorReply) {
    return { params: ConnectionError.errorParams(thrown.detail, thrown.code), logged: false }
  }
  const detail = thrown instanceof Error ? thrown.message : String(thrown)
  return { params: ConnectionError.errorParams(detail, 500), logged: true }
}

/** Runs `handler` on one command; what it throws is answered with an error reply. */
const answer = (
  handler: FieldHandler,
  field: EffectConnection.IncomingField,
  connection: PromiseConnection,
  acknowledge: boolean
): Effect.Effect<void, ConnectionError.ConnectionError> => {
  const handled = Effect.tryPromise({
    try: async () => handler(new CommandField(field, connection)),
    catch: (thrown) => thrown
  })
  const answered = Effect.catch(handled, (thrown) => {
    // the client has gone (a reply of the handler's found it closed): nobody to answer
    if (connection.isClosing || thrown instanceof ConnectionError.ConnectionClosed) return Effect.void
    const { params, logged } = errorReplyOf(thrown)
    const replied = Effect.ignore(field.reply(params))
    if (!logged) return replied
    // logged in the connection's fiber, with its annotations (remote, node, connection)
    return Effect.logError(
      `${field.packetType} ${field.name}: the handler failed; answered with ERRC 500`,
      thrown
    ).pipe(Effect.annotateLogs({ ncp: "HandlerFailed" }), Effect.andThen(replied))
  })
  return acknowledge ? Effect.andThen(field.reply(acknowledgement), answered) : answered
}

const noRoutes = CommandRouter.make()

/** A connection handler of the Effect API running `handler` on each command. */
const connectionHandler = (handler: FieldHandler, options: ServeOptions) => (connection: EffectConnection.Connection) =>
  Effect.suspend(() => {
    // its scope closes when the connection ends (see PromiseConnection)
    const wrapped = new PromiseConnection(connection, Scope.makeUnsafe(), undefined)
    const acknowledge = options.acknowledge ?? false
    // a router without routes sends every command to its fallback: its reading, its order
    // and its bound on commands at once, for the function too
    return CommandRouter.toHandler(noRoutes, {
      concurrency: options.concurrency,
      fallback: (field) => answer(handler, field, wrapped, acknowledge)
    })(connection)
  })

/** The Effect API's server options: seconds to Durations, credentials with a plain password. */
const nodeOptions = ({
  timeout,
  shutdownGrace,
  authenticate,
  concurrency: _concurrency,
  acknowledge: _acknowledge,
  ...options
}: ServeOptions): NodeNcp.ServeOptions<unknown> => ({
  ...options,
  timeout: Units.seconds("timeout", timeout),
  shutdownGrace: Units.seconds("shutdownGrace", shutdownGrace),
  authenticate:
    authenticate === undefined
      ? undefined
      : ({ username, password }) =>
          Effect.tryPromise({
            try: async () => authenticate({ username, password: Redacted.value(password) }),
            catch: (thrown) => thrown
          })
})

/** A listener that could not start, as the library's `NetworkError`. */
const cannotListen = (options: NodeNcp.ServeOptions<unknown>) => (error: SocketServer.SocketServerError) =>
  new ConnectionError.NetworkError({
    detail: `cannot listen on ${options.host ?? "0.0.0.0"}:${options.port ?? NodeNcp.defaultServePort(options)}: ${error.message}`,
    cause: error
  })

/**
 * Listens and answers commands until `close()`: with `handler`, an async function called once
 * per command (see {@link FieldHandler}), or with a `CommandRouter` of typed commands. Resolves
 * once listening; rejects with a `NetworkError` when it cannot (the port is taken).
 *
 * @example
 * ```ts
 * const server = await serve(
 *   async (field) => {
 *     await field.reply({ ECHO: field.get("TEXT") ?? "" })
 *   },
 *   { port: 9999 }
 * )
 * ```
 */
export const serve = async (
  handler: FieldHandler | CommandRouter.CommandRouter<unknown, never>,
  options: ServeOptions = {}
): Promise<Server> => {
  const resolved = nodeOptions(options)
  const connections =
    typeof handler === "function"
      ? connectionHandler(handler, options)
      : CommandRouter.toHandler(handler, { concurrency: options.concurrency, acknowledge: options.acknowledge })
  const scope = Scope.makeUnsafe()
  const listening = await Runtime.run(
    NodeNcp.make(connections, resolved).pipe(
      Scope.provide(scope),
      Effect.mapError(cannotListen(resolved)),
      Effect.onError(() => Scope.close(scope, Exit.void))
    )
  )
  let closing: Promise<void> | undefined
  const close = () => {
    closing ??= Runtime.run(Scope.close(scope, Exit.void))
    return closing
  }
  return { host: listening.host, port: listening.port, close, [Symbol.asyncDispose]: close }
}
