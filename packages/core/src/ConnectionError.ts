/**
 * The errors of NCP connections, each a tagged error in the Effect error channel:
 *
 * - `NetworkError`: the transport failed (cannot connect, reset, TLS failure, a tunnel answer
 *   other than 200 or 401, an unexpected handshake).
 * - `AuthenticationError`: the node refused the credentials (tunnel answer 401).
 * - `NetworkTimeout`: nothing arrived from the peer within the timeout.
 * - `ConnectionClosed`: the peer closed the connection between packets, or it was closed here.
 * - `CommandError`: the node answered a command with `ERRO`/`ERRC`.
 * - `ConnectionDefect`: code running on the connection threw (a bug, ours or a handler's); the
 *   connection ended, and `cause` holds what was thrown.
 * - `NotConnected`: a reconnecting client has no open connection right now (it is connecting,
 *   backing off, or closed); `lastError` says why.
 * - `DecodeError` and `EncodeError` (module `CodecError`): bad bytes in, bad values out.
 *
 * @module
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { DecodeError, EncodeError } from "./CodecError.js"
import * as Field from "./Field.js"
import * as NcpError from "./NcpError.js"

const FieldSchema = Schema.declare(
  (u: unknown): u is Field.Field => typeof u === "object" && u !== null && "name" in u && "params" in u,
  { identifier: "Field" }
)

/** The transport failed: cannot connect, connection reset, TLS failure, an unexpected answer. */
export class NetworkError extends Schema.TaggedError<NetworkError>()("NetworkError", {
  detail: Schema.String,
  remote: Schema.optional(Schema.String),
  cause: Schema.optional(Schema.Defect())
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    return this.remote === undefined ? this.detail : `${this.remote}: ${this.detail}`
  }
}

/** The node refused the credentials (the CONNECT tunnel answered 401). */
export class AuthenticationError extends Schema.TaggedError<AuthenticationError>()("AuthenticationError", {
  detail: Schema.String,
  remote: Schema.optional(Schema.String)
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    return this.remote === undefined ? this.detail : `${this.remote}: ${this.detail}`
  }
}

/**
 * A deadline passed: nothing arrived from the peer within the timeout, the peer read nothing of
 * what was sent within it, or a command's reply did not come within its deadline (`command`
 * names it, e.g. `"DSPC SWEP"`). `during` says what was being waited for.
 */
export class NetworkTimeout extends Schema.TaggedError<NetworkTimeout>()("NetworkTimeout", {
  seconds: Schema.Number,
  during: Schema.String,
  remote: Schema.optional(Schema.String),
  command: Schema.optional(Schema.String)
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    const prefix = this.remote === undefined ? "" : `${this.remote}: `
    return `${prefix}timed out after ${this.seconds} s ${this.during}`
  }
}

/** The connection is closed: the peer closed it between packets, or it was closed here. */
export class ConnectionClosed extends Schema.TaggedError<ConnectionClosed>()("ConnectionClosed", {
  detail: Schema.String,
  remote: Schema.optional(Schema.String)
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    return this.remote === undefined ? this.detail : `${this.remote}: ${this.detail}`
  }
}

/** What an error or warning reply carries: its command, its text and code, and the field. */
const replyFields = {
  packetType: Schema.String,
  fieldName: Schema.String,
  fieldId: Schema.Number,
  detail: Schema.String,
  code: Schema.optional(Schema.Number),
  field: FieldSchema
}

/** A reply's text (`detailParam`, `fallback` when missing or not a string) and code (`codeParam`, when a number). */
const fromReply = (
  packetType: string,
  field: Field.Field,
  detailParam: string,
  codeParam: string,
  fallback: string
) => {
  const detail = Field.get(field, detailParam)
  const code = Field.get(field, codeParam)
  return {
    packetType,
    fieldName: field.name,
    fieldId: field.id,
    detail: typeof detail === "string" ? detail : fallback,
    code: typeof code === "number" ? code : undefined,
    field
  }
}

const replyMessage = (reply: {
  readonly packetType: string
  readonly fieldName: string
  readonly detail: string
  readonly code?: number | undefined
}) =>
  `${reply.packetType} ${reply.fieldName}: ${reply.detail}${reply.code === undefined ? "" : ` (code ${reply.code})`}`

/**
 * The node answered with an error: a field carrying `ERRO` (detail) and/or `ERRC` (code). Holds
 * the packet type, the field's name and id, and the field itself.
 */
export class CommandError extends Schema.TaggedError<CommandError>()("CommandError", replyFields) {
  static {
    NcpError.mark(this)
  }

  /**
   * The error an error reply stands for: `ERRO` as the detail ("command error" when missing or
   * not a string), `ERRC` as the code when it is a number.
   *
   * @example
   * ```ts
   * import { CommandError, Value } from "@effect-ncp/core"
   *
   * const error = CommandError.fromField("DSPC", {
   *   name: "SWEP",
   *   id: 7,
   *   params: [{ name: "ERRO", value: Value.string("bad range") }, { name: "ERRC", value: Value.i32(400) }]
   * })
   * error.message // "DSPC SWEP: bad range (code 400)"
   * ```
   */
  static fromField(packetType: string, field: Field.Field): CommandError {
    return new CommandError(fromReply(packetType, field, "ERRO", "ERRC", "command error"))
  }

