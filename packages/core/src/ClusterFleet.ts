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
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Entity from "effect/cluster/Entity"
import type * as Sharding from "effect/cluster/Sharding"
import * as TestRunner from "effect/cluster/TestRunner"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as Result from "effect/Result"
import * as Rpc from "effect/rpc/Rpc"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import * as SqlClient from "effect/sql/SqlClient"
import { DecodeError, DecodeErrorReason, EncodeError, EncodeErrorReason } from "./CodecError.js"
import {
  AuthenticationError,
  CommandError,
  ConnectionClosed,
  ConnectionDefect,
  type ConnectionError,
  NetworkError,
  NetworkTimeout,
  NotConnected
} from "./ConnectionError.js"
import * as Decoder from "./Decoder.js"
import * as Encoder from "./Encoder.js"
import * as Fleet from "./Fleet.js"
import * as NcpError from "./NcpError.js"
import type { Transport } from "./Transport.js"

// ---------------------------------------------------------------------------------------------
// What callers are told, once
// ---------------------------------------------------------------------------------------------

/** The detail of a command whose runner was lost while it was in flight: it is not sent again. */
export const lostInFlight =
  "the runner holding the node's connection was lost while the command was in flight; " +
  "it may or may not have reached the node, and was not sent again"

/** The detail of a command still running when its runner stopped and handed the node over. */
export const handedOver =
  "the runner holding the node's connection stopped while the command was in flight; " +
  "it may or may not have reached the node, and was not sent again"

/** The last error of a node that is not in the cluster's fleet. */
export const notInFleet = "not in the cluster's fleet"

// ---------------------------------------------------------------------------------------------
// Wire forms: what crosses between processes
// ---------------------------------------------------------------------------------------------

const isReplyField = (u: unknown): u is Fleet.ReplyField =>
  typeof u === "object" && u !== null && "packetType" in u && "packetId" in u && "params" in u

/**
 * A reply field on the wire: the NCP packet that carried it (its type, id and timestamp, and
 * the field alone), so every value type crosses exactly as the node sent it.
 */
const ReplyFieldFromBytes = Schema.Uint8Array.pipe(
  Schema.decodeTo(
    Schema.declare(isReplyField, { identifier: "ReplyField" }),
    SchemaTransformation.transformEffect({
      decode: (bytes: Uint8Array, options) => {
        const decoded = Decoder.decodePacket(bytes)
        const packet = Result.isSuccess(decoded) ? decoded.success.packet : undefined
        const field = packet?.fields[0]
        return packet === undefined || field === undefined
          ? Effect.fail(
              new SchemaIssue.InvalidValue(
                { message: Result.isFailure(decoded) ? decoded.failure.message : "a reply packet without a field" },
                bytes,
                options
              )
            )
          : Effect.succeed<Fleet.ReplyField>({
              packetType: packet.type,
              packetId: packet.id,
              packetTimestamp: packet.timestamp,
              name: field.name,
              id: field.id,
              params: field.params
            })
      },
      encode: (reply: Fleet.ReplyField, options) => {
        const encoded = Encoder.encodePacket({
          type: reply.packetType,
          id: reply.packetId,
          timestamp: reply.packetTimestamp,
          fields: [{ name: reply.name, id: reply.id, params: reply.params }]
        })
        return Result.isSuccess(encoded)
          ? Effect.succeed(encoded.success)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: encoded.failure.message }, reply, options))
      }
    })
  )
)

const Remote = Schema.optional(Schema.String)
const Where = {
  packetType: Schema.optional(Schema.String),
  field: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String)
}

/** The errors a connection fails with, as plain fields: causes as their text, a field as its packet. */
const LeafErrorWire = Schema.Union([
  Schema.TaggedStruct("NetworkError", { detail: Schema.String, remote: Remote }),
  Schema.TaggedStruct("AuthenticationError", { detail: Schema.String, remote: Remote }),
  Schema.TaggedStruct("NetworkTimeout", {
    seconds: Schema.Number,
    during: Schema.String,
    remote: Remote,
    command: Schema.optional(Schema.String)
  }),
  Schema.TaggedStruct("ConnectionClosed", { detail: Schema.String, remote: Remote }),
  // the error reply itself: `CommandError.fromField` reads it again
  Schema.TaggedStruct("CommandError", { reply: Schema.Uint8Array }),
  Schema.TaggedStruct("ConnectionDefect", { detail: Schema.String, remote: Remote, cause: Schema.String }),
  Schema.TaggedStruct("DecodeError", {
    reason: DecodeErrorReason,
    offset: Schema.Number,
    detail: Schema.String,
    ...Where
  }),
  Schema.TaggedStruct("EncodeError", { reason: EncodeErrorReason, detail: Schema.String, ...Where })
])
type LeafErrorWire = typeof LeafErrorWire.Type

