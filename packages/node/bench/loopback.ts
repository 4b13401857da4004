/**
 * Loopback benchmark: an NCP client and an echo server on 127.0.0.1, in two shapes. Each client
 * (effect-ncp or a hand-written `node:net` one) is measured against each server (effect-ncp or
 * a hand-written `node:net` one), so a gap can be placed on the client's side or the server's.
 * One JSON line per shape and pair:
 *
 *   {"shape":"two-process","impl":"effect-ncp client / node:net server","client":"effect-ncp",
 *    "server":"node:net","rtt_per_s":N,"pipelined_fields_per_s":N,"stream_mb_per_s":N}
 *
 * Shapes (`--shapes` / `BENCH_SHAPES`, in this order): `two-process`, the headline, runs the
 * server in a child process (`loopback.mjs server KIND`), as a client and a node run in
 * production, each with a thread (and with `--pin` / `BENCH_PIN=1`, a CPU) of its own;
 * `one-process` runs both in this process, sharing one event loop.
 *
 * The pairs of one side keep their short names, `"impl":"effect-ncp"` and `"impl":"node:net"`.
 *
 * - `rtt_per_s`: for 2 s, send `DSPC ECHO {SEQN=i, FCTR=2400}` and wait for its reply.
 * - `call_rtt_per_s` (effect-ncp clients): the same round trips as typed calls
 *   (`CommandClient.call`, params and reply through their Schemas), beside `request`'s.
 * - `promise_rtt_per_s` (effect-ncp clients): the same round trips with the Promise API
 *   (`@effect-ncp/node/promise`, `await connection.request(...)`), on a connection of its own.
 * - `traced_rtt_per_s` (the effect-ncp pair): the same round trips with observability on, on
 *   a connection of its own to a server of its own: both sides with a tracer that makes real
 *   spans (a client span per request, a server span per command) and a Prometheus endpoint
 *   serving their metrics (scraped once after the case). Beside `rtt_per_s`, the cost of
 *   spans and metrics; `rtt_per_s` itself runs with no tracer or exporter installed.
 * - `pipelined_fields_per_s`: send 20,000 `DSPC ECHO {SEQN=i}` without waiting, then receive
 *   every reply (from the first send to the last reply).
 * - `stream_mb_per_s`: one `DSPC STRM {NPKT=200}`; the server answers with 200 replies, each
 *   with `DATA` = 262,144 zero f32 (1 MiB); MiB of `DATA` received per second.
 *
 * The servers reply with the request's params (no ACKN), each reply encoded as it is sent; the
 * effect-ncp server reads without its default per-connection rate limit (`maxPacketsPerSecond`
 * 0), as the raw one does. The effect-ncp side is the toolkit end to end through its public
 * API: `NodeNcp.connect`
 * (`connection.request` for round trips, `connection.send` then `Response.recv` for pipelining,
 * `send` and `Response.fields` for the stream) and `NodeNcp.make` serving an echo handler. The
 * `node:net` side is raw sockets with our codec and a hand-written handshake (`raw.ts`), what a
 * hand-written Node client and server reach: the ceiling. The pair `node:net/node:net-copy`
 * (`"impl":"node:net / node:net copy-only stream server"`, stream only) is the limit of copying
 * alone: its server encodes one stream reply and writes the same bytes every time.
 *
 * Select pairs and cases with arguments or environment variables (both lists, comma-separated):
 *
 *   npm run bench:loopback
 *   npm run bench:loopback -- --pairs=effect-ncp/node:net --cases=rtt --shapes=two-process
 *   BENCH_PAIRS=node:net/effect-ncp BENCH_CASES=pipelined,stream npm run bench:loopback
 *
 * A pair is `CLIENT/SERVER`, each `effect-ncp` or `node:net` (or the server `node:net-copy`);
 * `BENCH_RTT_MS` sets the length of the round-trip case (2000). Each pair first runs
 * `BENCH_WARMUP_MS` (500; 0 for none) of round trips and 2,000 pipelined fields unmeasured, so
 * that the order of the pairs does not favour the later ones.
 *
 * `--cpu` adds each case's CPU time per operation of each side (`rtt_client_cpu_us`,
 * `rtt_server_cpu_us`, ...; steadier than rates on a shared machine); `--profile=DIR` writes one
 * CPU profile per case and side, sampled every 50 µs, over exactly the measured case. Medians
 * and per-run shares of several runs: `npx tsx packages/node/bench/summary.ts run-*.jsonl`.
 */
