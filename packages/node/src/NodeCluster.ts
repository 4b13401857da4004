/**
 * The clustered fleet on Node (`@effect-ncp/core/cluster`'s `ClusterFleet`): runner processes
 * that hold the nodes' connections ({@link layerRunner}), and clients that use them through
 * the `Fleet` service ({@link layerClient}), over Effect Cluster's TCP transport
 * (`@effect/platform-node`'s `NodeClusterSocket`) with the cluster's storage in Postgres
 * (`@effect/sql-pg`).
 *
 * - **Runners** listen for the other members (`listen`), tell them where to reach them
 *   (`address`), take their share of the shards and connect to the nodes in them. Any number
 *   may run; when one stops or dies, the others take its shards, and its nodes reconnect there.
 * - **Clients** hold no shards: they send each node's messages to the runner that owns it.
 *   A runner can be a client too (`ClusterFleet.layer` on top of {@link layerRunner}).
 * - **Postgres** holds the runners' list, the shard locks (advisory locks), the cluster's
 *   persisted messages and the fleet's tables (`ClusterFleet.FleetStorage`); every member
 *   connects to it.
 *
 * The cluster's settings ({@link shardingDefaults}) are tuned for a fleet: a runner that dies
 * is found by the health check within about 3 s, and its nodes answer again on the others
 * within about 5 s (`npm run bench:cluster` measures it). `shardsPerGroup` must be the same on
 * every runner and client. The settings never come from the environment's `HOST` or `PORT`
 * (which Effect Cluster's own `ShardingConfig.layerFromEnv` would read): every member is given
 * its settings whole.
 *
 * The Postgres driver is an optional peer dependency of `@effect-ncp/node`, for this entry
 * point alone: install `@effect/sql-pg` (the version for your `effect`: 4.0.5 for effect 4.1.0).
 *
 * @example
 * ```ts
 * import { NodeCluster } from "@effect-ncp/node/cluster"
 * import * as Layer from "effect/Layer"
 *
 * // a runner process: connects to the nodes of its shards until stopped
 * const runner = NodeCluster.layerRunner({
 *   database: "postgres://ncp@db.example/ncp",
 *   address: { host: "runner-1.example", port: 34431 },
 *   listen: { host: "0.0.0.0", port: 34431 }
 * })
 * Layer.launch(runner) // with NodeRuntime.runMain
 * ```
 *
 * @module
 * @since 0.1.0
 */
import { hostname } from "node:os"
import * as NodeClusterSocket from "@effect/platform-node/NodeClusterSocket"
import * as NodeCrypto from "@effect/platform-node/NodeCrypto"
import * as PgClient from "@effect/sql-pg/PgClient"
import { Fleet, Limits } from "@effect-ncp/core"
import { ClusterFleet } from "@effect-ncp/core/cluster"
import * as Config from "effect/Config"
import type * as MessageStorage from "effect/cluster/MessageStorage"
import * as RunnerAddress from "effect/cluster/RunnerAddress"
import * as RunnerHealth from "effect/cluster/RunnerHealth"
import * as Runners from "effect/cluster/Runners"
import type * as Sharding from "effect/cluster/Sharding"
import * as ShardingConfig from "effect/cluster/ShardingConfig"
import * as SocketRunner from "effect/cluster/SocketRunner"
import * as SqlMessageStorage from "effect/cluster/SqlMessageStorage"
import * as SqlRunnerStorage from "effect/cluster/SqlRunnerStorage"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as RpcSerialization from "effect/rpc/RpcSerialization"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import type * as SocketServer from "effect/socket/SocketServer"
import * as SqlClient from "effect/sql/SqlClient"
import type * as SqlError from "effect/sql/SqlError"
import * as NodeTransport from "./NodeTransport.js"

/** Where a runner listens, or is reached: a host and a port. */
export interface Address {
  readonly host: string
  readonly port: number
}

/**
 * The cluster's settings this module starts from, over Effect Cluster's defaults (in
 * parentheses), for a fleet of a few hundred to a few thousand nodes:
 *
 * - `shardsPerGroup` 120 (300): fewer shards move at once when a runner joins, so their
 *   locks are released in time even on a loaded machine; enough to spread a fleet over
 *   several runners.
 * - `shardLockExpiration` 6 s (35 s) and `shardLockRefreshInterval` 2 s (10 s): a runner that
 *   vanished without a health check noticing (it hosted the check) loses its shards after 6 s.
 * - `runnerHealthCheckInterval` 1 s (1 minute): a runner that stops answering pings is marked
 *   unhealthy within about 3 s, and its shards move.
 * - `refreshAssignmentsInterval` 1 s (3 s): how soon every member sees a move.
 * - `entityMessagePollInterval` 1 s (10 s): how soon a moved node's keep-alive brings it back.
 * - `entityTerminationTimeout` 5 s (15 s): how long a runner that stops lets commands in
 *   flight finish.
 */
