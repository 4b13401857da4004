/**
 * Clustered fleet benchmark, on 127.0.0.1: a Postgres of its own (`test/postgres.ts`), three
 * runner processes (`ncp runner`, the built command: `npm run bench:cluster` builds first),
 * `--nodes` (300) simulated nodes in another process (`ncp serve --nodes N --port 0`), and this
 * process as the client. One JSON line per phase on stdout; progress on stderr.
 *
 * Phases, in order:
 * - `join`: the client adds every node to the cluster's fleet; time until every node answers
 *   a fan-out (`all_answer_ms`), and how the nodes spread over the runners.
 * - `runner_cost`: what a node costs a runner: the runners' resident memory before and after
 *   their nodes joined, per node (`rss_bytes_per_node`, idle); and CPU per request from the
 *   fan-outs below (`runner_cpu_us_per_request`).
 * - `fanout`: `--fanouts` (5) fan-outs of `STAT` to every node, one after the other, at the
 *   fleet's default concurrency: time to the last reply, first (cold), best and median, through
 *   the cluster (`cluster_*`) and through an in-process `Fleet` in this process on the same
 *   nodes (`in_process_*`).
 * - `failover`: a runner killed with SIGKILL (one that does not host the cluster's health
 *   check, then the one that does): time until every node answers again through the others
 *   (`recovery_ms`), with a per-node deadline of 2 s; `rejoin_ms`, until the restarted runner
 *   holds nodes again.
 *
 * The machine's load average is in every line: the runners, the nodes, Postgres and the client
 * share the machine.
 *
 *   npm run bench:cluster
 *   npm run bench:cluster -- --nodes=100 --fanouts=3
 *
 * Each setting is also an environment variable: `CLUSTER_` and the name in capitals.
 */
import { readFileSync } from "node:fs"
import * as Net from "node:net"
import { loadavg } from "node:os"
import { Fleet } from "@effect-ncp/core"
import { ClusterFleet } from "@effect-ncp/core/cluster"
import { SimulatedNode } from "@effect-ncp/core/testing"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import { NodeCluster } from "../src/cluster.js"
import { NodeTransport } from "../src/index.js"
import * as Postgres from "../test/postgres.js"
import * as Processes from "../test/processes.js"
import * as Settings from "./settings.js"

const setting = (name: string, fallback: number): number =>
  Settings.number(name, `CLUSTER_${name.toUpperCase().replaceAll("-", "_")}`, fallback)

const config = {
  nodes: setting("nodes", 300),
  runners: setting("runners", 3),
  fanouts: setting("fanouts", 5)
}

const progress = (message: string) => console.error(`cluster: ${message}`)
const emit = (line: Record<string, unknown>) =>
  console.log(
    JSON.stringify({ bench: "cluster", ...line, load_average: loadavg().map((x) => Math.round(x * 10) / 10) })
  )

/** Resident memory of a process, bytes, from `/proc` (Linux); NaN elsewhere. */
const rssBytes = (pid: number | undefined): number => {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((entry) => entry.startsWith("VmRSS:"))
    return Number(line?.split(/\s+/)[1]) * 1024
  } catch {
    return Number.NaN
  }
}

/** CPU time (user + system) of a process so far, ms, from `/proc` (Linux); NaN elsewhere. */
const cpuMs = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return Number.NaN
  }
}

const sum = (values: ReadonlyArray<number>) => values.reduce((a, b) => a + b, 0)
const median = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

const freePort = Effect.promise(
  () =>
    new Promise<number>((resolve) => {
      const server = Net.createServer()
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 0))
      })
    })
)

/** Time to the last reply of a fan-out of STAT to `nodes`, and how many answered. */
const fanOut = (fleet: Fleet.FleetService, nodes: ReadonlyArray<string>, timeout: Duration.Input) =>
  Effect.gen(function* () {
    const started = performance.now()
    const results = yield* Effect.provideService(
      Fleet.callAll(SimulatedNode.Status, {}, { nodes, timeout }),
      Fleet.Fleet,
      fleet
    )
    return {
      millis: performance.now() - started,
      answered: results.filter(({ result }) => Result.isSuccess(result)).length
    }
  })

/** Repeats `fanOut` until every node answers: the time it took. */
const untilAllAnswer = (fleet: Fleet.FleetService, nodes: ReadonlyArray<string>, limitMillis: number) =>
  Effect.gen(function* () {
    const started = performance.now()
    while (performance.now() - started < limitMillis) {
      const { answered } = yield* fanOut(fleet, nodes, "2 seconds")
      if (answered === nodes.length) return performance.now() - started
      yield* Effect.sleep("100 millis")
    }
    return Number.NaN
  })