import { execFileSync, fork } from "node:child_process"
import { mkdirSync, writeFileSync } from "node:fs"
import * as Inspector from "node:inspector/promises"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { CommandClient, type Connection, Field, NcpCommand, WireSchema } from "@effect-ncp/core"
import { NodeNcp, NodeObservability } from "@effect-ncp/node"
import * as NcpPromise from "@effect-ncp/node/promise" // the Promise API case, below
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import * as Echo from "./echo.js"
import * as Raw from "./raw.js"
import * as Settings from "./settings.js"

/**
 * The figures of one pair; a case not selected is left out. With `--cpu`, each case also
 * reports CPU time per operation (a round trip, a pipelined field, a 1 MiB stream reply) in
 * µs: `CASE_client_cpu_us` and `CASE_server_cpu_us` with the server in its own process,
 * `CASE_cpu_us` (both sides) in one. CPU time is less sensitive than rates to other work on
 * the machine.
 */
export interface Figures {
  rtt_per_s?: number
  call_rtt_per_s?: number
  promise_rtt_per_s?: number
  traced_rtt_per_s?: number
  pipelined_fields_per_s?: number
  stream_mb_per_s?: number
  [cpu: `${string}_cpu_us` | `${string}_fiber_${"ops" | "runs" | "suspends"}`]: number
  /** With `--profile`: how many operations each case's profiles cover. */
  [ops: `${string}_ops`]: number
}

/** A connected client, able to run each case against the server it is connected to. */
export interface Client {
  /** Round trips per second over `millis`. */
  readonly roundTrips: (millis: number) => Promise<number>
  /** Round trips per second over `millis` as typed calls, for a client that has them. */
  readonly typedCalls?: (millis: number) => Promise<number>
  /** Fields per second, `count` commands sent before any reply is read. */
  readonly pipelined: (count: number) => Promise<number>
  /** MiB of DATA per second, `packets` replies of 1 MiB to one command. */
  readonly stream: (packets: number) => Promise<number>
  readonly close: () => Promise<void>
}

/** A running echo server. */
export interface Server {
  readonly port: number
  readonly close: () => Promise<void>
  /** CPU time (user and system) of the server's own process so far, in µs; in this process, none. */
  readonly counters?: () => Promise<Counters>
  /** Starts (a file name) or stops (`undefined`) profiling the server's own process. */
  readonly profile?: (file: string | undefined) => Promise<void>
}

const IMPLEMENTATIONS = ["effect-ncp", "node:net"] as const
type Implementation = (typeof IMPLEMENTATIONS)[number]

const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 2000)
/** `--pin` / `BENCH_PIN=1`: the client on CPU 0 and the server's process on CPU 1 (Linux `taskset`). */
const PIN = process.argv.includes("--pin") || ["1", "true"].includes(Settings.text("pin", "BENCH_PIN") ?? "")
const CLIENT_CPU = 0
const SERVER_CPU = 1
/** `--cpu` / `BENCH_CPU=1`: report CPU time per operation of each side (see {@link Figures}). */
const CPU = process.argv.includes("--cpu") || ["1", "true"].includes(Settings.text("cpu", "BENCH_CPU") ?? "")
/** Node options of the server's process in the two-process shape, space-separated. */
const SERVER_NODE_ARGS = (process.env.BENCH_SERVER_NODE_ARGS ?? "").split(" ").filter((arg) => arg !== "")
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 500)
const WARMUP_PIPELINED = 2000
const PIPELINED = 20_000
const STREAM_PACKETS = 200
const MIB = 1024 * 1024

