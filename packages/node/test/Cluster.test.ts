import { rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { assert, describe, expect, it } from "@effect/vitest"
import { Fleet } from "@effect-ncp/core"
import { ClusterFleet } from "@effect-ncp/core/cluster"
import { SimulatedNode } from "@effect-ncp/core/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { NodeCluster } from "../src/cluster.js"
import * as Postgres from "./postgres.js"
import * as Processes from "./processes.js"

// The clustered fleet as it is deployed: one Postgres (started here, removed afterwards), three
// runner processes (`ncp runner`, the built command), 60 simulated nodes in another process
// (`ncp serve --nodes 60`), and this process as a client. A runner is killed with SIGKILL in the
// middle of a streaming command, and comes back.

const NODES = 60
/** The bound on recovery after a runner's death: every node answers again within it. */
const RECOVERY_BOUND_MILLIS = 20_000

/** Free TCP ports for the runners, from the OS. */
const freePorts = (count: number) =>
  Effect.promise(async () => {
    const servers = await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<Net.Server>((resolve) => {
            const server = Net.createServer()
            server.listen(0, "127.0.0.1", () => resolve(server))
          })
      )
    )
    const ports = servers.map((server) => {
      const address = server.address()
      return typeof address === "object" && address !== null ? address.port : 0
    })
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))))
    return ports
  })

/**
 * Waits (real time) for `check` to give a value, trying every `every` ms, at most `millis`. A
 * failure of `check` (the cluster still moving shards) counts as "not yet"; the last one is
 * named if the time runs out.
 */
const eventually = <A, E>(what: string, check: Effect.Effect<A | undefined, E>, millis: number, every = 250) =>
  Effect.gen(function* () {
    const started = Date.now()
    let lastError: unknown
    while (Date.now() - started < millis) {
      const value = yield* Effect.catch(check, (error) =>
        Effect.sync(() => {
          lastError = error
          return undefined
        })
      )
      if (value !== undefined) return { value, millis: Date.now() - started }
      yield* Effect.sleep(every)
    }
    return yield* Effect.die(new Error(`not ${what} after ${millis} ms (last error: ${String(lastError)})`))
  })

