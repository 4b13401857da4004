/**
 * What the commands that talk to a node share: connecting with the command-line options (with
 * progress while waiting), and turning connection failures into one clear stderr line.
 *
 * @since 0.1.0
 */
import { Client, type Connection, type ConnectionError, type Transport } from "@effect-ncp/core"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Progress from "../Progress.js"
import { Reported } from "../Reported.js"
import type { ConnectionOptions } from "./options.js"

/** The client options of the command-line connection options. */
export const clientOptions = (options: ConnectionOptions): Client.ClientOptions => ({
  host: options.host,
  port: options.port,
  // --insecure: TLS without verifying the certificate (a node's self-signed one).
  tls: options.tls ? (options.insecure ? { rejectUnauthorized: false } : true) : false,
  username: options.username,
  password: options.password,
  timeout: options.timeoutSeconds
})

/** `host:port` as the client names the node. */
export const nodeName = (options: ConnectionOptions): string => Client.defaultRemote(clientOptions(options))

/** Connects and performs the handshake, showing progress on a terminal. */
export const connect = (
  options: ConnectionOptions
): Effect.Effect<Connection.Connection, ConnectionError, Transport.Transport | Scope.Scope> =>
  Client.connect(clientOptions(options)).pipe(Progress.withProgress(`connecting to ${nodeName(options)}`))

/** One line saying what went wrong, without the command's name. */
export const describeError = (error: ConnectionError): string => {
  switch (error._tag) {
    case "AuthenticationError":
      return `authentication refused: ${error.message}`
    case "CommandError":
      return `command error from the node: ${error.message}`
    case "NetworkTimeout":
      return `timeout: ${error.message}`
    case "ConnectionClosed":
      return `connection closed: ${error.message}`
    case "DecodeError":
      return `bad data from the node: ${error.message}`
    case "EncodeError":
      return `cannot encode the command: ${error.message}`
    case "ConnectionDefect":
      return `internal error: ${error.message}`
    case "NotConnected":
      return error.message
    case "NetworkError":
      return error.message
  }
}

/** Prints `ncp COMMAND: detail` on stderr and fails with a `Reported` (exit code 1). */
export const fail = (command: string, detail: string): Effect.Effect<never, Reported> =>
  Console.error(`ncp ${command}: ${detail}`).pipe(Effect.andThen(Effect.fail(new Reported({ exitCode: 1, detail }))))

/** Reports a connection failure as one stderr line (exit code 1). */
export const reportFailure =
  (command: string) =>
  <A, R>(effect: Effect.Effect<A, ConnectionError | Reported, R>): Effect.Effect<A, Reported, R> =>
    Effect.catch(effect, (error) =>
      error._tag === "Reported" ? Effect.fail(error) : fail(command, describeError(error))
    )