const echoRequest = (seqn: number, withFrequency: boolean) => ({
  type: "DSPC",
  fields: [
    {
      name: "ECHO",
      id: seqn,
      params: withFrequency
        ? [
            { name: "SEQN", value: Raw.i32(seqn) },
            { name: "FCTR", value: Raw.i32(2400) }
          ]
        : [{ name: "SEQN", value: Raw.i32(seqn) }]
    }
  ]
})

// --- clients ---

/** The hand-written client: raw socket, our codec, one packet handler per case. */
const rawClient = async (port: number): Promise<Client> => {
  const peer = await Raw.connectRaw(port)
  const socket = peer.socket
  return {
    roundTrips: async (millis) => {
      let roundTrips = 0
      const start = performance.now()
      while (performance.now() - start < millis) {
        const seqn = roundTrips + 1
        await new Promise<void>((resolve, reject) => {
          peer.onPacket = (packet) => {
            const value = Raw.paramOf(packet.fields[0], "SEQN")
            if (value === seqn) resolve()
            else reject(new Error(`reply to SEQN ${String(value)}, expected ${seqn}`))
          }
          socket.write(Raw.encode(echoRequest(seqn, true)))
        })
        roundTrips++
      }
      return roundTrips / ((performance.now() - start) / 1000)
    },
    pipelined: async (count) => {
      const start = performance.now()
      const done = new Promise<void>((resolve) => {
        let received = 0
        peer.onPacket = (packet) => {
          received += packet.fields.length
          if (received === count) resolve()
        }
      })
      socket.cork()
      for (let i = 1; i <= count; i++) socket.write(Raw.encode(echoRequest(i, false)))
      socket.uncork()
      await done
      return count / ((performance.now() - start) / 1000)
    },
    stream: async (packets) => {
      const start = performance.now()
      let bytes = 0
      await new Promise<void>((resolve) => {
        let received = 0
        peer.onPacket = (packet) => {
          const data = Raw.paramOf(packet.fields[0], "DATA")
          if (data instanceof Float32Array) bytes += data.byteLength
          if (++received === packets) resolve()
        }
        socket.write(
          Raw.encode({
            type: "DSPC",
            fields: [{ name: "STRM", id: 1, params: [{ name: "NPKT", value: Raw.i32(packets) }] }]
          })
        )
      })
      return bytes / MIB / ((performance.now() - start) / 1000)
    },
    close: async () => {
      await new Promise<void>((resolve) => socket.end(resolve))
      socket.destroy()
    }
  }
}

/** The round trip as a described command. */
const EchoCommand = NcpCommand.make("DSPC", "ECHO", {
  params: { SEQN: WireSchema.i32, FCTR: WireSchema.i32 },
  reply: { SEQN: WireSchema.i32 }
})

/** The effect-ncp client: `NodeNcp.connect`, each case one Effect program. */
/** `DSPC ECHO` round trips on `connection` for `millis`, each reply checked: the rate per second. */
const echoRoundTrips = (connection: Connection.Connection, millis: number) =>
  Effect.gen(function* () {
    let roundTrips = 0
    const start = performance.now()
    while (performance.now() - start < millis) {
      const seqn = roundTrips + 1
      const reply = yield* connection.request("DSPC", "ECHO", [
        { name: "SEQN", value: Raw.i32(seqn) },
        { name: "FCTR", value: Raw.i32(2400) }
      ])
      const value = Field.get(reply, "SEQN")
      if (value !== seqn) return yield* Effect.die(new Error(`reply to SEQN ${String(value)}, expected ${seqn}`))
      roundTrips++
    }
    return roundTrips / ((performance.now() - start) / 1000)
  })