describe.skipIf(!Postgres.available)("a cluster of three runner processes on Postgres", () => {
  it.live(
    "60 nodes answer through the runners; one runner killed: every node answers again within the bound, no command runs twice; it comes back and takes its shards",
    () =>
      Effect.gen(function* () {
        const database = yield* Postgres.start()
        const { addresses } = yield* Processes.serveNodes(NODES)
        const keys = addresses.map((address) => Fleet.nodeKey(address))
        const nodesFile = path.join(os.tmpdir(), `ncp-cluster-nodes-${process.pid}.txt`)
        writeFileSync(nodesFile, keys.join("\n"))
        yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(nodesFile, { force: true })))

        const ports = yield* freePorts(3)
        const runnerArgs = (port: number, extra: ReadonlyArray<string> = []) => [
          "runner",
          "--cluster",
          database.url,
          "--listen",
          `127.0.0.1:${port}`,
          "--timeout",
          "5",
          ...extra
        ]
        // the first runner adds the nodes to the cluster's fleet
        const runners = yield* Effect.forEach(
          ports,
          (port, index) => Processes.start(runnerArgs(port, index === 0 ? ["--nodes-file", nodesFile] : [])),
          { concurrency: "unbounded" }
        )
        yield* Effect.forEach(runners, (runner) => runner.waitForLine((line) => line.startsWith("runner ")), {
          concurrency: "unbounded",
          discard: true
        })

        const context = yield* Layer.build(NodeCluster.layerClient({ database: database.url, timeout: "3 seconds" }))
        const fleet = Context.get(context, Fleet.Fleet)
        const clientFor = yield* ClusterFleet.NodeEntity.client.pipe(Effect.provideContext(context))
        const fanOut = Effect.provideService(
          Fleet.callAll(SimulatedNode.Status, {}, { nodes: keys }),
          Fleet.Fleet,
          fleet
        )
        const allAnswer = Effect.map(fanOut, (results) =>
          results.every(({ result }) => Result.isSuccess(result)) ? results : undefined
        )
        const placements = Effect.forEach(keys, (key) => clientFor(key).State(), { concurrency: "unbounded" })

        // every node answers, each with its own name, and the nodes are spread over the three
        const first = yield* eventually("every node answering", allAnswer, 60_000)
        expect(first.value.map(({ result }) => (Result.isSuccess(result) ? result.success.SEID : "failed"))).toEqual(
          Array.from({ length: NODES }, (_, index) => SimulatedNode.fleetName(index))
        )
        const spread = yield* eventually(
          "the nodes spread over the three runners",
          Effect.map(placements, (all) => {
            const byRunner = new Map<string, number>()
            for (const { runner } of all) byRunner.set(runner, (byRunner.get(runner) ?? 0) + 1)
            return byRunner.size === 3 ? byRunner : undefined
          }),
          30_000
        )
        const ports0 = ports[0] ?? 0
        const victimAddress = `127.0.0.1:${ports0}`
        const victimsNodes = (yield* placements)
          .filter(({ runner }) => runner === victimAddress)
          .map((p) => p.state.node)
        expect(victimsNodes.length).toBeGreaterThan(0)
        expect(spread.value.get(victimAddress)).toBe(victimsNodes.length)

        // a client process: `ncp status --cluster`, every node open
        const status = yield* Processes.start([
          "status",
          "--cluster",
          database.url,
          "--nodes-file",
          nodesFile,
          "--json"
        ])
        const code = yield* Effect.promise(
          () => new Promise<number | null>((resolve) => status.child.once("exit", (exit) => resolve(exit)))
        )
        const statusLines = status.lines().filter((line) => line.startsWith("{"))
        expect(code, status.output()).toBe(0)
        expect(statusLines.map((line) => (JSON.parse(line) as { state: string }).state)).toEqual(
          Array.from({ length: NODES }, () => "Open")
        )

        // a streaming command on every node: 30 sweeps, one every 100 ms; the first runner is
        // killed with SIGKILL in the middle of it
        const REPLIES = 30
        const sweeps = yield* Effect.forkChild(
          Stream.runCollect(
            fleet.stream(
              { packetType: "DSPC", fieldName: "SWEP", params: { FSTA: 88, FSTP: 108, BINS: 32, REPT: REPLIES } },
              { nodes: keys, replies: REPLIES, timeout: "15 seconds" }
            )
          )
        )
        yield* Effect.sleep("1 second")
        const [victim, ...survivors] = runners
        assert(victim !== undefined)
        yield* victim.stop("SIGKILL")
        const recovery = yield* eventually("every node answering after the kill", allAnswer, RECOVERY_BOUND_MILLIS)
        const replies = yield* Fiber.join(sweeps)

        // each node's part: every reply once, in order; the killed runner's nodes end with
        // ConnectionClosed (the command was not sent again), the others have all their replies
        for (const key of keys) {
          const part = replies.filter(({ node }) => node === key)
          const data = part.filter(({ result }) => Result.isSuccess(result))
          expect(data.length).toBeLessThanOrEqual(REPLIES)
          const failure = part.find(({ result }) => Result.isFailure(result))
          if (victimsNodes.includes(key)) {
            assert(failure !== undefined && Result.isFailure(failure.result), `${key} ended without an error`)
            const error = failure.result.failure
            expect(error._tag, error.message).toBe("ConnectionClosed")
            expect(data.length).toBeLessThan(REPLIES)
          } else {
            expect(failure, key).toBeUndefined()
            expect(data.length, key).toBe(REPLIES)
          }
        }
        const movedTo = new Set(
          (yield* placements).filter(({ state }) => victimsNodes.includes(state.node)).map(({ runner }) => runner)
        )
        expect(movedTo.has(victimAddress)).toBe(false)

        // the killed runner comes back, on its address, and takes shards back
        const restarted = yield* Processes.start(runnerArgs(ports0))
        const back = yield* eventually(
          "the restarted runner holding nodes again",
          Effect.map(placements, (all) => (all.some(({ runner }) => runner === victimAddress) ? all : undefined)),
          60_000
        )
        yield* restarted.waitForLine((line) => /holding [1-9]\d* shard/.test(line))
        const again = yield* eventually("every node answering after the rejoin", allAnswer, 30_000)
        expect(again.value).toHaveLength(NODES)

        console.log(
          JSON.stringify({
            postgres_start_ms: Math.round(database.startMillis),
            first_fan_out_ms: first.millis,
            killed_runner_nodes: victimsNodes.length,
            recovery_ms: recovery.millis,
            rejoin_ms: back.millis
          })
        )
        // the survivors stop cleanly: commands in flight finished, shards handed over, exit 0
        const exits = yield* Effect.forEach(survivors, (runner) => runner.stop("SIGTERM"), { concurrency: "unbounded" })
        expect(exits).toEqual([0, 0])
      }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error")),
    180_000
  )
})