const ErrorWire = Schema.Union([
  ...LeafErrorWire.members,
  Schema.TaggedStruct("NotConnected", {
    state: Schema.Literals(["Connecting", "BackingOff", "Closed"]),
    remote: Remote,
    attempt: Schema.optional(Schema.Number),
    lastError: Schema.optional(LeafErrorWire)
  })
])
type ErrorWire = typeof ErrorWire.Type

const causeText = (cause: unknown): string =>
  typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : String(cause)

const leafToWire = (error: Exclude<ConnectionError, NotConnected>): LeafErrorWire => {
  switch (error._tag) {
    case "NetworkError":
      return { _tag: "NetworkError", detail: error.detail, remote: error.remote }
    case "AuthenticationError":
      return { _tag: "AuthenticationError", detail: error.detail, remote: error.remote }
    case "NetworkTimeout":
      return {
        _tag: "NetworkTimeout",
        seconds: error.seconds,
        during: error.during,
        remote: error.remote,
        command: error.command
      }
    case "ConnectionClosed":
      return { _tag: "ConnectionClosed", detail: error.detail, remote: error.remote }
    case "CommandError": {
      const reply = Encoder.encodePacket({ type: error.packetType, fields: [error.field] })
      return Result.isSuccess(reply)
        ? { _tag: "CommandError", reply: reply.success }
        : { _tag: "NetworkError", detail: error.message, remote: undefined }
    }
    case "ConnectionDefect":
      return { _tag: "ConnectionDefect", detail: error.detail, remote: error.remote, cause: causeText(error.cause) }
    case "DecodeError":
      return {
        _tag: "DecodeError",
        reason: error.reason,
        offset: error.offset,
        detail: error.detail,
        packetType: error.packetType,
        field: error.field,
        param: error.param
      }
    case "EncodeError":
      return {
        _tag: "EncodeError",
        reason: error.reason,
        detail: error.detail,
        packetType: error.packetType,
        field: error.field,
        param: error.param
      }
  }
}

const errorToWire = (error: ConnectionError): ErrorWire =>
  error._tag === "NotConnected"
    ? {
        _tag: "NotConnected",
        state: error.state,
        remote: error.remote,
        attempt: error.attempt,
        // one level is enough: a connection's last error is never itself `NotConnected`
        lastError:
          error.lastError === undefined || error.lastError._tag === "NotConnected"
            ? undefined
            : leafToWire(error.lastError)
      }
    : leafToWire(error)

const leafFromWire = (wire: LeafErrorWire): Exclude<ConnectionError, NotConnected> => {
  switch (wire._tag) {
    case "NetworkError":
      return new NetworkError({ detail: wire.detail, remote: wire.remote })
    case "AuthenticationError":
      return new AuthenticationError({ detail: wire.detail, remote: wire.remote })
    case "NetworkTimeout":
      return new NetworkTimeout({
        seconds: wire.seconds,
        during: wire.during,
        remote: wire.remote,
        command: wire.command
      })
    case "ConnectionClosed":
      return new ConnectionClosed({ detail: wire.detail, remote: wire.remote })
    case "CommandError": {
      const decoded = Decoder.decodePacket(wire.reply)
      if (Result.isFailure(decoded)) return decoded.failure
      const field = decoded.success.packet.fields[0]
      return field === undefined
        ? new NetworkError({ detail: "cluster: an error reply without its field" })
        : CommandError.fromField(decoded.success.packet.type, field)
    }
    case "ConnectionDefect":
      return new ConnectionDefect({ detail: wire.detail, remote: wire.remote, cause: new Error(wire.cause) })
    case "DecodeError":
      return new DecodeError({
        reason: wire.reason,
        offset: wire.offset,
        detail: wire.detail,
        packetType: wire.packetType,
        field: wire.field,
        param: wire.param
      })
    case "EncodeError":
      return new EncodeError({
        reason: wire.reason,
        detail: wire.detail,
        packetType: wire.packetType,
        field: wire.field,
        param: wire.param
      })
  }
}

const errorFromWire = (wire: ErrorWire): ConnectionError =>
  wire._tag === "NotConnected"
    ? new NotConnected({
        state: wire.state,
        remote: wire.remote,
        attempt: wire.attempt,
        lastError: wire.lastError === undefined ? undefined : leafFromWire(wire.lastError)
      })
    : leafFromWire(wire)

const connectionErrorTags: ReadonlySet<string> = new Set<ConnectionError["_tag"]>([
  "NetworkError",
  "AuthenticationError",
  "NetworkTimeout",
  "ConnectionClosed",
  "CommandError",
  "ConnectionDefect",
  "NotConnected",
  "DecodeError",
  "EncodeError"
])

const isConnectionError = (u: unknown): u is ConnectionError =>
  NcpError.isNcpError(u) && connectionErrorTags.has(u._tag)