const effectClient = async (port: number): Promise<Client> => {
  const scope = Scope.makeUnsafe()
  const connection = await Effect.runPromise(
    NodeNcp.connect({ host: Raw.HOST, port, timeout: "60 seconds" }).pipe(Scope.provide(scope))
  )
  return {
    roundTrips: (millis) => Effect.runPromise(echoRoundTrips(connection, millis)),
    typedCalls: (millis) =>
      Effect.runPromise(
        Effect.gen(function* () {
          let calls = 0
          const start = performance.now()
          while (performance.now() - start < millis) {
            const seqn = calls + 1
            const reply = yield* CommandClient.call(connection, EchoCommand, { SEQN: seqn, FCTR: 2400 })
            if (reply.SEQN !== seqn)
              return yield* Effect.die(new Error(`reply to SEQN ${reply.SEQN}, expected ${seqn}`))
            calls++
          }
          return calls / ((performance.now() - start) / 1000)
        })
      ),
    pipelined: (count) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const start = performance.now()
          yield* Effect.scoped(
            Effect.gen(function* () {
              const responses: Array<Connection.Response> = []
              for (let i = 1; i <= count; i++) {
                responses.push(yield* connection.send("DSPC", "ECHO", [{ name: "SEQN", value: Raw.i32(i) }]))
              }
              for (const response of responses) yield* response.recv
            })
          )
          return count / ((performance.now() - start) / 1000)
        })
      ),
    stream: (packets) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const start = performance.now()
          let bytes = 0
          yield* Effect.scoped(
            Effect.gen(function* () {
              const response = yield* connection.send("DSPC", "STRM", [{ name: "NPKT", value: Raw.i32(packets) }])
              yield* response.fields.pipe(
                Stream.take(packets),
                Stream.runForEach((field) =>
                  Effect.sync(() => {
                    const data = Field.get(field, "DATA")
                    if (data instanceof Float32Array) bytes += data.byteLength
                  })
                )
              )
            })
          )
          return bytes / MIB / ((performance.now() - start) / 1000)
        })
      ),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

// --- Promise API (@effect-ncp/node/promise) -------------------------------------------------
// `promise_rtt_per_s`: the round-trip case of the effect-ncp client, written as a Promise-API
// user writes it, on a connection of its own to the same server, after its own warm-up.

const promiseRoundTrips = async (port: number, millis: number): Promise<number> => {
  const connection = await NcpPromise.connect({ host: Raw.HOST, port, timeout: 60 })
  try {
    const loop = async (duration: number) => {
      let roundTrips = 0
      const start = performance.now()
      while (performance.now() - start < duration) {
        const seqn = roundTrips + 1
        const reply = await connection.request("DSPC", "ECHO", [
          { name: "SEQN", value: Raw.i32(seqn) },
          { name: "FCTR", value: Raw.i32(2400) }
        ])
        const value = reply.get("SEQN")
        if (value !== seqn) throw new Error(`reply to SEQN ${String(value)}, expected ${seqn}`)
        roundTrips++
      }
      return roundTrips / ((performance.now() - start) / 1000)
    }
    if (WARMUP_MS > 0) await loop(WARMUP_MS)
    return await loop(millis)
  } finally {
    await connection.close()
  }
}

// --- end of the Promise API case -------------------------------------------------------------

// --- observability on: spans and metrics ------------------------------------------------------
// `traced_rtt_per_s`: the round-trip case with a tracer that makes real spans and a Prometheus
// endpoint serving the metrics, on both sides.

/**
 * A tracer that makes real spans: Effect's `NativeSpan`, attributes, events and all, as an
 * exporter's tracer does; they are dropped once ended rather than sent anywhere.
 */
const spanMaking = Tracer.make({ span: (options) => new Tracer.NativeSpan(options) })

/** A Prometheus endpoint on a free loopback port, serving the process's metrics. */
const prometheus = NodeObservability.layerPrometheus({ host: Raw.HOST, port: 0 })

/** How many `ncp_` series a Prometheus endpoint serves: a scrape, to show the metrics were there. */
const scrapeSeries = (url: string): Effect.Effect<number> =>
  Effect.promise(() =>
    fetch(url)
      .then((response) => response.text())
      .then((text) => text.split("\n").filter((line) => line.startsWith("ncp_")).length)
  )

/**
 * A server's per-connection read rate (`maxPacketsPerSecond`, 10,000 packets/s by default: a
 * defence against floods) would cap round trips and pipelined fields at that rate, where the
 * raw server has no cap: the benchmark's servers run without it, to measure the connection's
 * own speed. `bench:load` keeps the default, as a production server does.
 */
