/**
 * Fleet benchmark, on 127.0.0.1: a `Fleet` of `--nodes` (1000) simulated nodes served by
 * `ncp serve --nodes N --port 0` in another process (the built CLI: `npm run bench:fleet`
 * builds first). One JSON line per phase on stdout; progress on stderr.
 *
 * Phases, in order:
 * - `connect`: `Fleet.make` with every node, until every node is open (`connect_ms`). Aim:
 *   within 5 s.
 * - `idle`: the fleet's process after a full collection, every node open and idle: live heap
 *   and RSS per node, against the same process before the fleet (`heap_bytes_per_node`). Aim:
 *   under 100 KB per idle node.
 * - `fanout`: `--fanouts` (5) fan-outs of `STAT` to every node, one after the other, at the
 *   fleet's default concurrency (`--concurrency`, 256): time to the last reply
 *   (`last_reply_ms`), and each node's time to its reply from the start of the fan-out, p50 and
 *   p99 (`node_p50_ms`, `node_p99_ms`); the first fan-out (cold) and the best and median of the
 *   others. Aim: the last reply within 1 s.
 * - `sweeps`: `DSPC SWEP` with `REPT=0` (a sweep every 100 ms, for ever) of `--bins` (1024)
 *   bins from every node at once, merged into one Stream, for `--seconds` (5): replies/s and
 *   MB/s of sweep data (`PDAT`), and the fewest and most replies one node delivered. The
 *   simulated node sends at most 10 sweeps a second, so `replies_cap_per_s` (nodes x 10) is
 *   the most there is to receive. The window starts once every node has sent its first sweep.
 *
 * Every phase says where its time went: the CPU the benchmark's process (`bench_cpu_ms`, the
 * fleet) and the server's (`server_cpu_ms`, the 1,000 simulated nodes) spent in it, and the
 * machine's load average: both processes share the machine.
 *
 *   npm run bench:fleet
 *   npm run bench:fleet -- --nodes=200 --seconds=3
 *   npm run bench:fleet -- --server-node-args="--cpu-prof --cpu-prof-dir=.bench/profiles"
 *
 * Each setting is also an environment variable: `FLEET_` and the name in capitals
 * (`--nodes` is `FLEET_NODES`).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { loadavg } from "node:os"
import { fileURLToPath } from "node:url"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import { Fleet } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { NodeTransport } from "../src/index.js"
import * as Settings from "./settings.js"

const setting = (name: string, fallback: number): number =>
  Settings.number(name, `FLEET_${name.toUpperCase().replaceAll("-", "_")}`, fallback)

const config = {
  nodes: setting("nodes", 1000),
  fanouts: setting("fanouts", 5),
  concurrency: setting("concurrency", Fleet.defaultConcurrency),
  seconds: setting("seconds", 5),
  bins: setting("bins", 1024)
}

/** Node options for the server's process (`--server-node-args="--cpu-prof --cpu-prof-dir=.bench/profiles"`). */
const serverNodeArgs = (Settings.text("server-node-args", "FLEET_SERVER_NODE_ARGS") ?? "")
  .split(" ")
  .filter((a) => a !== "")

const AIMS = { connectMs: 5000, fanOutMs: 1000, idleBytesPerNode: 100 * 1024 }

const CLI = fileURLToPath(new URL("../packages/cli/bin/ncp.js", import.meta.url))

const progress = (message: string) => console.error(`fleet: ${message}`)
const emit = (line: Record<string, unknown>) => console.log(JSON.stringify({ bench: "fleet", ...line }))
const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits

const collectGarbage: () => void = (() => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc")
})()

/** Live heap after a full collection (twice: what the first frees can free more). */
const liveHeap = (): number => {
  collectGarbage()
  collectGarbage()
  return process.memoryUsage().heapUsed
}

/** CPU time (user + system) of this process so far, ms. */
const ownCpuMs = (): number => {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** CPU time (user + system) of another process so far, ms, from `/proc` (Linux); NaN elsewhere. */
const processCpuMs = (pid: number | undefined): number => {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? []
    // utime and stime, fields 14 and 15 of stat (11 and 12 after the command name), in clock ticks
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100
  } catch {
    return Number.NaN
  }
}