/** A connection's error on the wire, and back: the same class and fields at the other end. */
const ConnectionErrorFromWire = ErrorWire.pipe(
  Schema.decodeTo(
    Schema.declare(isConnectionError, { identifier: "ConnectionError" }),
    SchemaTransformation.transform({ decode: errorFromWire, encode: errorToWire })
  )
)

/** A node's state on the wire: `Fleet.NodeState`, its last error as a connection error's wire form. */
const NodeStateSchema = Schema.Struct({
  node: Schema.String,
  link: Schema.Literals(["Connecting", "Open", "BackingOff", "Closed", "Removed"]),
  attempt: Schema.UndefinedOr(Schema.Number),
  lastError: Schema.UndefinedOr(ConnectionErrorFromWire),
  timeout: Schema.Number,
  roundTrip: Schema.UndefinedOr(Schema.Number),
  connectedSince: Schema.UndefinedOr(Schema.Number)
})

/** A node's state and where its connection is held: `host:port` of its runner. */
export interface Placement {
  readonly state: Fleet.NodeState
  readonly runner: string
}

const PlacementSchema = Schema.Struct({ state: NodeStateSchema, runner: Schema.String })

// ---------------------------------------------------------------------------------------------
// The entity and its messages
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Storage: the fleet's nodes and the commands' claims
// ---------------------------------------------------------------------------------------------