const UNPACED = { maxPacketsPerSecond: 0 }

/** The echo server with observability on: a span per command, its metrics served. */
const listenObserved = async (): Promise<Server> => {
  const scope = Scope.makeUnsafe()
  const port = await Effect.runPromise(
    Effect.gen(function* () {
      const services = yield* Layer.buildWithScope(prometheus, scope)
      const { port } = yield* NodeNcp.make(Echo.echoHandler, { ...UNPACED, host: Raw.HOST, port: 0 }).pipe(
        Effect.withTracer(spanMaking),
        Effect.provide(services),
        Scope.provide(scope)
      )
      return port
    })
  )
  return { port, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/**
 * Round trips with observability on in the client (a span per request, its metrics served),
 * on a connection of its own to `port`, after their own warm-up; the client's endpoint is
 * scraped once afterwards.
 */
const tracedRoundTrips = (port: number, millis: number): Promise<number> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const connection = yield* NodeNcp.connect({ host: Raw.HOST, port, timeout: "60 seconds" })
      if (WARMUP_MS > 0) yield* echoRoundTrips(connection, WARMUP_MS)
      const rate = yield* echoRoundTrips(connection, millis)
      const series = yield* scrapeSeries((yield* NodeObservability.MetricsEndpoint).url)
      if (series === 0) return yield* Effect.die(new Error("the client's Prometheus endpoint served no ncp_ series"))
      return rate
    }).pipe(Effect.scoped, Effect.withTracer(spanMaking), Effect.provide(prometheus))
  )

// --- end of the observability case -----------------------------------------------------------

const clients: Record<Implementation, (port: number) => Promise<Client>> = {
  "effect-ncp": effectClient,
  "node:net": rawClient
}

/**
 * The servers: one per implementation, the raw server writing one encoded stream reply over
 * and over, and the effect-ncp server with observability on (for `traced_rtt_per_s`).
 */
const SERVER_KINDS = [...IMPLEMENTATIONS, "node:net-copy", "effect-ncp-traced"] as const
type ServerKind = (typeof SERVER_KINDS)[number]

const servers: Record<ServerKind, () => Promise<Server>> = {
  "effect-ncp": () => Echo.listenEcho(UNPACED),
  "node:net": () => Raw.listenEcho(0, { streamReplies: "encode" }),
  "node:net-copy": () => Raw.listenEcho(0, { streamReplies: "copy" }),
  "effect-ncp-traced": () => listenObserved()
}

const isServerKind = (name: string | undefined): name is ServerKind => SERVER_KINDS.some((kind) => kind === name)

// --- the server in a process of its own ---

const ENTRY = fileURLToPath(import.meta.url)

/** What the server process sends once it listens. */
interface Listening {
  readonly type: "listening"
  readonly port: number
}

/**
 * What a process has spent so far: CPU time (user and system) in µs, and, when effect is
 * instrumented (`globalThis.__fx`, see `packages/node/bench/instrument-effect.mjs`), the
 * Effect ops its fibers ran, how often a fiber was run (started or resumed) and how often one
 * suspended.
 */
interface Counters {
  readonly cpu: number
  readonly fiberOps?: number | undefined
  readonly fiberRuns?: number | undefined
  readonly fiberSuspends?: number | undefined
}

/** The server process's {@link Counters}, asked for with `{type: "cpu"}`. */
interface CpuTime {
  readonly type: "cpu"
  readonly counters: Counters
}

/** Starts profiling the server process into `file`, or stops and writes the profile (no `file`); answered in kind. */
interface ProfileRequest {
  readonly type: "profile"
  readonly file?: string | undefined
}

const isProfileRequest = (message: unknown): message is ProfileRequest =>
  typeof message === "object" && message !== null && "type" in message && message.type === "profile"

/**
 * A CPU profile of this process over exactly one case (`--profile=DIR` / `BENCH_PROFILE_DIR`):
 * `start(file)`, then `stop()` writes it. Sampled every 50 µs, finer than `--cpu-prof`'s
 * default, since a round trip takes tens of µs.
 */