  override get message(): string {
    return replyMessage(this)
  }
}

/**
 * A node's warning about a command: a reply carrying `WARN` (detail) and/or `WARC` (code). Not
 * a failure: the command goes on, and its other replies still come. With `autoWarn` (a
 * client's default) it is logged and published on the connection's `warnings` Stream, for a
 * program that reacts to it; the field itself is still delivered.
 */
export class CommandWarning extends Schema.TaggedError<CommandWarning>()("CommandWarning", replyFields) {
  static {
    NcpError.mark(this)
  }

  /** The warning a warning reply stands for: `WARN` as the detail ("warning" when missing), `WARC` as the code. */
  static fromField(packetType: string, field: Field.Field): CommandWarning {
    return new CommandWarning(fromReply(packetType, field, "WARN", "WARC", "warning"))
  }

  override get message(): string {
    return replyMessage(this)
  }
}

/**
 * The params of an error reply, as a node words one: `ERRO` with the detail, `ERRC` with the
 * code (400 for a bad request, 500 for a server error, ...). The reverse of
 * {@link CommandError.fromField}.
 *
 * @example
 * ```ts
 * import { ConnectionError } from "@effect-ncp/core"
 * import type { Connection } from "@effect-ncp/core"
 * import type * as Effect from "effect/Effect"
 *
 * declare const field: Connection.IncomingField
 * const refused: Effect.Effect<void, ConnectionError.ConnectionError> = field.reply(
 *   ConnectionError.errorParams("FSTA must be below FSTP", 400)
 * )
 * ```
 */
export const errorParams = (detail: string, code: number): Field.ParamsInput => [
  ["ERRO", { type: "string", value: detail }],
  ["ERRC", { type: "i32", value: code }]
]

/**
 * Code running on the connection threw instead of failing with a typed error: a bug, in this
 * library or in a handler. The connection has ended; `cause` is what was thrown, and it was
 * logged once at Error level with the remote.
 */
export class ConnectionDefect extends Schema.TaggedError<ConnectionDefect>()("ConnectionDefect", {
  detail: Schema.String,
  remote: Schema.optional(Schema.String),
  cause: Schema.Defect()
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    const cause = this.cause
    const thrown =
      typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : String(cause)
    return `${this.remote === undefined ? "" : `${this.remote}: `}${this.detail}: ${thrown}`
  }
}

// Checked against the union: a new ConnectionError must be listed here, or this does not compile.
const connectionErrorTags: ReadonlySet<string> = new Set(
  Object.keys({
    NetworkError: true,
    AuthenticationError: true,
    NetworkTimeout: true,
    ConnectionClosed: true,
    CommandError: true,
    ConnectionDefect: true,
    NotConnected: true,
    DecodeError: true,
    EncodeError: true
  } satisfies Record<ConnectionError["_tag"], true>)
)

const ConnectionErrorSchema = Schema.declare(
  (u: unknown): u is ConnectionError =>
    u instanceof Error && "_tag" in u && typeof u._tag === "string" && connectionErrorTags.has(u._tag),
  { identifier: "ConnectionError" }
)

/**
 * A reconnecting client (`Client.NcpClient.layerReconnecting`) has no open connection: it is
 * making an attempt (`state` "Connecting"), waiting before the next one ("BackingOff"), or has
 * stopped for good ("Closed": released, closed, or its schedule gave up). `attempt` numbers the
 * attempt being made or waited for (1 after a disconnect); `lastError` is why the last attempt
 * failed, or why the last connection ended.
 */
export class NotConnected extends Schema.TaggedError<NotConnected>()("NotConnected", {
  state: Schema.Literals(["Connecting", "BackingOff", "Closed"]),
  remote: Schema.optional(Schema.String),
  attempt: Schema.optional(Schema.Number),
  lastError: Schema.optional(ConnectionErrorSchema)
}) {
  static {
    NcpError.mark(this)
  }

  override get message(): string {
    const prefix = this.remote === undefined ? "" : `${this.remote}: `
    const state =
      this.state === "Connecting"
        ? `connecting (attempt ${this.attempt ?? 1})`
        : this.state === "BackingOff"
          ? `waiting to reconnect (attempt ${this.attempt ?? 1})`
          : "the client is closed"
    // the last error usually starts with the same remote: say it once
    const reason = this.lastError?.message
    const last =
      reason === undefined
        ? ""
        : `; last error: ${prefix !== "" && reason.startsWith(prefix) ? reason.slice(prefix.length) : reason}`
    return `${prefix}not connected: ${state}${last}`
  }
}

/** Every error an NCP connection can fail with. */
export type ConnectionError =
  | NetworkError
  | AuthenticationError
  | NetworkTimeout
  | ConnectionClosed
  | CommandError
  | ConnectionDefect
  | NotConnected
  | DecodeError
  | EncodeError
