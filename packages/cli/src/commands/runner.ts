/**
 * `ncp runner --cluster URL`: runs a runner of a clustered fleet (`@effect-ncp/node/cluster`):
 * a process that takes its share of the cluster's shards and holds the connections of the nodes
 * in them, until stopped. Start one on each machine (or several on one); when one stops or
 * dies, the others take its nodes. The fleet commands reach the nodes through the runners with
 * `--cluster URL` (`ncp status --cluster URL --nodes ...`).
 *
 * - `--cluster URL`: the cluster's Postgres (`postgres://user:password@host:port/db`); every
 *   runner and client of a cluster names the same one.
 * - `--listen HOST:PORT`: where the runner listens for the other members (default
 *   `0.0.0.0:34431`); `--address HOST:PORT`: where they reach it (default: the listen address,
 *   this machine's name when it listens on every interface).
 * - `--shards N`: shards per group (default 120), agreed by every runner of the cluster.
 * - `--nodes A,B,...`, `--nodes-file F`: nodes added to the cluster's fleet when it starts.
 * - The connection flags (`--tls`, `--user`, `--password`, `--timeout`) apply to every node
 *   this runner connects to: give every runner the same.
 * - `--metrics HOST:PORT` serves Prometheus' `/metrics` (the connections' and the cluster's
 *   metrics); `--otlp URL` exports to a collector.
 *
 * Each flag but the connection flags falls back to an environment variable: `NCP_CLUSTER`,
 * `NCP_RUNNER_LISTEN`, `NCP_RUNNER_ADDRESS`, `NCP_CLUSTER_SHARDS`.
 *
 * Output: `runner HOST:PORT listening on HOST:PORT` once it has joined the cluster, then
 * `holding N shard(s), M node(s)` whenever that changes. Stopped (SIGINT, SIGTERM), it lets the
 * commands in flight finish (5 s at most), hands its shards over, prints `stopped` and exits 0.
 *
 * @since 0.1.0
 */
import { Fleet } from "@effect-ncp/core"
import { NodeObservability } from "@effect-ncp/node"
import type { NodeCluster } from "@effect-ncp/node/cluster"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Address from "../Address.js"
import * as Nodes from "./nodes.js"
import {
  type ConnectionOptions,
  connectionFlags,
  metricsFlag,
  otlpLayer,
  toConnectionOptions,
  validateConnection
} from "./options.js"
import { shutdown } from "./serve.js"
import * as Session from "./session.js"

/**
 * What `ncp runner` was asked to do. What the flags leave out comes from the environment, as
 * `NodeCluster.config` reads it.
 */
export interface RunnerOptions {
  readonly cluster: Redacted.Redacted<string> | undefined
  readonly listen: NodeCluster.Address | undefined
  readonly address: NodeCluster.Address | undefined
  readonly shards: number | undefined
  /** Nodes to add to the cluster's fleet at start. */
  readonly nodes: Nodes.Nodes | undefined
  /** The connection flags, for every node (host and port unused). */
  readonly connection: ConnectionOptions
  /** `--metrics HOST:PORT`: serve Prometheus' `/metrics` there. */
  readonly metrics: Address.Address | undefined
}

const runnerAddress = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withMetavar("HOST:PORT"),
    Flag.withDescription(description),
    Flag.mapTryCatch(
      (text): NodeCluster.Address => {
        const parsed = Address.parseAddress(text)
        if (Result.isFailure(parsed)) throw new Error(parsed.failure)
        if (parsed.success.port === undefined) throw new Error(`"${text}" has no port: HOST:PORT`)
        return { host: parsed.success.host, port: parsed.success.port }
      },
      (error) => (error instanceof Error ? error.message : String(error))
    ),
    Flag.optional
  )

/** The `runner` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: RunnerOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "runner",
    {
      cluster: Flag.Redacted("cluster").pipe(
        Flag.withMetavar("URL"),
        Flag.withDescription("The cluster's Postgres: postgres://user:password@host:port/database (env NCP_CLUSTER)"),
        Flag.optional
      ),
      listen: runnerAddress(
        "listen",
        "Where to listen for the cluster's other members (env NCP_RUNNER_LISTEN; default 0.0.0.0:34431)"
      ),
      address: runnerAddress(
        "address",
        "Where the other members reach this runner (env NCP_RUNNER_ADDRESS; default the listen address)"
      ),
      shards: Flag.Int("shards").pipe(
        Flag.withMetavar("N"),
        Flag.withDescription("Shards per group, the same on every runner (env NCP_CLUSTER_SHARDS; default 120)"),
        Flag.filter(
          (n) => n >= 1 && n <= 100_000,
          () => "a whole number from 1 to 100000"
        ),
        Flag.optional
      ),
      nodes: Nodes.nodesFlags.nodes,
      nodesFile: Nodes.nodesFlags.nodesFile,
      ...connectionFlags,
      metrics: metricsFlag
    },
    (input) =>
      run({
        cluster: Option.getOrUndefined(input.cluster),
        listen: Option.getOrUndefined(input.listen),
        address: Option.getOrUndefined(input.address),
        shards: Option.getOrUndefined(input.shards),
        nodes: Nodes.toNodes({ nodes: input.nodes, nodesFile: input.nodesFile }),
        connection: toConnectionOptions({ host: "", port: undefined }, input),
        metrics: Option.getOrUndefined(input.metrics)
      })
  ).pipe(
    Command.validate((input) => validateConnection(input)),
    Command.withDescription("Run a runner of a clustered fleet: hold the connections of the nodes of its shards"),
    Command.withExamples([
      {
        command: "ncp runner --cluster postgres://ncp@db/ncp --listen 0.0.0.0:34431",
        description: "A runner on this machine, reached at its host name"
      },
      {
        command: "ncp runner --cluster postgres://ncp@db/ncp --listen 127.0.0.1:34432 --nodes-file nodes.txt",
        description: "A second runner on the same machine, adding the nodes of a file to the fleet"
      }
    ])
  )

/** Every gauge of `metric` now, summed over its attribute sets. */
const gaugeNow = (id: string, attributes: Readonly<Record<string, string>> = {}) =>
  Effect.map(Metric.snapshot, (snapshots) =>
    snapshots
      .filter(
        (snapshot) =>
          snapshot.id === id &&
          Object.entries(attributes).every(([name, value]) => snapshot.attributes?.[name] === value)
      )
      .reduce((sum, snapshot) => {
        const state = snapshot.state as { readonly value?: unknown }
        return sum + Number(state.value ?? 0)
      }, 0)
  )

