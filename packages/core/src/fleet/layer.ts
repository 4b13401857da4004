/**
 * The fleet as a service in context: the `Fleet` key, whose layer starts a fleet in this
 * process, and a layer whose nodes come from configuration.
 *
 * @internal
 */
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type { Transport } from "../Transport.js"
import type { NodeOptions } from "./address.js"
import { make } from "./make.js"
import type { FleetOptions, FleetService } from "./service.js"

/**
 * A fleet of nodes as a service: provide {@link Fleet.layer} (plus a `Transport`) and
 * `yield* Fleet.Fleet`, or use {@link call}, {@link callAll}, {@link stream} and
 * {@link onSchedule}, which find it in context.
 */
export class Fleet extends Context.Service<Fleet, FleetService>()("@effect-ncp/core/Fleet") {
  /** A fleet for the life of the layer, starting with `options.nodes`, built once each node's first attempt has ended. */
  static readonly layer = (options: FleetOptions = {}): Layer.Layer<Fleet, never, Transport> =>
    Layer.effect(Fleet, make(options))
}

/**
 * A fleet whose nodes come from configuration (`effect/Config`), e.g. a comma-separated list
 * of addresses in an environment variable.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-ncp/core"
 * import { NodeTransport } from "@effect-ncp/node"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // NCP_NODES=rfeye1:9999,rfeye2:9999
 * const Nodes = Fleet.layerConfig(Config.Array(Fleet.NodeAddressFromString, "NCP_NODES"), {
 *   defaults: { requestTimeout: "10 seconds" }
 * }).pipe(Layer.provide(NodeTransport.layer))
 * ```
 */
export const layerConfig = (
  nodes: Config.Config<ReadonlyArray<NodeOptions>>,
  options: Omit<FleetOptions, "nodes"> = {}
): Layer.Layer<Fleet, Config.ConfigError, Transport> =>
  Layer.unwrap(Effect.map(nodes, (list) => Fleet.layer({ ...options, nodes: list })))
