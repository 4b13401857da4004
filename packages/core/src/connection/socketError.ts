/**
 * The one place a `SocketError` from `effect/socket` becomes a connection's `NetworkError`, so
 * that reads and writes describe the same failure the same way.
 */
import type * as Socket from "effect/socket/Socket"
import { NetworkError } from "../ConnectionError.js"

/** A short description of a socket failure: what failed and, when known, why. */
const socketErrorDetail = (error: Socket.SocketError): string => {
  const reason = error.reason
  const cause = "cause" in reason ? reason.cause : undefined
  const causeMessage =
    typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : undefined
  switch (reason._tag) {
    case "SocketOpenError":
      return reason.kind === "Timeout"
        ? "timed out connecting"
        : `cannot connect${causeMessage === undefined ? "" : `: ${causeMessage}`}`
    case "SocketCloseError":
      return `connection closed (code ${reason.code})`
    case "SocketReadError":
      return `read failed${causeMessage === undefined ? "" : `: ${causeMessage}`}`
    case "SocketWriteError":
      return `write failed${causeMessage === undefined ? "" : `: ${causeMessage}`}`
    default:
      return causeMessage ?? reason._tag
  }
}

/** The socket failure as a `NetworkError` naming the remote. */
export const networkError = (error: Socket.SocketError, remote: string): NetworkError =>
  new NetworkError({ detail: socketErrorDetail(error), remote, cause: error })

/** Whether a socket error is a graceful close (WebSocket-style code 1000): the end of input, not a failure. */
export const isGracefulClose = (error: Socket.SocketError): boolean =>
  error.reason._tag === "SocketCloseError" && error.reason.code === 1000
