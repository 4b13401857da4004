/**
 * The node's entity and its messages: an NCP node as an entity of Effect Cluster, one per node,
 * and what a caller may ask of it wherever its runner is.
 *
 * @internal
 */
import * as Entity from "effect/cluster/Entity"
import * as Rpc from "effect/rpc/Rpc"
import * as Schema from "effect/Schema"
import { ConnectionErrorFromWire, PlacementSchema, ReplyFieldFromBytes } from "./wire.js"

/** A command's fields: the command as an NCP packet of one field, and its deadline. */
const CommandPayload = {
  /** The command, encoded where it was made (`Encoder.encodePacket`, one field). */
  command: Schema.Uint8Array,
  /** Milliseconds from the start of the command for its reply (each reply, for a stream); `undefined` for none. */
  timeoutMillis: Schema.UndefinedOr(Schema.Number)
}

/** One command to the node; its first reply (acknowledgements skipped), or the node's error. */
export const RequestMessage = Rpc.make("Request", {
  payload: CommandPayload,
  success: ReplyFieldFromBytes,
  error: ConnectionErrorFromWire
})

/**
 * One command to the node, every reply streamed back (acknowledgements skipped) until
 * `replies` replies (when given), the node's error, or its connection's end.
 */
export const StreamMessage = Rpc.make("Stream", {
  payload: { ...CommandPayload, replies: Schema.UndefinedOr(Schema.Number) },
  success: ReplyFieldFromBytes,
  error: ConnectionErrorFromWire,
  stream: true
})

/** The node's state, and the runner holding its connection. */
export const StateMessage = Rpc.make("State", { success: PlacementSchema })

/**
 * The node joins the fleet on the entity's runner: its connection starts, and is kept until
 * {@link DisconnectMessage}. Answered once its first attempt to connect has ended.
 */
export const ConnectMessage = Rpc.make("Connect", { success: PlacementSchema })

/** The node leaves the fleet: its connection closes. `false` when it was not connected. */
export const DisconnectMessage = Rpc.make("Disconnect", { success: Schema.Boolean })

/**
 * An NCP node as a cluster entity: type `NcpNode`, one per node, its id the node's key
 * (`Fleet.nodeKey`: `rfeye000123.local:9999`, `[fe80::1]:9999`).
 *
 * @example
 * ```ts
 * // the entity's own client, for what the Fleet service does not say (where a node is held)
 * const clientFor = yield* ClusterFleet.NodeEntity.client
 * const { runner } = yield* clientFor("rfeye000123.local:9999").State()
 * ```
 */
export const NodeEntity = Entity.make("NcpNode", [
  ConnectMessage,
  DisconnectMessage,
  StateMessage,
  RequestMessage,
  StreamMessage
])