export const shardingDefaults: Partial<ShardingConfig.ShardingConfig["Service"]> = {
  shardsPerGroup: 120,
  shardLockExpiration: Duration.seconds(6),
  shardLockRefreshInterval: Duration.seconds(2),
  refreshAssignmentsInterval: Duration.seconds(1),
  runnerHealthCheckInterval: Duration.seconds(1),
  entityMessagePollInterval: Duration.seconds(1),
  entityTerminationTimeout: Duration.seconds(5)
}

/** The Effect Cluster port, where a runner listens when not told: 34431. */
export const defaultPort = 34431

/** What every member of the cluster is given. */
export interface ClusterOptions {
  /** The cluster's Postgres, as a URL: `postgres://user:password@host:port/database`. */
  readonly database: string | Redacted.Redacted<string>
  /** Connections this process keeps to Postgres. Default 10 for a runner, 4 for a client. */
  readonly databaseConnections?: number | undefined
  /**
   * The cluster's settings over {@link shardingDefaults}; `shardsPerGroup` must be the same on
   * every member.
   */
  readonly sharding?: Partial<ShardingConfig.ShardingConfig["Service"]> | undefined
}

/** Options of {@link layerRunner}. */
export interface RunnerOptions extends ClusterOptions {
  /** Where the other members reach this runner: a host name or address they can resolve, and the port. */
  readonly address: Address
  /** Where it listens. Default: `address`. */
  readonly listen?: Address | undefined
  /** How it connects to its nodes: the same on every runner. */
  readonly nodes?: ClusterFleet.NodeOptions | undefined
  /** Nodes added to the cluster's fleet when the runner starts (those already in it stay as they are). */
  readonly fleet?: ReadonlyArray<Fleet.NodeAddress> | undefined
}

/** Options of {@link layerClient}: the cluster's, and the fleet service's. */
export interface ClientOptions extends ClusterOptions, ClusterFleet.ClusterFleetOptions {}

const databaseLayer = (options: ClusterOptions) =>
  PgClient.layer({
    url: typeof options.database === "string" ? Redacted.make(options.database) : options.database,
    maxConnections: options.databaseConnections ?? 10,
    applicationName: "effect-ncp"
  })

// A reply as large as a client takes from a node must fit one frame between members.
const maxFrameSize = Limits.client.maxPacketBytes + 1024 * 1024

/**
 * The cluster's services over its TCP transport and Postgres storage: what
 * `NodeClusterSocket.layer` composes with `storage: "sql"`, without its Kubernetes health check
 * (and the HTTP client that comes with it), and with the settings given whole: Effect
 * Cluster's `ShardingConfig.layerFromEnv` would read `HOST` and `PORT` from the environment.
 */
const withStorage = <A, E, R>(
  members: Layer.Layer<A, E, R>,
  settings: Partial<ShardingConfig.ShardingConfig["Service"]>
) =>
  members.pipe(
    Layer.provideMerge(SqlMessageStorage.layer.pipe(Layer.provide(NodeCrypto.layerDigest))),
    Layer.provide(SqlRunnerStorage.layer),
    Layer.provide(ShardingConfig.layer({ ...shardingDefaults, ...settings })),
    Layer.provide(RpcSerialization.layerSchemaBinary({ maxFrameSize }))
  )

/** A runner's cluster services: it serves the other members, and checks their health. */
const runnerCluster = (settings: Partial<ShardingConfig.ShardingConfig["Service"]>) =>
  withStorage(
    SocketRunner.layer.pipe(
      Layer.provide([NodeClusterSocket.layerSocketServer, NodeClusterSocket.layerClientProtocol]),
      Layer.provide(
        RunnerHealth.layerPing.pipe(
          Layer.provide(Runners.layerRpc),
          Layer.provide(NodeClusterSocket.layerClientProtocol)
        )
      )
    ),
    settings
  )

/** A client's cluster services: it sends to the runners. */
const clientCluster = (settings: Partial<ShardingConfig.ShardingConfig["Service"]>) =>
  withStorage(SocketRunner.layerClientOnly.pipe(Layer.provide(NodeClusterSocket.layerClientProtocol)), settings)

/** The cluster's shards per group do not agree with this member's. */
export class ShardsMismatch extends Schema.TaggedError<ShardsMismatch>()("ShardsMismatch", {
  cluster: Schema.Number,
  runner: Schema.Number
}) {
  override get message(): string {
    return (
      `the cluster runs with ${this.cluster} shards per group, this runner was given ${this.runner}: ` +
      "every member must agree (stop every runner to change it)"
    )
  }
}

