/**
 * A fleet of nodes in one process: every node kept connected, commands fanned out to all of
 * them (or a chosen set), all of them watched. A monitoring backend that talks to tens or
 * thousands of RFeye nodes holds one `Fleet` instead of wiring a reconnecting client per node
 * and writing its own loops, deadlines and error bookkeeping.
 *
 * - **Nodes** are keyed by address, `host:port` as `Client.defaultRemote` names them (an IPv6
 *   address in brackets, `[::1]:9999`), each with its connection options. They are given at
 *   start (a list, or `effect/Config` with {@link layerConfig}) and added or removed while the
 *   fleet runs. Each is a reconnecting client (`Client.connectReconnecting`): it comes back
 *   when the node does, and a removed node's client is closed with everything it held.
 * - **State**: each node's link (`Connecting`, `Open`, `BackingOff`, `Closed`), last error,
 *   agreed timeout, round trip and connected-since, as plain data ({@link NodeState}): a
 *   snapshot (`state`) or a Stream of changes (`changes`).
 * - **Fan-out**: a command to every node (or `nodes`), at most `concurrency` at once, each node
 *   within its own deadline (`timeout`), answered with one {@link NodeResult} per node: the
 *   reply or the node's typed error, never one node's failure failing the whole. In the order
 *   they arrive (`request`, {@link call}) or all at once, in the nodes' order
 *   ({@link requestAll}, {@link callAll}).
 * - **Merged streams**: a streaming command (sweeps with `REPT`) on many nodes as one Stream of
 *   replies tagged with their node (`stream`, {@link stream}), backpressured per node: a slow
 *   consumer slows the nodes (their connections stop being read), not memory.
 * - **Schedules**: a command on every node on an `effect/Schedule` ({@link onSchedule}), a node
 *   that is down or still busy with the previous round skipped without stalling the rest.
 *
 * **Round trip.** NCP keep-alives carry no reply, so they measure nothing: a node's
 * `roundTrip` is that of its latest request made through the fleet (from sending to the first
 * reply, an error reply included). A fleet that makes no requests of its own can `probe`
 * every node with a light command (`STAT` by default) on an interval; it is off by default.
 *
 * **Bounds.** One connection per node, and nothing else per node but its state and one fiber
 * watching it: an idle node costs its reconnecting client (about 60 KB of live heap,
 * `npm run bench:fleet`). What a busy node may hold is its connection's limits (`Limits`,
 * client side: `maxBufferedBytes` of replies not yet taken, `maxWriteBufferBytes` of commands
 * not yet written), so the fleet in all holds at most the number of nodes times those, plus
 * one result per node for the all-at-once forms; set them in `defaults` for a large fleet
 * (the client's 64 MiB default is sized for one node's largest capture). A change subscriber
 * holds at most one pending state per node. A fan-out keeps at most `concurrency` requests in
 * flight; a merged stream `bufferSize` replies between the nodes and its consumer.
 *
 * The service's operations take and return plain data (a {@link Request}, {@link NodeResult}s
 * of {@link ReplyField}s and the library's tagged errors, {@link NodeState}s); typed commands
 * are layered on top with the command's Schemas ({@link call}, {@link stream},
 * {@link onSchedule}), so another implementation of the service (nodes spread over several
 * processes) needs only the primitives.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-ncp/core"
 * import { NodeTransport } from "@effect-ncp/node"
 * import { SimulatedNode } from "@effect-ncp/core/testing"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Result from "effect/Result"
 *
 * const Nodes = Fleet.Fleet.layer({
 *   nodes: [{ host: "rfeye000123.local" }, { host: "rfeye000124.local" }],
 *   timeout: "5 seconds"
 * }).pipe(Layer.provide(NodeTransport.layer))
 *
 * const program = Effect.gen(function* () {
 *   for (const { node, result } of yield* Fleet.callAll(SimulatedNode.Status)) {
 *     console.log(node, Result.isSuccess(result) ? result.success.STAT : result.failure.message)
 *   }
 * }).pipe(Effect.provide(Nodes))
 * ```
 *
 * @module
 * @since 0.1.0
 */
export type { NodeAddress, NodeOptions } from "./fleet/address.js"
export { NodeAddressFromString, nodeKey, parseAddress, parsePort } from "./fleet/address.js"
export { call, callAll, decodeResult, onSchedule, requestAll, stream, toRequest } from "./fleet/commands.js"
export { Fleet, layerConfig } from "./fleet/layer.js"
export { make } from "./fleet/make.js"
export type {
  FanOutOptions,
  FleetOptions,
  FleetService,
  Link,
  NodeError,
  NodeResult,
  NodeState,
  ProbeOptions,
  ReplyField,
  Request,
  StreamOptions
} from "./fleet/service.js"
export { defaultBufferSize, defaultConcurrency, defaultTimeout } from "./fleet/service.js"
