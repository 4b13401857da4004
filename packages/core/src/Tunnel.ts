/**
 * The HTTP CONNECT tunnel in front of NCP, used whenever TLS is on or credentials are given.
 *
 * The client sends, byte for byte,
 * `CONNECT ncp.service HTTP/1.1\r\nProxy-Authorization: Basic <base64 user:password>\r\n\r\n`;
 * the server answers `200 OK` (then NCP starts), `401 Unauthorized` for wrong credentials,
 * `405 Method Not Allowed` for another method, `403 Forbidden` for another target, and after
 * any answer but 200 closes the connection at once.
 *
 * @module
 * @since 0.1.0
 */
import * as Base64 from "effect/encoding/Base64"
import * as Redacted from "effect/Redacted"

/** Credentials a client presents, and a server's `authenticate` function receives. */
export interface Credentials {
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

/** The longest request or answer head accepted (a peer that never ends its head is refused). */
export const MAX_HEAD_BYTES = 16 * 1024

/** The tunnel request a client sends, byte for byte. */
export const request = (credentials: Credentials): string =>
  `CONNECT ncp.service HTTP/1.1\r\nProxy-Authorization: Basic ${Base64.encode(
    `${credentials.username}:${Redacted.value(credentials.password)}`
  )}\r\n\r\n`

/** The server's answers. */
export const answers = {
  ok: "HTTP/1.1 200 OK\r\nServer: effect-ncp\r\n\r\n",
  unauthorized:
    'HTTP/1.1 401 Unauthorized\r\nServer: effect-ncp\r\nProxy-Authenticate: Basic realm="CRFS RFeye Node", charset="utf-8"\r\nContent-Length: 0\r\n\r\n',
  forbidden: "HTTP/1.1 403 Forbidden\r\nServer: effect-ncp\r\nContent-Length: 0\r\n\r\n",
  methodNotAllowed:
    "HTTP/1.1 405 Method Not Allowed\r\nServer: effect-ncp\r\nAllow: CONNECT\r\nContent-Length: 0\r\n\r\n",
  badRequest: "HTTP/1.1 400 Bad Request\r\nServer: effect-ncp\r\nContent-Length: 0\r\n\r\n",
  unavailable: "HTTP/1.1 503 Service Unavailable\r\nServer: effect-ncp\r\nContent-Length: 0\r\n\r\n"
} as const