const main = Effect.gen(function* () {
  progress(`starting Postgres, ${config.nodes} simulated nodes and ${config.runners} runners`)
  const database = yield* Postgres.start("ncp_bench")
  const { addresses } = yield* Processes.serveNodes(config.nodes)
  const keys = addresses.map((address) => Fleet.nodeKey(address))

  const startRunner = (port: number) =>
    Effect.gen(function* () {
      const runner = yield* Processes.start([
        "runner",
        "--cluster",
        database.url,
        "--listen",
        `127.0.0.1:${port}`,
        "--metrics",
        "127.0.0.1:0"
      ])
      const metrics = (yield* runner.waitForLine((line) => line.startsWith("metrics on "))).slice("metrics on ".length)
      return { runner, port, address: `127.0.0.1:${port}`, metrics }
    })
  const ports = yield* Effect.forEach(Array.from({ length: config.runners }), () => freePort)
  const runners = yield* Effect.forEach(ports, startRunner, { concurrency: "unbounded" })
  // the shards settle over the runners before any node joins
  yield* Effect.forEach(runners, ({ runner }) => runner.waitForLine((line) => /holding [1-9]\d* shard/.test(line)), {
    discard: true
  })
  yield* Effect.sleep("2 seconds")
  const rssBefore = runners.map(({ runner }) => rssBytes(runner.child.pid))

  progress(`adding ${config.nodes} nodes`)
  const joinStarted = performance.now()
  const context = yield* Layer.build(
    NodeCluster.layerClient({ database: database.url, nodes: addresses, timeout: "5 seconds" })
  )
  const fleet = Context.get(context, Fleet.Fleet)
  yield* untilAllAnswer(fleet, keys, 120_000)
  const clientFor = yield* ClusterFleet.NodeEntity.client.pipe(Effect.provideContext(context))
  const placements = Effect.forEach(keys, (key) => clientFor(key).State(), { concurrency: 64 })
  const spread = new Map<string, number>()
  for (const { runner } of yield* placements) spread.set(runner, (spread.get(runner) ?? 0) + 1)
  emit({
    phase: "join",
    nodes: config.nodes,
    runners: config.runners,
    postgres_start_ms: Math.round(database.startMillis),
    all_answer_ms: Math.round(performance.now() - joinStarted),
    nodes_per_runner: [...spread.values()].sort((a, b) => a - b)
  })

  progress("fan-outs through the cluster")
  yield* Effect.sleep("3 seconds")
  const rssAfter = runners.map(({ runner }) => rssBytes(runner.child.pid))
  const cpuBefore = sum(runners.map(({ runner }) => cpuMs(runner.child.pid)))
  const cluster: Array<number> = []
  for (let i = 0; i < config.fanouts; i++) {
    const { millis, answered } = yield* fanOut(fleet, keys, "10 seconds")
    if (answered !== keys.length) progress(`cluster fan-out ${i}: ${answered} of ${keys.length} answered`)
    cluster.push(millis)
  }
  const runnerCpu = sum(runners.map(({ runner }) => cpuMs(runner.child.pid))) - cpuBefore
  emit({
    phase: "runner_cost",
    rss_bytes_per_node: Math.round((sum(rssAfter) - sum(rssBefore)) / config.nodes),
    runner_rss_mb: rssAfter.map((bytes) => Math.round(bytes / 1024 / 1024)),
    runner_cpu_us_per_request: Math.round((runnerCpu * 1000) / (config.fanouts * config.nodes))
  })

  progress("fan-outs through an in-process fleet")
  const local = yield* Scope.make()
  const inProcess = yield* Fleet.make({ nodes: addresses }).pipe(
    Effect.provide(NodeTransport.layer),
    Scope.provide(local)
  )
  const direct: Array<number> = []
  for (let i = 0; i < config.fanouts; i++) {
    const { millis } = yield* fanOut(inProcess, keys, "10 seconds")
    direct.push(millis)
  }
  yield* Scope.close(local, Exit.void)
  const rest = (values: ReadonlyArray<number>) => values.slice(1)
  emit({
    phase: "fanout",
    nodes: config.nodes,
    cluster_first_ms: Math.round(cluster[0] ?? 0),
    cluster_best_ms: Math.round(Math.min(...rest(cluster))),
    cluster_median_ms: Math.round(median(rest(cluster))),
    in_process_first_ms: Math.round(direct[0] ?? 0),
    in_process_best_ms: Math.round(Math.min(...rest(direct))),
    in_process_median_ms: Math.round(median(rest(direct)))
  })

  // a runner killed: first one that does not host the health check, then the one that does
  const hostsHealthCheck = (metrics: string) =>
    Effect.promise(() =>
      fetch(metrics)
        .then((response) => response.text())
        .then((text) => /^effect_cluster_singletons (\d+)/m.exec(text)?.[1] !== "0")
        .catch(() => false)
    )
  for (const kind of ["runner", "health_check_host"] as const) {
    const hosts = yield* Effect.forEach(runners, ({ metrics }) => hostsHealthCheck(metrics))
    const index = hosts.findIndex((hosts) => (kind === "runner" ? !hosts : hosts))
    const victim = runners[index]
    if (victim === undefined) continue
    const held = (yield* placements).filter(({ runner }) => runner === victim.address).length
    progress(`kill -9 ${victim.address} (${kind}, ${held} nodes)`)
    yield* victim.runner.stop("SIGKILL")
    const recovery = yield* untilAllAnswer(fleet, keys, 60_000)
    const restartedAt = performance.now()
    const restarted = yield* startRunner(victim.port)
    runners[index] = restarted
    let rejoin = Number.NaN
    while (performance.now() - restartedAt < 60_000) {
      if ((yield* placements).some(({ runner }) => runner === victim.address)) {
        rejoin = performance.now() - restartedAt
        break
      }
      yield* Effect.sleep("250 millis")
    }
    emit({
      phase: "failover",
      killed: kind,
      nodes_on_killed_runner: held,
      recovery_ms: Math.round(recovery),
      rejoin_ms: Math.round(rejoin)
    })
    yield* untilAllAnswer(fleet, keys, 60_000)
    yield* Effect.sleep("2 seconds")
  }
  progress("done; stopping")
}).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error"))

Effect.runPromise(main).then(
  () => process.exit(0),
  (error) => {
    console.error(error)
    process.exit(1)
  }
)
