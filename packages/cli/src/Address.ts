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
 * @module
 * @since 0.1.0
 */
import { Fleet } from "@effect-ncp/core"
import * as Result from "effect/Result"

/** A host and, when given, a port. */
export interface Address {
  readonly host: string
  readonly port: number | undefined
}

/** Parses `HOST[:PORT]`, or says why it is not one (`Fleet.parseAddress`, the core's one reading of addresses). */
export const parseAddress = (text: string): Result.Result<Address, string> =>
  Result.map(Fleet.parseAddress(text), (address) => ({ host: address.host, port: address.port }))