/**
 * The shards per group the cluster runs with, as its first runner recorded them (table
 * `ncp_fleet_settings`): a runner records its own when none is, and fails with
 * {@link ShardsMismatch} when they differ; a client takes the cluster's (its own when no runner
 * has run), so that it never routes a node to the wrong shard.
 */
const agreedShards = (
  wanted: number,
  role: "runner" | "client"
): Effect.Effect<number, SqlError.SqlError | ShardsMismatch, SqlClient.SqlClient> =>
  Effect.gen(function* () {
    const sql = yield* SqlClient.SqlClient
    const read = Effect.map(
      sql<{ readonly value: string }>`SELECT value FROM ncp_fleet_settings WHERE name = 'shards_per_group'`,
      (rows) => (rows[0] === undefined ? undefined : Number(rows[0].value))
    )
    if (role === "client") return (yield* Effect.orElseSucceed(read, () => undefined)) ?? wanted
    yield* sql`CREATE TABLE IF NOT EXISTS ncp_fleet_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)`.pipe(
      // several runners starting at once: the loser of the race finds the table
      Effect.retry({ times: 5, schedule: Schedule.spaced("200 millis") })
    )
    yield* sql`INSERT INTO ncp_fleet_settings (name, value) VALUES ('shards_per_group', ${String(wanted)})
               ON CONFLICT DO NOTHING`
    const cluster = (yield* read) ?? wanted
    if (cluster !== wanted) return yield* new ShardsMismatch({ cluster, runner: wanted })
    return cluster
  })

const shardsWanted = (options: ClusterOptions): number =>
  options.sharding?.shardsPerGroup ?? shardingDefaults.shardsPerGroup ?? ShardingConfig.defaults.shardsPerGroup

/** What a runner provides ({@link layerRunner}), and how starting one can fail. */
export type RunnerLayer = Layer.Layer<
  Sharding.Sharding | Runners.Runners | MessageStorage.MessageStorage | ClusterFleet.FleetStorage,
  | SqlError.SqlError
  | ClusterFleet.FleetStorageError
  | SocketServer.SocketServerError
  | Config.ConfigError
  | ShardsMismatch
>

/** What a client provides ({@link layerClient}), and how starting one can fail. */
export type ClientLayer = Layer.Layer<
  Fleet.Fleet | Sharding.Sharding | ClusterFleet.FleetStorage,
  SqlError.SqlError | ClusterFleet.FleetStorageError | Config.ConfigError | ShardsMismatch
>

/**
 * A runner: its part of the cluster's shards, the nodes' entities in them
 * (`ClusterFleet.layerNodes`, over Node's TCP and TLS transport), and the cluster's services
 * (`Sharding`, to add a `ClusterFleet.layer` on top). Runs until its scope closes: then it
 * lets the commands in flight finish (`entityTerminationTimeout`), closes its nodes'
 * connections and hands its shards over.
 */
export const layerRunner = (options: RunnerOptions): RunnerLayer => {
  const sharding = Layer.unwrap(
    Effect.map(agreedShards(shardsWanted(options), "runner"), (shardsPerGroup) =>
      runnerCluster({
        ...options.sharding,
        shardsPerGroup,
        runnerAddress: Option.some(RunnerAddress.make(options.address.host, options.address.port)),
        runnerListenAddress:
          options.listen === undefined
            ? Option.none()
            : Option.some(RunnerAddress.make(options.listen.host, options.listen.port))
      })
    )
  )
  const joining =
    options.fleet === undefined || options.fleet.length === 0
      ? Layer.empty
      : // in the background: the runner serves its shards while the nodes are added
        Layer.effectDiscard(
          ClusterFleet.make({ view: "nodes" }).pipe(
            Effect.flatMap((fleet) =>
              Effect.forEach(options.fleet ?? [], fleet.add, { concurrency: 16, discard: true })
            ),
            Effect.scoped,
            Effect.forkScoped
          )
        )
  return Layer.mergeAll(ClusterFleet.layerNodes(options.nodes), joining).pipe(
    Layer.provide(NodeTransport.layer),
    Layer.provideMerge(sharding),
    Layer.provideMerge(ClusterFleet.FleetStorage.layerSql),
    Layer.provide(databaseLayer(options))
  )
}

/**
 * A client of the cluster: the `Fleet` service on its runners (`ClusterFleet.layer` with
 * `options`), and the cluster's `Sharding`. Holds no shards and no node connections; takes the
 * cluster's shards per group from its database.
 *
 * @example
 * ```ts
 * const Nodes = NodeCluster.layerClient({
 *   database: "postgres://ncp@db.example/ncp",
 *   nodes: [{ host: "rfeye000123.local" }, { host: "rfeye000124.local" }]
 * })
 * ```
 */