/** The cluster's database failed; the operation was not done. */
export class FleetStorageError extends Schema.TaggedError<FleetStorageError>()("FleetStorageError", {
  detail: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {
  override get message(): string {
    return this.cause === undefined ? this.detail : `${this.detail}: ${causeText(this.cause)}`
  }
}

/** What the clustered fleet keeps in the cluster's database. */
export interface FleetStorageService {
  /** The fleet's nodes, by key, in the order they were added. */
  readonly nodes: Effect.Effect<ReadonlyArray<string>, FleetStorageError>
  /** Whether `node` is in the fleet. */
  readonly has: (node: string) => Effect.Effect<boolean, FleetStorageError>
  /** Adds `node` to the fleet; `false` when it was in it. */
  readonly add: (node: string) => Effect.Effect<boolean, FleetStorageError>
  /** Removes `node` from the fleet; `false` when it was not in it. */
  readonly remove: (node: string) => Effect.Effect<boolean, FleetStorageError>
  /**
   * Claims a command by its cluster request id, before it is sent to `node`: `true` the first
   * time, `false` when it was claimed before (a re-delivery after its runner was lost).
   */
  readonly claim: (requestId: string, node: string) => Effect.Effect<boolean, FleetStorageError>
}

/** How long a command's claim is kept: far longer than any re-delivery, which follows a failover. */
export const claimRetention: Duration.Duration = Duration.hours(1)

/** Whether a node is in the fleet, asked with the others of the same moment. */
class Membership extends Request.Class<{ readonly node: string }, boolean, FleetStorageError> {}

/** A command's claim, batched with the others of the same moment. */
class Claim extends Request.Class<
  { readonly requestId: string; readonly node: string; readonly sequence: number },
  boolean,
  FleetStorageError
> {}

/** Adds `item` to `set`: whether it was not in it. */
const addNew = (set: Set<string>, item: string): boolean => {
  if (set.has(item)) return false
  set.add(item)
  return true
}

/**
 * The clustered fleet's storage: in the cluster's SQL database ({@link FleetStorage.layerSql},
 * Postgres, beside the cluster's own tables), or in memory for one process
 * ({@link FleetStorage.layerMemory}, with `TestRunner`).
 */
export class FleetStorage extends Context.Service<FleetStorage, FleetStorageService>()(
  "@effect-ncp/core/ClusterFleet/FleetStorage"
) {
  /**
   * Storage in the `SqlClient`'s database (Postgres): tables `ncp_fleet_nodes` and
   * `ncp_fleet_deliveries`, created when missing; claims older than {@link claimRetention}
   * deleted every few minutes.
   */
  static readonly layerSql: Layer.Layer<FleetStorage, FleetStorageError, SqlClient.SqlClient> = Layer.effect(
    FleetStorage,
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      const failed = (detail: string) => (cause: unknown) => new FleetStorageError({ detail, cause })
      // Several runners start at once: a racing CREATE TABLE can fail on the catalog's unique
      // index, and the next try finds the table.
      yield* Effect.all(
        [
          sql`CREATE TABLE IF NOT EXISTS ncp_fleet_nodes (
            node TEXT PRIMARY KEY,
            seq BIGSERIAL NOT NULL,
            added_at TIMESTAMPTZ NOT NULL DEFAULT now()
          )`,
          sql`CREATE TABLE IF NOT EXISTS ncp_fleet_deliveries (
            request_id TEXT PRIMARY KEY,
            node TEXT NOT NULL,
            claimed_at TIMESTAMPTZ NOT NULL DEFAULT now()
          )`
        ],
        { discard: true }
      ).pipe(
        Effect.retry({ times: 5, schedule: Schedule.spaced("200 millis") }),
        Effect.mapError(failed("cannot create the fleet's tables"))
      )
      // A fan-out brings a runner many commands at once: their claims go in one statement.
      let sequence = 0
      const claims = RequestResolver.make<Claim>((entries) => {
        const rows = Arr.map(entries, ({ request }) => ({ request_id: request.requestId, node: request.node }))
        return sql<{ readonly request_id: string }>`INSERT INTO ncp_fleet_deliveries ${sql.insert(rows)}
            ON CONFLICT DO NOTHING RETURNING request_id`.pipe(
          Effect.match({
            onFailure: (cause) => {
              const error = failed("cannot claim commands")(cause)
              for (const entry of entries) entry.completeUnsafe(Exit.fail(error))
            },
            onSuccess: (inserted) => {
              // an id twice in one batch (never in practice) is claimed by its first entry alone
              const fresh = new Set(inserted.map((row) => row.request_id))
              for (const entry of entries) {
                entry.completeUnsafe(Exit.succeed(fresh.delete(entry.request.requestId)))
              }
            }
          })
        )
      })
      // After a failover a runner starts many nodes' entities at once, each asking whether its
      // node is in the fleet: one statement for them all.
      const memberships = RequestResolver.make<Membership>((entries) =>
        sql<{ readonly node: string }>`SELECT node FROM ncp_fleet_nodes WHERE ${sql.in(
          "node",
          entries.map(({ request }) => request.node)
        )}`.pipe(
          Effect.match({
            onFailure: (cause) => {
              const error = failed("cannot read the fleet's nodes")(cause)
              for (const entry of entries) entry.completeUnsafe(Exit.fail(error))
            },
            onSuccess: (rows) => {
              const members = new Set(rows.map((row) => row.node))
              for (const entry of entries) entry.completeUnsafe(Exit.succeed(members.has(entry.request.node)))
            }
          })
        )
      )
      const retention = `${Math.round(Duration.toSeconds(claimRetention))} seconds`
      yield* sql`DELETE FROM ncp_fleet_deliveries WHERE claimed_at < now() - ${retention}::interval`.pipe(
        Effect.andThen(Effect.sleep("5 minutes")),
        Effect.forever,
        Effect.catchCause((cause) => Effect.logWarning("ClusterFleet: cannot delete old claims", cause)),
        Effect.forkScoped
      )
      return FleetStorage.of({
        nodes: sql<{ readonly node: string }>`SELECT node FROM ncp_fleet_nodes ORDER BY seq`.pipe(
          Effect.map((rows) => rows.map((row) => row.node)),
          Effect.mapError(failed("cannot read the fleet's nodes"))
        ),
        has: (node) => Effect.request(new Membership({ node }), memberships),
        add: (node) =>
          sql`INSERT INTO ncp_fleet_nodes (node) VALUES (${node}) ON CONFLICT DO NOTHING RETURNING node`.pipe(
            Effect.map((rows) => rows.length > 0),
            Effect.mapError(failed(`cannot add ${node} to the fleet`))
          ),
        remove: (node) =>
          sql`DELETE FROM ncp_fleet_nodes WHERE node = ${node} RETURNING node`.pipe(
            Effect.map((rows) => rows.length > 0),
            Effect.mapError(failed(`cannot remove ${node} from the fleet`))
          ),
        claim: (requestId, node) =>
          Effect.suspend(() => Effect.request(new Claim({ requestId, node, sequence: sequence++ }), claims))
      })
    })
  )

  /** Storage in this process's memory: for a cluster of one process (`TestRunner`), as in tests. */
  static readonly layerMemory: Layer.Layer<FleetStorage> = Layer.sync(FleetStorage, () => {
    // a Set keeps insertion order: the fleet's order
    const nodes = new Set<string>()
    const claims = new Set<string>()
    return FleetStorage.of({
      nodes: Effect.sync(() => Array.from(nodes)),
      has: (node) => Effect.sync(() => nodes.has(node)),
      add: (node) => Effect.sync(() => addNew(nodes, node)),
      remove: (node) => Effect.sync(() => nodes.delete(node)),
      claim: (requestId) => Effect.sync(() => addNew(claims, requestId))
    })
  })
}

// ---------------------------------------------------------------------------------------------
// The entity's behaviour, on a runner
// ---------------------------------------------------------------------------------------------

/** Options of {@link layerNodes}: how runners connect to nodes. */
export interface NodeOptions {
  /**
   * Every node's connection options on this runner (credentials, TLS, `timeout`, limits,
   * reconnect schedule, ...), as `Fleet`'s `defaults`: a node is its address in the cluster,
   * and the rest is the runners' configuration, the same on each runner.
   */
  readonly defaults?: Partial<Fleet.NodeOptions> | undefined
  /** Probe each connected node for its round trip, as `Fleet`'s `probe`. Default: off. */
  readonly probe?: Fleet.ProbeOptions | undefined
  /**
   * How long the entity of a node that is not in the fleet lives without messages. Nodes of the
   * fleet are kept alive. Default: the cluster's `entityMaxIdleTime` (1 minute).
   */
  readonly maxIdleTime?: Duration.Input | undefined
}

