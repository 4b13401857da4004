/**
 * The fleet spread over several processes: each node an entity of Effect Cluster
 * (`effect/cluster`), held on whichever runner owns its shard, and a `Fleet.Fleet` service on
 * top, so a program written against `Fleet` runs unchanged on one process
 * (`Fleet.Fleet.layer`, the default) or on a cluster ({@link layer}). When a runner stops or
 * dies, its shards move to the others, and their nodes reconnect there.
 *
 * - **The entity** ({@link NodeEntity}, type `NcpNode`, keyed by the node's address
 *   `host:port` as `Fleet.nodeKey` spells it) holds the node's reconnecting connection, a
 *   one-node `Fleet` on its runner (`Fleet.make`), and answers the fleet's operations as
 *   messages: {@link RequestMessage} (one command, its first reply), {@link StreamMessage}
 *   (every reply, as a streamed reply of the cluster, backpressured by its acknowledgements),
 *   {@link StateMessage} (the node's state and its runner), {@link ConnectMessage} and
 *   {@link DisconnectMessage} (joining and leaving the fleet). A node of the fleet is kept
 *   alive (`Entity.keepAlive`): its entity never passivates, and after its runner dies it
 *   starts again on the runner that takes its shard, with no message needed.
 * - **Typed commands** are encoded where they are called (`Fleet.toRequest`: bad params fail
 *   before anything is sent) and their replies decoded there (`Fleet.decodeResult`), exactly as
 *   on one process: a command's Schemas are code, not data, so they do not travel; runners
 *   need no knowledge of the commands their callers use, and a runner's CPU goes to the
 *   connections. `Fleet.call`, `Fleet.callAll`, `Fleet.stream` and `Fleet.onSchedule` run on
 *   this service as they do on the in-process one.
 * - **The fleet's nodes** are kept in the cluster's database ({@link FleetStorage}, table
 *   `ncp_fleet_nodes`): every client and runner sees the same nodes; a node added through one
 *   process is connected on the runner that owns its shard, and stays connected until removed.
 *   A service's `view` is the whole fleet (`"cluster"`, the default) or only its own `nodes`
 *   (`"nodes"`, which changes nothing in the fleet: what `ncp status --cluster` uses).
 * - **State** is each node's entity's, asked for when `state` runs; `changes` polls it every
 *   `changesInterval` (1 s) and gives the states that changed.
 *
 * **Delivery.** Every message of the entity is volatile (not stored: `ClusterSchema.Persisted`
 * is off), and a command reaches its node at most once:
 *
 * - A command to a radio is not blindly repeatable (a second `DSPC TIME` is a second capture,
 *   a second tuning command retunes), so a command is never stored to be replayed, nor sent
 *   again. Persisted messages would be re-run on the new owner after a crash (the cluster
 *   delivers them at least once); volatile ones are too, when the cluster's client sees the
 *   runner go and sends the request to the shard's next owner. So each command is claimed
 *   once in the database before it is sent to the node (its cluster request id, table
 *   `ncp_fleet_deliveries`): a command whose runner died while it was in flight reaches the
 *   new owner, finds its claim, and fails with `ConnectionClosed` (it may or may not have
 *   reached the node) instead of running again. A streaming command does the same: its replies
 *   so far, then `ConnectionClosed`, never a restart.
 * - A runner that stops gracefully (SIGTERM, a rebalance) lets the commands in flight finish
 *   within `entityTerminationTimeout`; past it the caller sees `ConnectionClosed` too.
 * - The node's own keep-alive message (`Entity.keepAlive`) is the cluster's persisted one: it
 *   carries no command, and its re-delivery is what brings a node back on another runner.
 *
 * A caller sees one result per node: the reply, or an error (`ConnectionError`) as on one
 * process; a problem of the cluster itself (a full mailbox, its storage failing) is a
 * `NetworkError` whose detail starts with `cluster:`. Every call has its deadline (`timeout`),
 * which covers the time a message waits for a runner: with no runner up, calls fail with
 * `NetworkTimeout` rather than wait.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-ncp/core"
 * import { NodeCluster } from "@effect-ncp/node/cluster"
 * import { SimulatedNode } from "@effect-ncp/core/testing"
 * import * as Effect from "effect/Effect"
 *
 * // written against Fleet: the edge chooses one process (Fleet.Fleet.layer) or the cluster
 * const program = Effect.map(Fleet.callAll(SimulatedNode.Status), (results) => results.length)
 *
 * const onTheCluster = program.pipe(
 *   Effect.provide(NodeCluster.layerClient({ database: "postgres://ncp@db.example/ncp" }))
 * )
 * ```
 *
 * @module
 * @since 0.1.0
 */
import type * as Sharding from "effect/cluster/Sharding"
import * as TestRunner from "effect/cluster/TestRunner"
import * as Layer from "effect/Layer"
import { type ClusterFleetOptions, layer } from "./clusterFleet/make.js"
import { layerNodes, type NodeOptions } from "./clusterFleet/nodes.js"
import { FleetStorage } from "./clusterFleet/storage.js"
import type * as Fleet from "./Fleet.js"
import type { Transport } from "./Transport.js"

export { handedOver, lostInFlight, notInFleet } from "./clusterFleet/details.js"
export {
  ConnectMessage,
  DisconnectMessage,
  NodeEntity,
  RequestMessage,
  StateMessage,
  StreamMessage
} from "./clusterFleet/entity.js"
export { type ClusterFleetOptions, layer, make } from "./clusterFleet/make.js"
export { layerNodes, type NodeOptions } from "./clusterFleet/nodes.js"
export {
  claimRetention,
  FleetStorage,
  FleetStorageError,
  type FleetStorageService,
  statementTimeout
} from "./clusterFleet/storage.js"
export type { Placement } from "./clusterFleet/wire.js"

/** Options of {@link layerTest}. */
export interface TestOptions {
  /** The runner's options: how it connects to nodes. */
  readonly nodes?: NodeOptions | undefined
  /** The fleet's options. */
  readonly fleet?: ClusterFleetOptions | undefined
}

/**
 * A clustered fleet in one process, for tests: the cluster's test runner (`TestRunner`: real
 * sharding, mailboxes and keep-alive, storage in memory, messages serialized as between
 * processes), the node entities over the `Transport` in context, and the `Fleet` on them.
 * Under `TestClock`, touch the clock once (`TestClock.adjust(0)`) before the first message,
 * and give `nodes` after that with `add` rather than in `options.fleet`: the runner takes its
 * shards on the clock.
 *
 * @example
 * ```ts
 * const TestNodes = ClusterFleet.layerTest().pipe(Layer.provide(SimulatedFleet.layer({ nodes: 5 })))
 * ```
 */
export const layerTest = (
  options: TestOptions = {}
): Layer.Layer<Fleet.Fleet | Sharding.Sharding | FleetStorage, never, Transport> =>
  layer(options.fleet).pipe(
    Layer.provide(layerNodes(options.nodes)),
    Layer.provideMerge(TestRunner.layer),
    Layer.provideMerge(FleetStorage.layerMemory)
  )
