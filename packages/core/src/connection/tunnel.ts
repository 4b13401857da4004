/**
 * The two sides of the CONNECT tunnel over a wire: the client sends the request and reads the
 * answer; the server reads the request, decides, and answers (see the public `Tunnel` module for
 * the bytes). Bytes read past the head go back to the wire: NCP starts right after it.
 */
import * as Effect from "effect/Effect"
import * as Base64 from "effect/encoding/Base64"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import { AuthenticationError, type ConnectionError, NetworkError } from "../ConnectionError.js"
import { answers, type Credentials, MAX_HEAD_BYTES, request } from "../Tunnel.js"
import { withDeadline } from "./deadline.js"
import type { Wire } from "./wire.js"

const latin1 = new TextDecoder("latin1")
const encoder = new TextEncoder()

/**
 * Reads up to and including the blank line ending an HTTP head; the bytes after it (the start
 * of NCP) go back to the wire's framer. Fails when the peer closes first or the head is too long.
 */
const readHead = (wire: Wire, timeoutSeconds: number, during: string) => {
  const read = Effect.gen(function* () {
    // A buffer that doubles as it fills, and a search that starts where the last one stopped:
    // a peer dripping its head a byte at a time costs linear work, not quadratic.
    let buffer = new Uint8Array(512)
    let length = 0
    for (;;) {
      const chunk = yield* wire.reader.pullBytes
      if (chunk === undefined) {
        return yield* new NetworkError({ detail: `the peer closed the connection ${during}`, remote: wire.remote })
      }
      if (length + chunk.length > buffer.length) {
        const grown = new Uint8Array(Math.max(buffer.length * 2, length + chunk.length))
        grown.set(buffer.subarray(0, length))
        buffer = grown
      }
      buffer.set(chunk, length)
      // the blank line may straddle two chunks: look again from the last 3 bytes before this one
      const end = indexOfBlankLine(buffer, Math.max(0, length - 3), length + chunk.length)
      length += chunk.length
      if (end >= 0) {
        if (end + 4 < length) wire.reader.unread(buffer.slice(end + 4, length))
        return latin1.decode(buffer.subarray(0, end))
      }
      if (length > MAX_HEAD_BYTES) {
        return yield* new NetworkError({
          detail: `no end of the tunnel head within ${MAX_HEAD_BYTES} bytes ${during}`,
          remote: wire.remote
        })
      }
    }
  })
  // One deadline for the whole head: a peer dripping it a byte at a time cannot hold it open.
  return withDeadline(read, timeoutSeconds, wire.remote, during)
}

const indexOfBlankLine = (bytes: Uint8Array, from: number, to: number): number => {
  for (let i = from; i + 3 < to; i++) {
    if (bytes[i] === 13 && bytes[i + 1] === 10 && bytes[i + 2] === 13 && bytes[i + 3] === 10) return i
  }
  return -1
}

/**
 * The client's side: sends the request and reads the answer. 401 fails with an
 * `AuthenticationError`, any other answer but 200 with a `NetworkError`.
 */
export const client = (
  wire: Wire,
  credentials: Credentials,
  timeoutSeconds: number
): Effect.Effect<void, ConnectionError> =>
  Effect.gen(function* () {
    yield* wire.outbox.write(encoder.encode(request(credentials)))
    const head = yield* readHead(wire, timeoutSeconds, "waiting for the tunnel answer")
    const statusLine = head.split("\r\n", 1)[0] ?? ""
    const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]
    if (status === "200") return
    if (status === "401") {
      return yield* new AuthenticationError({
        detail: `the node refused the credentials of user ${JSON.stringify(credentials.username)} (${statusLine})`,
        remote: wire.remote
      })
    }
    return yield* new NetworkError({
      detail: `the node refused the tunnel: ${JSON.stringify(statusLine)}`,
      remote: wire.remote
    })
  })

/** What the server's side of the tunnel decided. */
export type Verdict =
  | { readonly _tag: "Accepted"; readonly credentials: Credentials }
  | { readonly _tag: "Refused"; readonly status: number; readonly reason: string }

/**
 * The server's side: reads the request, checks method, target and (when `authenticate` is
 * given) credentials, and writes the answer. The caller must close the connection at once
 * when the verdict is `Refused`.
 */
export const server = <E, R>(
  wire: Wire,
  authenticate: ((credentials: Credentials) => Effect.Effect<boolean, E, R>) | undefined,
  timeoutSeconds: number
): Effect.Effect<Verdict, E | ConnectionError, R> =>
  Effect.gen(function* () {
    const head = yield* readHead(wire, timeoutSeconds, "waiting for the tunnel request")
    const [requestLine = "", ...headerLines] = head.split("\r\n")
    const [method, target] = requestLine.split(" ")
    const refuse = (status: number, answer: string, reason: string) =>
      Effect.as(wire.outbox.write(encoder.encode(answer)), { _tag: "Refused", status, reason } as const)
    if (method !== "CONNECT") {
      return yield* refuse(405, answers.methodNotAllowed, `method ${JSON.stringify(method ?? "")} is not CONNECT`)
    }
    if (target !== "ncp.service") {
      return yield* refuse(403, answers.forbidden, `target ${JSON.stringify(target ?? "")} is not ncp.service`)
    }
    const credentials = parseAuthorization(headerLines)
    if (authenticate !== undefined) {
      const allowed = credentials === undefined ? false : yield* authenticate(credentials)
      if (!allowed) {
        const who = credentials === undefined ? "no credentials" : `user ${JSON.stringify(credentials.username)}`
        return yield* refuse(401, answers.unauthorized, `authentication failed for ${who}`)
      }
    }
    yield* wire.outbox.write(encoder.encode(answers.ok))
    return {
      _tag: "Accepted",
      credentials: credentials ?? { username: "", password: Redacted.make("") }
    } as const
  })

const parseAuthorization = (headerLines: ReadonlyArray<string>): Credentials | undefined => {
  for (const line of headerLines) {
    const colon = line.indexOf(":")
    if (colon < 0 || line.slice(0, colon).trim().toLowerCase() !== "proxy-authorization") continue
    const match = /^Basic\s+(\S*)$/i.exec(line.slice(colon + 1).trim())
    if (match === null) return undefined
    const decoded = Base64.decodeString(match[1] ?? "")
    if (Result.isFailure(decoded)) return undefined
    const separator = decoded.success.indexOf(":")
    if (separator < 0) return undefined
    return {
      username: decoded.success.slice(0, separator),
      password: Redacted.make(decoded.success.slice(separator + 1))
    }
  }
  return undefined
}