/** A flag's value, else its environment variable's (`NodeCluster.config`): a bad one is the command's failure. */
const orEnvironment = <A>(flag: A | undefined, config: Config.Config<A>) =>
  flag === undefined
    ? Effect.catch(config, (error) => Session.fail("runner", `bad environment: ${error.message}`))
    : Effect.succeed(flag)

/** Runs `ncp runner`. */
export const run = Effect.fnUntraced(function* (options: RunnerOptions) {
  // loaded when asked for: the cluster's code is not what the other commands start with
  const { NodeCluster } = yield* Effect.promise(() => import("@effect-ncp/node/cluster"))
  const ClusterMetrics = yield* Effect.promise(() => import("effect/cluster/ClusterMetrics"))
  const database =
    options.cluster ??
    Option.getOrUndefined(yield* orEnvironment(undefined, Config.option(NodeCluster.config.database)))
  if (database === undefined) {
    return yield* Session.fail("runner", "give the cluster's Postgres with --cluster URL (or NCP_CLUSTER)")
  }
  const listen = yield* orEnvironment(options.listen, NodeCluster.config.listen)
  const shards = yield* orEnvironment(options.shards, NodeCluster.config.shards)
  const address =
    options.address ??
    Option.getOrElse(yield* orEnvironment(undefined, Config.option(NodeCluster.config.address)), () =>
      NodeCluster.advertised(listen)
    )
  const addresses = options.nodes === undefined ? [] : yield* Nodes.resolveNodes("runner", options.nodes)
  const { host: _host, port: _port, ...defaults } = Session.clientOptions(options.connection)
  const runner = NodeCluster.layerRunner({
    database,
    address,
    listen,
    sharding: { shardsPerGroup: shards },
    nodes: { defaults },
    fleet: addresses
  })
  // an IPv6 host in brackets, as everywhere: [::1]:34431
  const named = Fleet.nodeKey(address)
  const running = Effect.gen(function* () {
    yield* Layer.build(runner).pipe(
      Effect.catch((error) =>
        Session.fail("runner", `cannot start the runner ${named}: ${error.message}`, { tag: error._tag })
      )
    )
    yield* Console.log(`runner ${named} listening on ${Fleet.nodeKey(listen)}`)
    if (options.metrics !== undefined) {
      const metrics = options.metrics
      const endpoint = yield* Layer.build(
        NodeObservability.layerPrometheus({ host: metrics.host, port: metrics.port ?? 0 })
      ).pipe(
        Effect.map((context) => Context.get(context, NodeObservability.MetricsEndpoint)),
        Effect.catch((error) =>
          Session.fail("runner", `cannot serve metrics on ${metrics.host}:${metrics.port}: ${error.message}`)
        )
      )
      yield* Console.log(`metrics on ${endpoint.url}`)
    }
    // what it holds, whenever that changes: the cluster's own gauges
    let last = ""
    const report = Effect.gen(function* () {
      const shards = yield* gaugeNow(ClusterMetrics.shards.id)
      const nodes = yield* gaugeNow(ClusterMetrics.entities.id, { type: "NcpNode" })
      const line = `holding ${shards} shard(s), ${nodes} node(s)`
      if (line !== last) {
        last = line
        yield* Console.log(line)
      }
    })
    return yield* Effect.forever(Effect.andThen(report, Effect.sleep("1 second")))
  })
  return yield* Effect.scoped(running).pipe(
    Effect.provide(otlpLayer(options.connection.otlp)),
    // the scope has closed (shards handed over) when the interruption gets here
    Effect.onInterrupt(() =>
      Effect.andThen(
        Effect.sync(() => {
          shutdown.completed = true
        }),
        Console.log("stopped")
      )
    )
  )
})

/** The `runner` command. */
export const command = make(run)
