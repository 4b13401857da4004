/**
 * What every fleet is, in one process or spread over a cluster: its primitive operations
 * (`FleetService`) and the plain data they take and give (node states, untyped requests, reply
 * fields, one result per node), with the options of a fan-out, a merged stream and a fleet, and
 * their defaults.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Result from "effect/Result"
import type * as Stream from "effect/Stream"
import type * as Connection from "../Connection.js"
import type { ConnectionError } from "../ConnectionError.js"
import type * as Field from "../Field.js"
import type * as NcpCommand from "../NcpCommand.js"
import type * as Timestamp from "../Timestamp.js"
import type { NodeOptions } from "./address.js"

/** How a node's link stands: its reconnecting client's state, or `Removed` once it left the fleet. */
export type Link = Connection.ClientState["_tag"] | "Removed"

/**
 * A node's state, as plain data.
 *
 * - `link`: `Connecting` (an attempt is under way), `Open`, `BackingOff` (waiting before the
 *   next attempt), `Closed` (its reconnect schedule gave up), or `Removed` (the last state
 *   `changes` gives of a node removed from the fleet).
 * - `attempt`: the attempt made or waited for, while `Connecting` or `BackingOff`.
 * - `lastError`: the latest error of the node: why its last attempt failed or its last
 *   connection ended, or what the latest of its requests through the fleet failed with (a
 *   deadline passed, an error reply). Kept when the link opens again, until a newer one.
 * - `timeout`: the timeout agreed in the open connection's handshake, else the one asked for
 *   (seconds; 0 for none, and until the node's first attempt has ended).
 * - `roundTrip`: milliseconds from sending the node's latest request through the fleet to its
 *   first reply (keep-alives have no reply to time); `undefined` before the first.
 * - `connectedSince`: when the open connection opened (epoch millis, from the `Clock`);
 *   `undefined` while none is open.
 */
export interface NodeState {
  readonly node: string
  readonly link: Link
  readonly attempt: number | undefined
  readonly lastError: ConnectionError | undefined
  readonly timeout: number
  readonly roundTrip: number | undefined
  readonly connectedSince: number | undefined
}

/** An untyped command for every node: a packet type, a field name and its params. */
export interface Request {
  readonly packetType: string
  readonly fieldName: string
  readonly params?: Field.ParamsInput | undefined
}

/** A reply as plain data: the field, with its packet's type, id and timestamp. */
export interface ReplyField extends Field.Field {
  readonly packetType: string
  readonly packetId: number
  readonly packetTimestamp: Timestamp.Timestamp
}

/**
 * What one node answered: its reply (`Result.Success`), or the error it failed with
 * (`Result.Failure`): the node's `CommandError`, a `NetworkTimeout` past the deadline,
 * `NotConnected` while its link is down, a reply the command's Schema refuses, ...
 */
export interface NodeResult<A, E> {
  readonly node: string
  readonly result: Result.Result<A, E>
}

/** What one node's typed call fails with: the connection's errors and a reply the Schema refuses. */
export type NodeError = ConnectionError | NcpCommand.InvalidReply

/** Options of a fan-out (`request`, {@link call}, {@link requestAll}, {@link callAll}). */
export interface FanOutOptions {
  /** The nodes to ask, by key. Default: every node of the fleet. A key not in the fleet answers `NotConnected`. */
  readonly nodes?: ReadonlyArray<string> | undefined
  /** The most requests in flight at once. Default: the fleet's `concurrency` (256). */
  readonly concurrency?: number | undefined
  /**
   * Each node's deadline, from the moment its request starts (waiting for a connection and
   * sending included): past it, that node's result is a `NetworkTimeout` naming the command.
   * Default: the fleet's `timeout` (10 seconds); `Duration.infinity` for none.
   */
  readonly timeout?: Duration.Input | undefined
}