/** The state of a node whose entity holds no connection: not in the fleet. */
const outsideState = (node: string): Fleet.NodeState => ({
  node,
  link: "Closed",
  attempt: undefined,
  lastError: new NetworkError({ detail: notInFleet, remote: node }),
  timeout: 0,
  roundTrip: undefined,
  connectedSince: undefined
})

const notConnectedOutside = (node: string): NotConnected =>
  new NotConnected({ state: "Closed", remote: node, lastError: new NetworkError({ detail: notInFleet, remote: node }) })

/** A deadline of milliseconds on the wire, as a Duration; `undefined` is none. */
const deadlineOf = (millis: number | undefined): Duration.Duration =>
  millis === undefined ? Duration.infinity : Duration.millis(millis)

/** The command a `Request` or `Stream` message carries, as the fleet's request. */
const commandOf = (bytes: Uint8Array): Result.Result<Fleet.Request, ConnectionError> => {
  const decoded = Decoder.decodePacket(bytes)
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
  const field = decoded.success.packet.fields[0]
  return field === undefined
    ? Result.fail(new NetworkError({ detail: "cluster: a command without a field" }))
    : Result.succeed({ packetType: decoded.success.packet.type, fieldName: field.name, params: field.params })
}

/**
 * The entity's behaviour, registered with the runner's `Sharding`: each node's entity holds
 * its connection (a one-node `Fleet` over the runner's `Transport`) while the node is in the
 * fleet, and answers its messages. Provide it on every runner, with the same `defaults`.
 *
 * @example
 * ```ts
 * const Nodes = ClusterFleet.layerNodes({ defaults: { requestTimeout: "10 seconds" } })
 * ```
 */
export const layerNodes = (
  options: NodeOptions = {}
): Layer.Layer<never, never, Sharding.Sharding | FleetStorage | Transport> =>
  NodeEntity.toLayer(
    Effect.gen(function* () {
      const address = yield* Entity.CurrentAddress
      const runnerAddress = yield* Entity.CurrentRunnerAddress
      const storage = yield* FleetStorage
      const scope = yield* Effect.scope
      // keepAlive needs the entity's own services: run it with the build's context from handlers
      const context = yield* Effect.context<Sharding.Sharding | Entity.CurrentAddress>()
      const keepAlive = (enabled: boolean) => Effect.provideContext(Entity.keepAlive(enabled), context)
      const node: string = address.entityId
      const runner = `${runnerAddress.host}:${runnerAddress.port}`
      const parsed = Fleet.parseAddress(node)
      const fleet = yield* Fleet.make({ defaults: options.defaults, probe: options.probe })
      const lock = yield* Semaphore.make(1)
      // the node's first attempt to connect, once it joined; `undefined` while it is outside
      let joined: Fiber.Fiber<string> | undefined

      const join = lock.withPermits(1)(
        Effect.suspend(() => {
          if (joined !== undefined || Result.isFailure(parsed)) return Effect.succeed(joined)
          const { host, port } = parsed.success
          return Effect.forkIn(fleet.add({ host, port }), scope).pipe(
            Effect.tap((fiber) =>
              Effect.sync(() => {
                joined = fiber
              })
            ),
            Effect.tap(() => keepAlive(true))
          )
        })
      )

      const leave = lock.withPermits(1)(
        Effect.suspend(() => {
          const was = joined !== undefined
          joined = undefined
          return fleet.remove(node).pipe(Effect.andThen(keepAlive(false)), Effect.as(was))
        })
      )

      const stateNow = Effect.map(fleet.state, (states) => states[0] ?? outsideState(node))
      const placement = Effect.map(stateNow, (state): Placement => ({ state, runner }))

      // a node of the fleet starts connecting with its entity: after a failover, at once
      const member = yield* Effect.orDie(storage.has(node))
      if (member) yield* join

      /** The command, if it is the first delivery of this request: else it ran on a lost runner. */
      const claimed = (requestId: string, bytes: Uint8Array): Effect.Effect<Fleet.Request, ConnectionError> =>
        Effect.gen(function* () {
          if (joined === undefined) return yield* notConnectedOutside(node)
          const command = yield* Effect.fromResult(commandOf(bytes))
          const first = yield* storage
            .claim(requestId, node)
            .pipe(
              Effect.mapError(
                (error) => new NetworkError({ detail: `cluster: ${error.message}`, remote: node, cause: error })
              )
            )
          if (!first) return yield* new ConnectionClosed({ detail: lostInFlight, remote: node })
          return command
        })

      return NodeEntity.of({
        Connect: () =>
          join.pipe(
            Effect.flatMap((fiber) => (fiber === undefined ? Effect.void : Fiber.join(fiber))),
            Effect.andThen(placement)
          ),
        Disconnect: () => leave,
        State: () =>
          // a node added while its entity ran outside the fleet (a race with another process)
          (joined === undefined
            ? Effect.flatMap(
                Effect.orElseSucceed(storage.has(node), () => false),
                (now) => (now ? Effect.asVoid(join) : Effect.void)
              )
            : Effect.void
          ).pipe(Effect.andThen(placement)),
        Request: (request) =>
          Effect.gen(function* () {
            const command = yield* claimed(String(request.requestId), request.payload.command)
            const answer = yield* Stream.runHead(
              fleet.request(command, { nodes: [node], timeout: deadlineOf(request.payload.timeoutMillis) })
            )
            if (Option.isNone(answer)) return yield* notConnectedOutside(node)
            return yield* Effect.fromResult(answer.value.result)
          }),
        Stream: (request) =>
          Stream.unwrap(
            Effect.map(claimed(String(request.requestId), request.payload.command), (command) =>
              fleet
                .stream(command, {
                  nodes: [node],
                  timeout: deadlineOf(request.payload.timeoutMillis),
                  replies: request.payload.replies
                })
                .pipe(Stream.mapEffect(({ result }) => Effect.fromResult(result)))
            )
          )
      })
    }),
    // a streaming command must not hold up the node's other commands: its connection multiplexes them
    { concurrency: "unbounded", maxIdleTime: options.maxIdleTime }
  )