/** The CPU both processes spent since `from`: where a phase's time went. */
const cpuSince = (from: { readonly own: number; readonly server: number }, server: ChildProcess) => ({
  bench_cpu_ms: Math.round(ownCpuMs() - from.own),
  server_cpu_ms: Math.round(processCpuMs(server.pid) - from.server)
})

const cpuNow = (server: ChildProcess) => ({ own: ownCpuMs(), server: processCpuMs(server.pid) })

const percentile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN

const median = (values: ReadonlyArray<number>): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    50
  )

/** `ncp serve --nodes N --port 0`, and the addresses it prints, one line per node. */
const startServer = (nodes: number): Promise<{ readonly child: ChildProcess; readonly addresses: Array<string> }> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...serverNodeArgs, CLI, "serve", "--nodes", String(nodes), "--port", "0"], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    const addresses: Array<string> = []
    let pending = ""
    let errors = ""
    const timer = setTimeout(() => reject(new Error(`ncp serve --nodes ${nodes}: not listening after 60 s`)), 60_000)
    // read every line, or the server would stall on a full pipe (it prints a line per connection)
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      pending += chunk
      const lines = pending.split("\n")
      pending = lines.pop() ?? ""
      if (addresses.length === nodes) return
      for (const line of lines) {
        const match = /^listening on (\S+)$/.exec(line)
        if (match?.[1] !== undefined) addresses.push(match[1])
      }
      if (addresses.length === nodes) {
        clearTimeout(timer)
        resolve({ child, addresses })
      }
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      errors += chunk
    })
    child.on("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`ncp serve exited with ${code}: ${errors}`))
    })
  })

const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(
    effect.pipe(
      Effect.provideService(Logger.LogToStderr, true),
      Effect.provideService(References.MinimumLogLevel, "Error")
    )
  ).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw new Error(String(exit.cause))
  })

