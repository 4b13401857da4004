/**
 * A fleet's nodes as it names them: a node's connection options, its key (`host:port`), and
 * its address read from `HOST[:PORT]` text, as the command line and configuration give it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Client from "../Client.js"

/** A node of the fleet: where it is and how to connect to it, as for `Client.connectReconnecting`. */
export type NodeOptions = Client.ReconnectOptions

/** A node's address: a host, and a port unless the default (9999; 443 with TLS; 80 with credentials). */
export interface NodeAddress {
  readonly host: string
  readonly port?: number | undefined
}

/**
 * A node's key in the fleet: `host:port` as `Client.defaultRemote` names it, the port filled
 * in (`rfeye000123.local:9999`, `[fe80::1]:9999`).
 */
export const nodeKey = (node: Pick<NodeOptions, "host" | "port" | "tls" | "username" | "password">): string =>
  Client.defaultRemote(node)

/**
 * Parses `HOST[:PORT]`, with an IPv6 host in brackets when a port follows (`[::1]:9999`); a bare
 * IPv6 address (`::1`) has no port. Fails with a sentence saying what is wrong.
 *
 * @example
 * ```ts
 * Fleet.parseAddress("rfeye002301:9999") // Success({ host: "rfeye002301", port: 9999 })
 * Fleet.parseAddress("[fe80::1]")        // Success({ host: "fe80::1", port: undefined })
 * ```
 */
export const parseAddress = (text: string): Result.Result<NodeAddress, string> => {
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

const withPort = (host: string, port: string): Result.Result<NodeAddress, string> => {
  const parsed = parsePort(port)
  return typeof parsed === "string" ? Result.fail(parsed) : Result.succeed({ host, port: parsed })
}

/** A TCP port 1-65535 from its decimal text, or why not. */
export const parsePort = (text: string): number | string => {
  if (!/^\d{1,5}$/.test(text)) return `port "${text}" is not a number 1-65535`
  const port = Number(text)
  return port >= 1 && port <= 65535 ? port : `port ${port} is outside 1-65535`
}

/**
 * A node's address from its `HOST[:PORT]` text ({@link parseAddress}), for reading the nodes
 * from configuration.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-ncp/core"
 * import * as Config from "effect/Config"
 *
 * // NCP_NODES=rfeye1:9999,rfeye2:9999,[fe80::1]:9999
 * const nodes = Config.Array(Fleet.NodeAddressFromString, "NCP_NODES")
 * ```
 */
export const NodeAddressFromString: Schema.Codec<NodeAddress, string> = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Struct({ host: Schema.String, port: Schema.optional(Schema.Number) }),
    SchemaTransformation.transformEffect({
      decode: (text: string, options) => {
        const parsed = parseAddress(text.trim())
        return Result.isSuccess(parsed)
          ? Effect.succeed(parsed.success)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: parsed.failure }, text, options))
      },
      encode: (address: NodeAddress) =>
        Effect.succeed(
          address.port === undefined
            ? address.host.includes(":")
              ? `[${address.host}]`
              : address.host
            : nodeKey({ host: address.host, port: address.port })
        )
    })
  )
).annotate({ identifier: "NodeAddressFromString" })