// ---------------------------------------------------------------------------------------------
// The Fleet service, on the entities
// ---------------------------------------------------------------------------------------------

/** Options of {@link make} and {@link layer}. */
export interface ClusterFleetOptions {
  /**
   * The nodes to start with. With `view: "cluster"` they are added to the cluster's fleet (if
   * not in it), and the service returns once each node's first attempt has ended; with
   * `view: "nodes"` they are the service's nodes, and the cluster's fleet is left as it is.
   */
  readonly nodes?: ReadonlyArray<Fleet.NodeAddress> | undefined
  /**
   * Which nodes the service's `state`, `changes` and fan-outs without `nodes` cover: every
   * node of the cluster's fleet (`"cluster"`, the default), or only `nodes` and those this
   * service adds (`"nodes"`). Either way, `add` and `remove` change the cluster's fleet.
   */
  readonly view?: "cluster" | "nodes" | undefined
  /** The most requests in flight at once in a fan-out, and states asked for at once. Default 256. */
  readonly concurrency?: number | undefined
  /**
   * Each node's deadline, from the moment its request starts (waiting for a runner
   * included). Default 10 seconds; `Duration.infinity` for none.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * How long `state` waits for a node's runner to answer; past it the node's state is
   * `Connecting` with a `NetworkTimeout` (its shard is moving to another runner). Default 5 seconds.
   */
  readonly stateTimeout?: Duration.Input | undefined
  /** How often `changes` asks for every node's state. Default 1 second. */
  readonly changesInterval?: Duration.Input | undefined
  /** How long `add` waits for the node's first attempt to connect, through the cluster. Default 60 seconds. */
  readonly addTimeout?: Duration.Input | undefined
}

const sameError = (a: ConnectionError | undefined, b: ConnectionError | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a._tag === b._tag && a.message === b.message)

const sameState = (a: Fleet.NodeState, b: Fleet.NodeState): boolean =>
  a.link === b.link &&
  a.attempt === b.attempt &&
  a.timeout === b.timeout &&
  a.roundTrip === b.roundTrip &&
  a.connectedSince === b.connectedSince &&
  sameError(a.lastError, b.lastError)

/** What a failed or interrupted call through the cluster tells the caller: a connection's error. */
const errorOfCause = (node: string, cause: Cause.Cause<unknown>): ConnectionError => {
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    return isConnectionError(error)
      ? error
      : new NetworkError({ detail: `cluster: ${causeText(error)}`, remote: node, cause: error })
  }
  // an interrupt that is not the caller's own: the runner stopped and gave the node up
  if (Cause.hasInterruptsOnly(cause)) return new ConnectionClosed({ detail: handedOver, remote: node })
  const defect = Cause.squash(cause)
  return new NetworkError({ detail: `cluster: ${causeText(defect)}`, remote: node, cause: defect })
}

/** Past `deadline`, a `NetworkTimeout` naming the command, as the in-process fleet words it. */
const timedOut = (node: string, deadline: Duration.Duration, request: Fleet.Request | undefined): NetworkTimeout => {
  const command = request === undefined ? undefined : `${request.packetType} ${request.fieldName}`
  return new NetworkTimeout({
    seconds: Duration.toMillis(deadline) / 1000,
    during: command === undefined ? "waiting for the node's runner" : `waiting for a reply to ${command}`,
    remote: node,
    command
  })
}