const main = async () => {
  progress(`starting ncp serve --nodes ${config.nodes}`)
  const heapBefore = liveHeap()
  const rssBefore = process.memoryUsage().rss
  const { child, addresses } = await startServer(config.nodes)
  const nodes = addresses.map((address) => {
    const colon = address.lastIndexOf(":")
    return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) }
  })
  const scope = Effect.runSync(Scope.make())
  try {
    // --- connect
    progress(`connecting to ${config.nodes} nodes`)
    const connectCpu = cpuNow(child)
    const started = performance.now()
    const fleet = await run(Fleet.make({ nodes }).pipe(Effect.provide(NodeTransport.layer), Scope.provide(scope)))
    const firstAttempts = performance.now() - started
    const states = await run(fleet.state)
    const open = states.filter((state) => state.link === "Open").length
    const connectMs = performance.now() - started
    emit({
      phase: "connect",
      nodes: config.nodes,
      open,
      connect_ms: round(connectMs),
      first_attempts_ms: round(firstAttempts),
      ...cpuSince(connectCpu, child),
      load_average_1m: round(loadavg()[0] ?? Number.NaN, 2),
      aim_ms: AIMS.connectMs,
      aim_met: open === config.nodes && connectMs <= AIMS.connectMs
    })

    // --- idle memory
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const heapIdle = liveHeap()
    const rssIdle = process.memoryUsage().rss
    const perNode = (heapIdle - heapBefore) / config.nodes
    emit({
      phase: "idle",
      nodes: config.nodes,
      heap_before_mb: round(heapBefore / 2 ** 20),
      heap_mb: round(heapIdle / 2 ** 20),
      heap_bytes_per_node: Math.round(perNode),
      rss_bytes_per_node: Math.round((rssIdle - rssBefore) / config.nodes),
      aim_bytes_per_node: AIMS.idleBytesPerNode,
      aim_met: perNode < AIMS.idleBytesPerNode
    })

    // --- fan-out of STAT
    const fanOutCpu = cpuNow(child)
    const fanOuts: Array<{ last: number; p50: number; p99: number; failed: number }> = []
    for (let i = 0; i < config.fanouts; i++) {
      progress(`fan-out ${i + 1} of ${config.fanouts}`)
      const times: Array<number> = []
      let failed = 0
      const t0 = performance.now()
      await run(
        Stream.runForEach(
          fleet.request({ packetType: "STAT", fieldName: "STAT" }, { concurrency: config.concurrency }),
          ({ result }) =>
            Effect.sync(() => {
              times.push(performance.now() - t0)
              if (Result.isFailure(result)) failed++
            })
        )
      )
      const sorted = times.sort((a, b) => a - b)
      fanOuts.push({
        last: sorted[sorted.length - 1] ?? Number.NaN,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        failed
      })
    }
    const [cold, ...warm] = fanOuts
    const best = warm.reduce<(typeof fanOuts)[number] | undefined>(
      (a, b) => (a === undefined || b.last < a.last ? b : a),
      undefined
    )
    emit({
      phase: "fanout",
      nodes: config.nodes,
      command: "STAT STAT",
      concurrency: config.concurrency,
      fanouts: config.fanouts,
      cold_last_reply_ms: round(cold?.last ?? Number.NaN),
      cold_node_p50_ms: round(cold?.p50 ?? Number.NaN),
      cold_node_p99_ms: round(cold?.p99 ?? Number.NaN),
      last_reply_ms: round(median(warm.map((f) => f.last))),
      node_p50_ms: round(median(warm.map((f) => f.p50))),
      node_p99_ms: round(median(warm.map((f) => f.p99))),
      best_last_reply_ms: round(best?.last ?? Number.NaN),
      failed: fanOuts.reduce((sum, f) => sum + f.failed, 0),
      // all the fan-outs together
      ...cpuSince(fanOutCpu, child),
      load_average_1m: round(loadavg()[0] ?? Number.NaN, 2),
      aim_ms: AIMS.fanOutMs,
      aim_met: median(warm.map((f) => f.last)) <= AIMS.fanOutMs
    })

    // --- sweeps streamed from every node at once
    progress(`sweeps of ${config.bins} bins from every node for ${config.seconds} s`)
    const perNodeReplies = new Map<string, number>()
    let replies = 0
    let bytes = 0
    let failed = 0
    const request = Result.getOrThrow(
      Fleet.toRequest(SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, BINS: config.bins, REPT: 0 })
    )
    let measuredFrom = 0
    const firstSweeps = new Set<string>()
    const counting = Effect.runFork(
      Stream.runForEach(fleet.stream(request), ({ node, result }) =>
        Effect.sync(() => {
          if (Result.isFailure(result)) {
            failed++
            return
          }
          if (measuredFrom === 0) {
            firstSweeps.add(node)
            return
          }
          replies++
          perNodeReplies.set(node, (perNodeReplies.get(node) ?? 0) + 1)
          const pdat = result.success.params.find((param) => param.name === "PDAT")?.value.value
          if (pdat instanceof Uint8Array) bytes += pdat.length
        })
      ).pipe(Effect.provideService(References.MinimumLogLevel, "Error"))
    )
    // the window starts once every node has sent its first sweep (each node generates its sweep
    // once, then repeats it), or after 30 s
    const warmUpFrom = performance.now()
    while (firstSweeps.size < config.nodes && performance.now() - warmUpFrom < 30_000) {
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const warmUpMs = performance.now() - warmUpFrom
    const sweepCpu = cpuNow(child)
    measuredFrom = performance.now()
    await new Promise((resolve) => setTimeout(resolve, config.seconds * 1000))
    const elapsed = (performance.now() - measuredFrom) / 1000
    const sweepCpuUsed = cpuSince(sweepCpu, child)
    const counts = addresses.map((address) => perNodeReplies.get(address) ?? 0)
    await run(Fiber.interrupt(counting))
    emit({
      phase: "sweeps",
      nodes: config.nodes,
      bins: config.bins,
      seconds: round(elapsed, 2),
      replies_per_s: Math.round(replies / elapsed),
      replies_cap_per_s: config.nodes * (1000 / SimulatedNode.REPEAT_INTERVAL_MILLIS),
      mb_per_s: round(bytes / elapsed / 1e6, 2),
      node_min_replies: Math.min(...counts),
      node_max_replies: Math.max(...counts),
      failed,
      warm_up_ms: round(warmUpMs),
      ...sweepCpuUsed,
      load_average_1m: round(loadavg()[0] ?? Number.NaN, 2)
    })
  } finally {
    progress("closing")
    await run(Scope.close(scope, Exit.void))
    // SIGINT: the server shuts down (and writes its profile, if asked)
    child.kill("SIGINT")
    await new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        resolve(undefined)
      }, 10_000)
      child.on("exit", () => {
        clearTimeout(timer)
        resolve(undefined)
      })
    })
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error)
    process.exit(1)
  }
)
