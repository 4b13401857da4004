/**
 * `@effect-ncp/node/promise`: NCP with Promises, for `async`/`await` code and for ncplib's
 * users. The same protocol, limits and errors as the Effect API, with nothing of Effect to
 * learn: `connect` to a node and `await` its replies, or `serve` commands with an async
 * function. Timeouts are in seconds, as in ncplib.
 *
 * - A connection keeps the process alive only while a call waits on it: a script ends by
 *   itself once its work is done, and a connection it forgot to close is closed on the way
 *   out (Node's `beforeExit`). `await using` closes one at the end of its block.
 * - Replies are pulled: `for await` over a Response (or a typed `stream`) asks for the next
 *   reply only when the loop comes back for it, so a slow consumer slows the node down.
 * - Errors are the Effect API's classes, exported here: `instanceof NetworkError`,
 *   `instanceof CommandError`, ...; every one is an `NcpError` (`isNcpError`).
 *
 * Behind it runs one Effect runtime, built on first use; moving a program to the Effect API
 * (`@effect-ncp/node`'s `NodeNcp`) keeps its commands, options and errors.
 *
 * @example
 * ```ts
 * import { connect } from "@effect-ncp/node/promise"
 *
 * await using connection = await connect({ host: "rfeye000123.local" })
 * const reply = await connection.request("DSPC", "SWEP", { FSTA: 10000, FSTP: 18000 })
 * console.log(reply.toRecord())
 * ```
 *
 * @module
 * @since 0.1.0
 */
import {
  CodecError,
  CommandRouter,
  ConnectionError as ConnectionErrors,
  NcpCommand,
  NcpError as NcpErrors
} from "@effect-ncp/core"

export { Timestamp, Value } from "@effect-ncp/core"
export type {
  Connection,
  ConnectOptions,
  Field,
  IncomingField,
  OutgoingField,
  ParamsArgs,
  Replies,
  RequestOptions,
  Response
} from "./promise/api.js"
export { connect } from "./promise/connection.js"
export { type FieldHandler, type ServeOptions, type Server, serve } from "./promise/server.js"

// The errors, flat: the Effect API's classes themselves, so that `instanceof` holds whichever
// API threw.

/** What every error of the library is: `error instanceof NcpError` (see {@link isNcpError}). */
export const NcpError = NcpErrors.NcpError
export type NcpError = NcpErrors.NcpError
/**
 * Whether `error` is an error of the library.
 *
 * @example
 * ```ts
 * try {
 *   await connection.request("DSPC", "SWEP", { FSTA: 10000, FSTP: 18000 })
 * } catch (error) {
 *   if (!isNcpError(error)) throw error
 *   console.error(`${error._tag}: ${error.message}`)
 * }
 * ```
 */
export const isNcpError = NcpErrors.isNcpError

/** Every error a connection rejects with. */
export type ConnectionError = ConnectionErrors.ConnectionError

/** The transport failed: cannot connect, reset, TLS failure, a server that cannot listen. */
export const NetworkError = ConnectionErrors.NetworkError
export type NetworkError = ConnectionErrors.NetworkError
/** The node refused the tunnel's credentials. */
export const AuthenticationError = ConnectionErrors.AuthenticationError
export type AuthenticationError = ConnectionErrors.AuthenticationError
/** A deadline passed: `command` names the command whose reply did not come in time. */
export const NetworkTimeout = ConnectionErrors.NetworkTimeout
export type NetworkTimeout = ConnectionErrors.NetworkTimeout
/** The connection is closed: by the peer, or here. */
export const ConnectionClosed = ConnectionErrors.ConnectionClosed
export type ConnectionClosed = ConnectionErrors.ConnectionClosed
/** The node answered with an error reply: `detail` (`ERRO`), `code` (`ERRC`), the `field`. */
export const CommandError = ConnectionErrors.CommandError
export type CommandError = ConnectionErrors.CommandError
/** A node's warning (`WARN`/`WARC`); logged, not thrown, with `autoWarn`. */
export const CommandWarning = ConnectionErrors.CommandWarning
export type CommandWarning = ConnectionErrors.CommandWarning
/** Code running on the connection threw (a bug); the connection has ended. */
export const ConnectionDefect = ConnectionErrors.ConnectionDefect
export type ConnectionDefect = ConnectionErrors.ConnectionDefect
/** A reconnecting client has no open connection (Effect API only, for now). */
export const NotConnected = ConnectionErrors.NotConnected
export type NotConnected = ConnectionErrors.NotConnected
/** Bytes that are not NCP came in (the connection ends). */
export const DecodeError = CodecError.DecodeError
export type DecodeError = CodecError.DecodeError
/** A value that NCP cannot carry was given (nothing was sent). */
export const EncodeError = CodecError.EncodeError
export type EncodeError = CodecError.EncodeError
/** A typed command's params do not match its Schema (nothing was sent). */
export const InvalidParams = NcpCommand.InvalidParams
export type InvalidParams = NcpCommand.InvalidParams
/** A typed command's reply does not match its Schema. */
export const InvalidReply = NcpCommand.InvalidReply
export type InvalidReply = NcpCommand.InvalidReply
/**
 * Thrown by a server's handler to answer its command with this error reply (`ERRO` detail,
 * `ERRC` code) rather than `ERRC` 500.
 *
 * @example
 * ```ts
 * throw new ErrorReply({ detail: "FSTA must be below FSTP", code: 400 })
 * ```
 */
export const ErrorReply = CommandRouter.ErrorReply
export type ErrorReply = CommandRouter.ErrorReply