const makeProfiler = () => {
  let session: Inspector.Session | undefined
  let target: string | undefined
  return {
    start: async (file: string) => {
      session ??= new Inspector.Session()
      session.connect()
      await session.post("Profiler.enable")
      await session.post("Profiler.setSamplingInterval", { interval: 50 })
      await session.post("Profiler.start")
      target = file
    },
    stop: async () => {
      if (session === undefined || target === undefined) return
      const { profile } = await session.post("Profiler.stop")
      mkdirSync(dirname(target), { recursive: true })
      writeFileSync(target, JSON.stringify(profile))
      session.disconnect()
      target = undefined
    }
  }
}
const profiler = makeProfiler()
const PROFILE_DIR = Settings.text("profile", "BENCH_PROFILE_DIR")

const isListening = (message: unknown): message is Listening =>
  typeof message === "object" && message !== null && "type" in message && message.type === "listening"

const isCpuTime = (message: unknown): message is CpuTime =>
  typeof message === "object" && message !== null && "type" in message && message.type === "cpu"

interface EffectCounters {
  readonly ops: number
  readonly evaluates: number
  readonly suspends: number
}

const isEffectCounters = (u: unknown): u is EffectCounters =>
  typeof u === "object" && u !== null && "ops" in u && "evaluates" in u && "suspends" in u

const counters = (): Counters => {
  const usage = process.cpuUsage()
  const fx: unknown = Reflect.get(globalThis, "__fx")
  return isEffectCounters(fx)
    ? { cpu: usage.user + usage.system, fiberOps: fx.ops, fiberRuns: fx.evaluates, fiberSuspends: fx.suspends }
    : { cpu: usage.user + usage.system }
}

/**
 * The server's process: `loopback.mjs server KIND`. It reports its port over IPC and stops
 * when the benchmark disconnects (or goes away).
 */
const runServerProcess = async (kind: string | undefined): Promise<void> => {
  if (!isServerKind(kind)) throw new Error(`unknown server ${String(kind)}; want ${SERVER_KINDS.join(", ")}`)
  if (PIN) pin(SERVER_CPU)
  const server = await servers[kind]()
  process.once("disconnect", () => {
    void server.close().finally(() => process.exit(0))
  })
  process.on("message", (message) => {
    if (isCpuTime(message)) {
      const answer: CpuTime = { type: "cpu", counters: counters() }
      process.send?.(answer)
    } else if (isProfileRequest(message)) {
      const done = message.file === undefined ? profiler.stop() : profiler.start(message.file)
      void done.then(() => process.send?.(message))
    }
  })
  const listening: Listening = { type: "listening", port: server.port }
  process.send?.(listening)
}

/**
 * Starts a server in a child process (`BENCH_SERVER_NODE_ARGS` are its Node options, e.g.
 * `--cpu-prof`), so that client and server each have a thread, and with `--pin` a core, of
 * their own, as a client and a node do in production.
 */
