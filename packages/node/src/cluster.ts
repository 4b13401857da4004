/**
 * `@effect-ncp/node/cluster`: the clustered fleet on Node ({@link NodeCluster}): runner and
 * client layers over Effect Cluster's TCP transport, with the cluster's storage in Postgres.
 * Kept out of the main entry point so that `@effect/sql-pg`, an optional peer dependency, is
 * needed only here.
 *
 * @example
 * ```ts
 * import { NodeCluster } from "@effect-ncp/node/cluster"
 * ```
 *
 * @module
 * @since 0.1.0
 */
export * as NodeCluster from "./NodeCluster.js"
