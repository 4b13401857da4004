/**
 * `@effect-ncp/core/cluster`: the fleet's nodes as Effect Cluster entities
 * ({@link ClusterFleet}), a `Fleet` service spread over several processes. Kept out of the main
 * entry point so that programs on one process do not load `effect/cluster`. The runner and
 * client layers for Node (sockets, Postgres) are `@effect-ncp/node/cluster`'s.
 *
 * @example
 * ```ts
 * import { ClusterFleet } from "@effect-ncp/core/cluster"
 * ```
 *
 * @module
 * @since 0.1.0
 */
export * as ClusterFleet from "./ClusterFleet.js"
