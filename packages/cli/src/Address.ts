/**
 * Node addresses as the command line gives them: `HOST[:PORT]`, with IPv6 hosts in brackets
 * when a port follows (`[::1]:9999`). A bare IPv6 address (`::1`) has no port.
 *
 * The port is left out when not given: the client picks its default from the transport
 * (9999 plain NCP, 443 with TLS, 80 with credentials but no TLS).
 *
 * @example
 * ```ts
 * import { Address } from "@effect-ncp/cli"
 *
 * Address.parseAddress("rfeye002301:9999") // Success({ host: "rfeye002301", port: 9999 })
 * Address.parseAddress("[fe80::1]")        // Success({ host: "fe80::1", port: undefined })
 * ```
 *
 * @since 0.1.0
 */
import * as Result from "effect/Result"

/** A host and, when given, a port. */
export interface Address {
  readonly host: string
  readonly port: number | undefined
}

/** Parses `HOST[:PORT]`, or says why it is not one. */
export const parseAddress = (text: string): Result.Result<Address, string> => {
  if (text.startsWith("[")) {
    const close = text.indexOf("]")
    if (close < 0) return Result.fail(`missing "]" after the IPv6 address in "${text}"`)
    const host = text.slice(1, close)
    const rest = text.slice(close + 1)
    if (host === "") return Result.fail(`empty host in "${text}"`)
    if (rest === "") return Result.succeed({ host, port: undefined })
    if (!rest.startsWith(":")) return Result.fail(`expected ":PORT" after "]" in "${text}"`)
    return withPort(host, rest.slice(1))
  }
  const colon = text.indexOf(":")
  // Several colons without brackets: an IPv6 address, no port.
  if (colon < 0 || text.indexOf(":", colon + 1) >= 0) {
    return text === "" ? Result.fail("empty host") : Result.succeed({ host: text, port: undefined })
  }
  const host = text.slice(0, colon)
  if (host === "") return Result.fail(`empty host in "${text}"`)
  return withPort(host, text.slice(colon + 1))
}

const withPort = (host: string, port: string): Result.Result<Address, string> => {
  const parsed = parsePort(port)
  return typeof parsed === "string" ? Result.fail(parsed) : Result.succeed({ host, port: parsed })
}

/** A TCP port 1-65535 from its decimal text, or why not. */
export const parsePort = (text: string): number | string => {
  if (!/^\d{1,5}$/.test(text)) return `port "${text}" is not a number 1-65535`
  const port = Number(text)
  return port >= 1 && port <= 65535 ? port : `port ${port} is outside 1-65535`
}