/** Options of a merged stream (`stream`, {@link stream}). */
export interface StreamOptions {
  /** The nodes to ask, by key. Default: every node of the fleet. */
  readonly nodes?: ReadonlyArray<string> | undefined
  /** The most nodes streaming at once; the others start as those end. Default: all of them. */
  readonly concurrency?: number | undefined
  /**
   * Each node's deadline for each reply (for the first, from the moment its command starts):
   * past it, that node's part ends with a `NetworkTimeout`. Default: the fleet's `timeout`
   * (10 seconds); `Duration.infinity` for none.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * The replies each node's part takes, then it ends (its command's Response is released).
   * Default: every reply, until the node's connection ends or the stream is interrupted (NCP
   * has no end-of-replies marker).
   */
  readonly replies?: number | undefined
  /** Replies held between the nodes and the consumer, in all. Default 16. */
  readonly bufferSize?: number | undefined
}

/** Options of the fleet's probe: a light command every `interval` to each open node, for its round trip. */
export interface ProbeOptions {
  /** How often, e.g. `"30 seconds"`. */
  readonly interval: Duration.Input
  /** The command, `STAT STAT` by default (every RFeye node answers it). */
  readonly packetType?: string | undefined
  readonly fieldName?: string | undefined
}

/** Options of {@link make} and {@link Fleet.layer}. */
export interface FleetOptions {
  /** The nodes to start with. */
  readonly nodes?: ReadonlyArray<NodeOptions> | undefined
  /**
   * Options every node starts from (credentials, TLS, `timeout`, limits, reconnect schedule,
   * ...); each node's own options win. For a large fleet, set the limits here.
   */
  readonly defaults?: Partial<NodeOptions> | undefined
  /** A fan-out's default concurrency. Default 256. */
  readonly concurrency?: number | undefined
  /** A fan-out's default per-node deadline, e.g. `"5 seconds"`. Default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** Probe every open node on an interval for its round trip. Default: off. */
  readonly probe?: ProbeOptions | undefined
}

/** A fan-out's default concurrency. */
export const defaultConcurrency = 256

/** A fan-out's default per-node deadline. */
export const defaultTimeout: Duration.Duration = Duration.seconds(10)

/** Replies a merged stream holds between the nodes and its consumer, by default. */
export const defaultBufferSize = 16

/**
 * The fleet's primitive operations, on plain data; the typed commands ({@link call},
 * {@link stream}, {@link onSchedule}) are built on them.
 */
export interface FleetService {
  /** Every node's state now, in the order the nodes were added. */
  readonly state: Effect.Effect<ReadonlyArray<NodeState>>
  /**
   * Every node's state now, then each change (a removed node's last change is a `Removed`
   * state), until the fleet closes. A subscriber that falls behind misses intermediate states,
   * never a node's latest: it holds at most one pending state per node.
   */
  readonly changes: Stream.Stream<NodeState>
  /**
   * Adds a node (its options over the fleet's `defaults`) and returns its key once its first
   * attempt to connect has ended, open or not. A node already in the fleet is left as it is: to
   * change its options, remove it and add it again.
   */
  readonly add: (node: NodeOptions) => Effect.Effect<string>
  /**
   * Removes a node: its client is closed (connection, fibers, timers; an attempt under way is
   * stopped), its requests in flight fail with `ConnectionClosed`, and `changes` gives its
   * `Removed` state. `false` when it was not in the fleet.
   */
  readonly remove: (node: string) => Effect.Effect<boolean>
  /**
   * Sends `request` to every node (or `options.nodes`) and gives each node's first reply
   * (acknowledgements skipped, unless a node's `autoAckn` is off) or error, as they arrive.
   */
  readonly request: (
    request: Request,
    options?: FanOutOptions
  ) => Stream.Stream<NodeResult<ReplyField, ConnectionError>>
  /**
   * Sends `request` to every node (or `options.nodes`) and gives every reply of every node,
   * acknowledgements skipped, as they arrive: each node's part ends after `options.replies`
   * replies, or with its error (one `Failure`), or when its connection closes.
   */
  readonly stream: (request: Request, options?: StreamOptions) => Stream.Stream<NodeResult<ReplyField, ConnectionError>>
}