/**
 * A `Fleet` service on the cluster in context, in the current scope: the same operations as
 * the in-process fleet, each node's handled by its entity on the runner that owns its shard.
 * Needs `Sharding` (a runner's, or a client-only member's) and the cluster's
 * {@link FleetStorage}.
 */
export const make = Effect.fnUntraced(function* (
  options: ClusterFleetOptions = {}
): Effect.fn.Return<Fleet.FleetService, never, Sharding.Sharding | FleetStorage | Scope.Scope> {
  const clientFor = yield* NodeEntity.client
  const storage = yield* FleetStorage
  const view = options.view ?? "cluster"
  const concurrency = options.concurrency ?? Fleet.defaultConcurrency
  const defaultDeadline =
    options.timeout === undefined ? Fleet.defaultTimeout : Duration.fromInputUnsafe(options.timeout)
  const stateTimeout = Duration.fromInputUnsafe(options.stateTimeout ?? "5 seconds")
  const addTimeout = Duration.fromInputUnsafe(options.addTimeout ?? "60 seconds")
  const changesInterval = Duration.fromInputUnsafe(options.changesInterval ?? "1 second")
  // the service's own nodes (view "nodes"), in the order given
  const own = new Set<string>()
  // the cluster's fleet as last read: what the service goes on with while the database is away
  let lastKnown: ReadonlyArray<string> = []
  const closed = yield* Deferred.make<void>()
  yield* Effect.addFinalizer(() => Deferred.succeed(closed, undefined))

  const keys: Effect.Effect<ReadonlyArray<string>> =
    view === "nodes"
      ? Effect.sync(() => Array.from(own))
      : storage.nodes.pipe(
          Effect.tap((nodes) =>
            Effect.sync(() => {
              lastKnown = nodes
            })
          ),
          Effect.catch((error) =>
            Effect.as(Effect.logWarning(`ClusterFleet: ${error.message}; going on with the nodes last read`), lastKnown)
          )
        )

  const unknownState = (node: string, lastError: ConnectionError): Fleet.NodeState => ({
    node,
    link: "Connecting",
    attempt: undefined,
    lastError,
    timeout: 0,
    roundTrip: undefined,
    connectedSince: undefined
  })

  const stateOf = (node: string): Effect.Effect<Fleet.NodeState> =>
    clientFor(node)
      .State()
      .pipe(
        Effect.map((placement) => placement.state),
        Effect.catchCause((cause) => Effect.succeed(unknownState(node, errorOfCause(node, cause)))),
        Effect.timeoutOrElse({
          duration: stateTimeout,
          orElse: () => Effect.succeed(unknownState(node, timedOut(node, stateTimeout, undefined)))
        })
      )

  const state: Effect.Effect<ReadonlyArray<Fleet.NodeState>> = Effect.flatMap(keys, (nodes) =>
    Effect.forEach(nodes, stateOf, { concurrency })
  )

  const add = (node: Fleet.NodeOptions): Effect.Effect<string> =>
    Effect.suspend(() => {
      const key = Fleet.nodeKey(node)
      if (view === "nodes") own.add(key)
      return storage.add(key).pipe(
        Effect.retry({ times: 3, schedule: Schedule.exponential("200 millis") }),
        Effect.andThen(
          clientFor(key)
            .Connect()
            .pipe(
              Effect.timeout(addTimeout),
              Effect.catchCause((cause) =>
                Effect.logWarning(`ClusterFleet: ${key} joined the fleet, but its first attempt was not seen`, cause)
              )
            )
        ),
        Effect.catch((error) => Effect.logError(`ClusterFleet: ${error.message}`)),
        Effect.as(key)
      )
    })

  const remove = (node: string): Effect.Effect<boolean> =>
    Effect.suspend(() => {
      const wasOwn = own.delete(node)
      return storage.remove(node).pipe(
        Effect.retry({ times: 3, schedule: Schedule.exponential("200 millis") }),
        Effect.tap(() =>
          clientFor(node)
            .Disconnect()
            .pipe(
              Effect.timeout(addTimeout),
              Effect.catchCause((cause) =>
                Effect.logWarning(`ClusterFleet: ${node} left the fleet, but its runner did not answer`, cause)
              )
            )
        ),
        Effect.map((removed) => removed || wasOwn),
        Effect.catch((error) => Effect.as(Effect.logError(`ClusterFleet: ${error.message}`), false))
      )
    })

  const deadlineOfOptions = (timeout: Duration.Input | undefined): Duration.Duration =>
    timeout === undefined ? defaultDeadline : Duration.fromInputUnsafe(timeout)

  const millisOf = (deadline: Duration.Duration): number | undefined =>
    Duration.isFinite(deadline) ? Duration.toMillis(deadline) : undefined

  /** The request as the packet the entity's messages carry, or the error every node answers. */
  const encode = (request: Fleet.Request): Result.Result<Uint8Array, EncodeError> =>
    Encoder.encodePacket({
      type: request.packetType,
      fields: [{ name: request.fieldName, id: 0, params: request.params ?? [] }]
    })

  const fanOut = (
    request: Fleet.Request,
    nodes: ReadonlyArray<string> | undefined,
    each: (node: string, command: Uint8Array) => Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>>,
    merge: (
      parts: Stream.Stream<Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>>>
    ) => Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>>
  ): Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>> =>
    Stream.unwrap(
      Effect.map(nodes === undefined ? keys : Effect.succeed(nodes), (nodes) => {
        const encoded = encode(request)
        if (Result.isFailure(encoded)) {
          return Stream.fromIterable(nodes.map((node) => ({ node, result: Result.fail(encoded.failure) })))
        }
        return merge(Stream.fromIterable(nodes.map((node) => each(node, encoded.success))))
      })
    )

  const request = (
    request: Fleet.Request,
    fanOutOptions: Fleet.FanOutOptions = {}
  ): Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>> => {
    const deadline = deadlineOfOptions(fanOutOptions.timeout)
    return fanOut(
      request,
      fanOutOptions.nodes,
      (node, command) =>
        Stream.fromEffect(
          clientFor(node)
            .Request({ command, timeoutMillis: millisOf(deadline) })
            .pipe(
              Effect.map((reply) => Result.succeed(reply)),
              Effect.catchCause((cause) => Effect.succeed(Result.fail(errorOfCause(node, cause)))),
              Effect.timeoutOrElse({
                duration: deadline,
                orElse: () => Effect.succeed(Result.fail(timedOut(node, deadline, request)))
              }),
              Effect.map((result) => ({ node, result }))
            )
        ),
      (parts) =>
        Stream.flatMap(parts, (part) => part, {
          concurrency: fanOutOptions.concurrency ?? concurrency
        })
    )
  }

  const stream = (
    request: Fleet.Request,
    merge: Fleet.StreamOptions = {}
  ): Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>> => {
    const deadline = deadlineOfOptions(merge.timeout)
    return fanOut(
      request,
      merge.nodes,
      (node, command) =>
        clientFor(node)
          .Stream({ command, timeoutMillis: millisOf(deadline), replies: merge.replies })
          .pipe(
            Stream.map(
              (reply): Fleet.NodeResult<Fleet.ReplyField, ConnectionError> => ({
                node,
                result: Result.succeed(reply)
              })
            ),
            Stream.catchCause((cause) => Stream.succeed({ node, result: Result.fail(errorOfCause(node, cause)) })),
            // the runner keeps each reply's deadline; this one also covers waiting for a runner
            Stream.timeoutOrElse({
              duration: deadline,
              orElse: () => Stream.succeed({ node, result: Result.fail(timedOut(node, deadline, request)) })
            })
          ),
      (parts) =>
        Stream.flatMap(parts, (part) => part, {
          concurrency: merge.concurrency ?? "unbounded",
          bufferSize: merge.bufferSize ?? Fleet.defaultBufferSize
        })
    )
  }

  const changes: Stream.Stream<Fleet.NodeState> = Stream.unwrap(
    Effect.sync(() => {
      const last = new Map<string, Fleet.NodeState>()
      const poll = Effect.map(state, (states) => {
        const changed: Array<Fleet.NodeState> = []
        const seen = new Set<string>()
        for (const now of states) {
          seen.add(now.node)
          const before = last.get(now.node)
          if (before === undefined || !sameState(before, now)) changed.push(now)
          last.set(now.node, now)
        }
        for (const [node, before] of last) {
          if (seen.has(node)) continue
          last.delete(node)
          changed.push({ ...before, link: "Removed", attempt: undefined, connectedSince: undefined })
        }
        return changed
      })
      return Stream.fromEffectSchedule(poll, Schedule.spaced(changesInterval)).pipe(
        Stream.flattenIterable,
        Stream.haltWhen(Deferred.await(closed))
      )
    })
  )

  const service: Fleet.FleetService = { state, changes, add, remove, request, stream }

  if (view === "nodes") {
    for (const node of options.nodes ?? []) own.add(Fleet.nodeKey(node))
  } else {
    yield* Effect.forEach(options.nodes ?? [], add, { concurrency: "unbounded", discard: true })
  }
  return service
})

/**
 * A `Fleet.Fleet` on the cluster in context ({@link make}): provide `Sharding` (from
 * `@effect-ncp/node/cluster`, a runner's or a client's) and {@link FleetStorage}.
 *
 * @example
 * ```ts
 * const Nodes = ClusterFleet.layer({ nodes: [{ host: "rfeye000123.local" }], timeout: "5 seconds" })
 * ```
 */
export const layer = (
  options: ClusterFleetOptions = {}
): Layer.Layer<Fleet.Fleet, never, Sharding.Sharding | FleetStorage> => Layer.effect(Fleet.Fleet, make(options))

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