const forkServer = async (kind: ServerKind): Promise<Server> => {
  const child = fork(ENTRY, ["server", kind], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: SERVER_NODE_ARGS,
    env: { ...process.env, BENCH_PIN: PIN ? "1" : "0" }
  })
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the ${kind} server did not start within 15 s`)), 15_000)
    child.on("message", (message) => {
      if (!isListening(message)) return
      clearTimeout(timer)
      resolve(message.port)
    })
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`the ${kind} server exited with ${String(code)} before listening`))
    })
  })
  return {
    port,
    counters: () =>
      new Promise((resolve) => {
        const onMessage = (message: unknown) => {
          if (!isCpuTime(message)) return
          child.off("message", onMessage)
          resolve(message.counters)
        }
        child.on("message", onMessage)
        const ask: CpuTime = { type: "cpu", counters: { cpu: 0 } }
        child.send(ask)
      }),
    profile: (file) =>
      new Promise((resolve) => {
        const onMessage = (message: unknown) => {
          if (!isProfileRequest(message)) return
          child.off("message", onMessage)
          resolve()
        }
        child.on("message", onMessage)
        const ask: ProfileRequest = { type: "profile", file }
        child.send(ask)
      }),
    close: async () => {
      // the child stops its server and exits when the channel closes; profiles are written then
      child.disconnect()
      const killed = setTimeout(() => child.kill("SIGKILL"), 10_000)
      await exited
      clearTimeout(killed)
    }
  }
}

/** Pins this process to one CPU with `taskset` (Linux), so that client and server do not share one. */
const pin = (cpu: number): void => {
  try {
    execFileSync("taskset", ["-a", "-cp", String(cpu), String(process.pid)], { stdio: "ignore" })
  } catch (error) {
    console.error(`--pin: taskset failed (${error instanceof Error ? error.message : String(error)}); not pinned`)
  }
}

// --- selection ---

const CASES = ["rtt", "call", "pipelined", "stream", "promise", "traced"] as const
type Case = (typeof CASES)[number]

/**
 * Shapes, in the order measured: `two-process` (the headline: the server in a child process,
 * as in production) and `one-process` (client and server share one event loop).
 */
const SHAPES = ["two-process", "one-process"] as const
type Shape = (typeof SHAPES)[number]

const isImplementation = (name: string): name is Implementation => IMPLEMENTATIONS.some((impl) => impl === name)

/**
 * Pairs in the order measured: one side first, then the mixed pairs, then the copy-only
 * stream limit (`node:net/node:net-copy`, the stream case only: the raw server writes one
 * encoded reply again and again rather than encoding each).
 */
const PAIRS = [
  "effect-ncp/effect-ncp",
  "node:net/node:net",
  "effect-ncp/node:net",
  "node:net/effect-ncp",
  "node:net/node:net-copy"
] as const

const selectedPairs = (): ReadonlyArray<readonly [Implementation, ServerKind]> => {
  // BENCH_IMPL=NAME, one implementation on both sides, as before the mixed pairs
  const legacy = process.env.BENCH_IMPL
  const names = Settings.list("pairs", "BENCH_PAIRS", PAIRS) ?? (legacy !== undefined ? [`${legacy}/${legacy}`] : PAIRS)
  return names.map((name) => {
    const [client = "", server = ""] = name.split("/")
    if (!isImplementation(client) || !isServerKind(server)) throw new Error(`unknown pair ${name}`)
    return [client, server] as const
  })
}

const implName = (client: Implementation, server: ServerKind): string =>
  server === "node:net-copy"
    ? "node:net / node:net copy-only stream server"
    : client === server
      ? client
      : `${client} client / ${server} server`

/** The cases a pair runs: the copy-only server differs from the raw one only in its stream. */
const pairCases = (server: ServerKind, cases: ReadonlySet<Case>): ReadonlySet<Case> =>
  server === "node:net-copy" ? new Set([...cases].filter((c) => c === "stream")) : cases

const measure = async (
  shape: Shape,
  client: Implementation,
  server: ServerKind,
  cases: ReadonlySet<Case>
): Promise<Figures> => {
  const running = shape === "two-process" ? await forkServer(server) : await servers[server]()
  try {
    const connected = await clients[client](running.port)
    try {
      // unmeasured, so that the first pair measured does not pay for compiling the code paths
      if (WARMUP_MS > 0) {
        await connected.roundTrips(WARMUP_MS)
        await connected.pipelined(WARMUP_PIPELINED)
      }
      const figures: Figures = {}
      /** Runs a case; with `--cpu`, adds its CPU time per operation, `ops` computed from its result. */
      const timed = async (
        name: string,
        run: () => Promise<number>,
        ops: (rate: number, seconds: number) => number
      ) => {
        if (PROFILE_DIR !== undefined) {
          const file = (side: string) =>
            join(PROFILE_DIR, `${shape}-${client}-${server}-${name}-${side}.cpuprofile`.replaceAll(":", ""))
          if (running.profile !== undefined) {
            await running.profile(file("server"))
            await profiler.start(file("client"))
          } else await profiler.start(file("both"))
        }
        const serverBefore = CPU ? await running.counters?.() : undefined
        const before = counters()
        const start = performance.now()
        const rate = await run()
        const seconds = (performance.now() - start) / 1000
        const own = counters()
        const serverAfter = serverBefore === undefined ? undefined : await running.counters?.()
        if (PROFILE_DIR !== undefined) {
          await profiler.stop()
          await running.profile?.(undefined)
          figures[`${name}_ops`] = Math.round(ops(rate, seconds))
        }
        if (CPU) {
          const count = ops(rate, seconds)
          const report = (side: string, from: Counters, to: Counters) => {
            const per = (a: number | undefined, b: number | undefined) =>
              a === undefined || b === undefined ? undefined : Math.round(((b - a) / count) * 100) / 100
            const prefix = side === "" ? name : `${name}_${side}`
            figures[`${prefix}_cpu_us`] = per(from.cpu, to.cpu) ?? 0
            const fiberOps = per(from.fiberOps, to.fiberOps)
            if (fiberOps !== undefined) {
              figures[`${prefix}_fiber_ops`] = fiberOps
              figures[`${prefix}_fiber_runs`] = per(from.fiberRuns, to.fiberRuns) ?? 0
              figures[`${prefix}_fiber_suspends`] = per(from.fiberSuspends, to.fiberSuspends) ?? 0
            }
          }
          if (serverBefore === undefined || serverAfter === undefined) report("", before, own)
          else {
            report("client", before, own)
            report("server", serverBefore, serverAfter)
          }
        }
        return Math.round(rate)
      }
      const perSecond = (rate: number, seconds: number) => rate * seconds
      if (cases.has("rtt")) figures.rtt_per_s = await timed("rtt", () => connected.roundTrips(RTT_MS), perSecond)
      const typedCalls = connected.typedCalls
      if (cases.has("call") && typedCalls !== undefined) {
        figures.call_rtt_per_s = await timed("call", () => typedCalls(RTT_MS), perSecond)
      }
      if (cases.has("pipelined")) {
        figures.pipelined_fields_per_s = await timed(
          "pipelined",
          () => connected.pipelined(PIPELINED),
          () => PIPELINED
        )
      }
      if (cases.has("stream")) {
        figures.stream_mb_per_s = await timed(
          "stream",
          () => connected.stream(STREAM_PACKETS),
          () => STREAM_PACKETS
        )
      }
      // The Promise API and observability cases run last: they run the same connection code
      // with other shapes (spans on), which would otherwise slow the cases after them.
      // the Promise API case (see above)
      if (cases.has("promise") && client === "effect-ncp") {
        figures.promise_rtt_per_s = Math.round(await promiseRoundTrips(running.port, RTT_MS))
      }
      // observability on, against a server of its own with it on too (see above)
      if (cases.has("traced") && client === "effect-ncp" && server === "effect-ncp") {
        const observed = shape === "two-process" ? await forkServer("effect-ncp-traced") : await listenObserved()
        try {
          figures.traced_rtt_per_s = Math.round(await tracedRoundTrips(observed.port, RTT_MS))
        } finally {
          await observed.close()
        }
      }
      return figures
    } finally {
      await connected.close()
    }
  } finally {
    await running.close()
  }
}

const main = async () => {
  const pairs = selectedPairs()
  const cases = new Set(Settings.list("cases", "BENCH_CASES", CASES) ?? CASES)
  const shapes = Settings.list("shapes", "BENCH_SHAPES", SHAPES) ?? SHAPES
  if (PIN) pin(CLIENT_CPU)
  for (const shape of shapes) {
    for (const [client, server] of pairs) {
      const selected = pairCases(server, cases)
      if (selected.size === 0) continue
      const figures = await measure(shape, client, server, selected)
      console.log(JSON.stringify({ shape, impl: implName(client, server), client, server, ...figures }))
    }
  }
}

const fail = (error: unknown) => {
  console.error(error)
  process.exitCode = 1
}

if (process.argv[2] === "server") runServerProcess(process.argv[3]).catch(fail)
else main().catch(fail)