export const layerClient = (options: ClientOptions): ClientLayer => {
  const sharding = Layer.unwrap(
    Effect.map(agreedShards(shardsWanted(options), "client"), (shardsPerGroup) =>
      clientCluster({
        ...options.sharding,
        shardsPerGroup,
        runnerAddress: Option.none(),
        runnerListenAddress: Option.none()
      })
    )
  )
  return ClusterFleet.layer(options).pipe(
    Layer.provideMerge(sharding),
    Layer.provideMerge(ClusterFleet.FleetStorage.layerSql),
    Layer.provide(databaseLayer({ ...options, databaseConnections: options.databaseConnections ?? 4 }))
  )
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/** A runner's `HOST:PORT` (an IPv6 host in brackets: `[::1]:34431`), the port required; or what is wrong. */
export const parseAddress = (text: string): Address | string => {
  const parsed = Fleet.parseAddress(text.trim())
  if (Result.isFailure(parsed)) return parsed.failure
  const { host, port } = parsed.success
  return port === undefined ? `"${text}" has no port: HOST:PORT` : { host, port }
}

/** A runner's `HOST:PORT` in configuration. */
const AddressFromString = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Struct({ host: Schema.String, port: Schema.Number }),
    SchemaTransformation.transformEffect({
      decode: (text: string, options) => {
        const parsed = parseAddress(text)
        return typeof parsed === "string"
          ? Effect.fail(new SchemaIssue.InvalidValue({ message: parsed }, text, options))
          : Effect.succeed(parsed)
      },
      encode: (address: Address) => Effect.succeed(Fleet.nodeKey(address))
    })
  )
)

/**
 * How other members reach a runner listening on `listen`: at `listen` itself, unless it listens
 * on every interface (`0.0.0.0`, `::`), then at this machine's name.
 */
export const advertised = (listen: Address): Address =>
  listen.host === "0.0.0.0" || listen.host === "::" ? { host: hostname(), port: listen.port } : listen

/**
 * The cluster's settings from the environment (`effect/Config`), as `ncp runner` reads them
 * when its flags are not given:
 *
 * - `NCP_CLUSTER`: the cluster's Postgres URL (required);
 * - `NCP_RUNNER_LISTEN`: `HOST:PORT` a runner listens on (default `0.0.0.0:34431`);
 * - `NCP_RUNNER_ADDRESS`: `HOST:PORT` the other members reach it at (default: the listen
 *   address, this machine's name when it listens on every interface: {@link advertised});
 * - `NCP_CLUSTER_SHARDS`: shards per group (default {@link shardingDefaults}' 120), agreed by
 *   every runner; clients take the cluster's.
 */
export const config = {
  database: Config.Redacted("NCP_CLUSTER"),
  listen: Config.schema(AddressFromString, "NCP_RUNNER_LISTEN").pipe(
    Config.withDefault({ host: "0.0.0.0", port: defaultPort })
  ),
  address: Config.schema(AddressFromString, "NCP_RUNNER_ADDRESS"),
  shards: Config.Int("NCP_CLUSTER_SHARDS").pipe(Config.withDefault(shardsWanted({ database: "" })))
} as const

/**
 * A runner from the environment ({@link config}), with `options` for the rest.
 *
 * @example
 * ```ts
 * // NCP_CLUSTER=postgres://ncp@db.example/ncp NCP_RUNNER_LISTEN=0.0.0.0:34431
 * const runner = NodeCluster.layerRunnerConfig({ nodes: { defaults: { requestTimeout: "10 seconds" } } })
 * ```
 */
export const layerRunnerConfig = (options: Omit<RunnerOptions, "database" | "address" | "listen"> = {}): RunnerLayer =>
  Layer.unwrap(
    Effect.map(
      Config.all({
        database: config.database,
        listen: config.listen,
        address: Config.option(config.address),
        shards: config.shards
      }),
      ({ database, listen, address, shards }) =>
        layerRunner({
          ...options,
          database,
          listen,
          address: Option.getOrElse(address, () => advertised(listen)),
          sharding: { ...options.sharding, shardsPerGroup: shards }
        })
    )
  )

/** A client from the environment (`NCP_CLUSTER`: {@link config}), with `options` for the rest. */
export const layerClientConfig = (options: Omit<ClientOptions, "database"> = {}): ClientLayer =>
  Layer.unwrap(Effect.map(config.database, (database) => layerClient({ ...options, database })))
