/**
 * What the commands that talk to a node share: connecting with the command-line options (with
 * progress while waiting), and turning connection failures into one clear stderr line.
 *
 * @since 0.1.0
 */
import { Client, type Connection, type ConnectionError, type Transport } from "@effect-ncp/core"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Progress from "../Progress.js"
import { Reported } from "../Reported.js"
import * as Failure from "./failure.js"
import type { ConnectionOptions } from "./options.js"

/** The client options of the command-line connection options. */
export const clientOptions = (options: ConnectionOptions): Client.ClientOptions => ({
  host: options.host,
  port: options.port,
  // --insecure: TLS without verifying the certificate (a node's self-signed one).
  tls: options.tls ? (options.insecure ? { rejectUnauthorized: false } : true) : false,
  username: options.username,
  password: options.password,
  timeout: options.timeoutSeconds === undefined ? undefined : Duration.seconds(options.timeoutSeconds),
  // --timeout bounds each reply too: a node that keeps the link alive but never answers fails
  // the command instead of holding it forever
  requestTimeout: options.timeoutSeconds === undefined ? undefined : Duration.seconds(options.timeoutSeconds)
})

/** `host:port` as the client names the node. */
export const nodeName = (options: ConnectionOptions): string => Client.defaultRemote(clientOptions(options))

/** Connects and performs the handshake, showing progress on a terminal. */
export const connect = (
  options: ConnectionOptions
): Effect.Effect<Connection.Connection, ConnectionError.ConnectionError, Transport.Transport | Scope.Scope> =>
  Client.connect(clientOptions(options)).pipe(Progress.withProgress(`connecting to ${nodeName(options)}`))

/**
 * The codes Node gives a TLS certificate it does not accept: a self-signed one, an unknown
 * issuer, a name or a date that does not match. `--insecure` accepts such a certificate.
 */
const refusedCertificateCodes: ReadonlySet<string> = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID"
])

/** Whether the error, or any cause under it, is Node refusing the node's TLS certificate. */
export const isRefusedCertificate = (error: unknown): boolean => {
  const seen = new Set<unknown>()
  let current: unknown = error
  while (typeof current === "object" && current !== null && !seen.has(current)) {
    seen.add(current)
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string" && refusedCertificateCodes.has(code)) return true
    // a NetworkError's cause is a SocketError, whose reason holds Node's error as its cause
    const next = current as { readonly cause?: unknown; readonly reason?: unknown }
    current = next.cause ?? next.reason
  }
  return false
}

/** What to add to a refused certificate's message. */
const insecureHint = "; to accept a certificate that does not verify (a node's self-signed one), add --insecure"

/** One line saying what went wrong, without the command's name. */
export const describeError = (error: ConnectionError.ConnectionError): string => {
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
      return isRefusedCertificate(error.cause) ? `${error.message}${insecureHint}` : error.message
  }
}

/** What a failure says besides its message: its tag, and the node and code when it has them. */
export interface FailureDetails {
  /** The error's tag (default `"Failure"`). */
  readonly tag?: string | undefined
  readonly remote?: string | undefined
  readonly code?: number | undefined
}

/**
 * Tells the failure on stderr, `ncp COMMAND: detail` (or one JSON object with `--json`, see
 * `failure.ts`), and fails with a `Reported` (exit code 1).
 */
export const fail = (command: string, detail: string, details: FailureDetails = {}): Effect.Effect<never, Reported> =>
  Failure.tell({
    tag: details.tag ?? "Failure",
    message: detail,
    command: `ncp ${command}`,
    exitCode: 1,
    remote: details.remote,
    code: details.code
  }).pipe(Effect.andThen(Effect.fail(new Reported({ exitCode: 1, detail }))))

/** The details of a connection error: its tag, the node, a command error's code. */
const detailsOf = (error: ConnectionError.ConnectionError): FailureDetails => ({
  tag: error._tag,
  remote: "remote" in error ? error.remote : undefined,
  code: error._tag === "CommandError" ? error.code : undefined
})

/** Reports a connection failure as one stderr line (exit code 1). */
export const reportFailure =
  (command: string) =>
  <A, R>(effect: Effect.Effect<A, ConnectionError.ConnectionError | Reported, R>): Effect.Effect<A, Reported, R> =>
    Effect.catch(effect, (error) =>
      error._tag === "Reported" ? Effect.fail(error) : fail(command, describeError(error), detailsOf(error))
    )
