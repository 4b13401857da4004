/**
 * Load and abuse benchmark, on 127.0.0.1. The server under test runs in a child process of
 * its own (`load-server.ts`), so that its memory and event loop are its own; its RSS is read
 * from `/proc/PID/status` every 100 ms (peak: the larger of the samples and `VmHWM`), so a
 * stalled server is measured too. Honest clients run in this process, hostile ones in a
 * second child (`attacks.ts`). One JSON line per phase on stdout; progress on stderr.
 *
 * Phases (`--phases` / `LOAD_PHASES`, comma-separated, default all, in this order):
 * - `quiet`: `--clients` (1000) effect-ncp clients (`NodeNcp.connect`) each doing round trips
 *   (`DSPC ECHO {SEQN}`; a reply without the request's `SEQN` is misrouted) against the
 *   effect-ncp echo server for `--seconds` (5): round trips/s, p50/p99/max latency, failed,
 *   misrouted and unanswered requests, server RSS.
 * - `quiet-raw`: the same with `node:net` clients against the `node:net` echo server, both
 *   with our codec: the ceiling. Measured once per run (the raw server takes no options).
 * - `quiet-mixed`: `node:net` clients against the effect-ncp echo server (the server's share).
 * - `quiet-node`: effect-ncp clients asking `STAT` of the simulated node (what `ncp serve`
 *   runs); the baseline of the `expensive-commands` attack.
 * - `attacks`: `quiet` again while `--attackers` (10) hostile clients run each attack of
 *   `attacks.ts` (`--attacks`, default all), one kind at a time, each against a fresh server
 *   (the simulated node for `expensive-commands` and `slow-readers-16mib`, the echo server
 *   otherwise). Payloads are
 *   scaled to the server's packet limit, probed first (`--max-packet-bytes` skips the probe).
 *   Each line carries its goals: p99 under 5x the quiet p99, no failed, misrouted or
 *   unanswered request and no honest client refused, peak RSS under 1.5 GiB, the server
 *   alive. The attacks of issue 23 scale with their own settings: `slot-hold` (one address
 *   opens `--slot-hold-connections`, 2,000, before `--slot-hold-clients`, 800, honest clients
 *   connect: the server's 1,024 slots hold both), `slow-readers-16mib` (`--slow-readers`, 20,
 *   each reading `--slow-read-bytes-per-second`, 16,000), `tiny-segments`
 *   (`--tiny-segment-connections`, 20), `keepalive-flood` (`--flood-connections`, 20) and
 *   `connect-burst` (`--burst-connections`, 3,000, from `--burst-addresses`, 30); their lines
 *   add how the server greeted the hostile connections (`attack_helo`, `attack_busy`,
 *   `attack_failed`) and what the attackers wrote and read.
 * - `flood`: one effect-ncp client sends `STAT` to the simulated node every
 *   `--stat-interval-ms` (50), answered or not, while one hostile client floods the server
 *   (`--floods`: `expensive-commands`, `stat-flood`); goal: median under 100 ms.
 * - `idle`: `--idle-connections` (10,000) effect-ncp clients connect and stay idle for
 *   `--idle-seconds` (8) with a LINK timeout of `--idle-timeout` (10) s, so only keep-alives
 *   (every 6 s) keep them open: how many were held (capped 200 below the open-files limit;
 *   opening stops after 200 failures in a row or `--idle-open-seconds`, 60) and are still
 *   open, and per connection the server's RSS growth (`server_bytes_per_connection`) and live
 *   heap after a full collection (`server_heap_bytes_per_connection`; `bench_*` the same for
 *   the clients' process).
 *
 * Client addresses: the server counts connections per client address, so every honest client
 * connects from an address of its own (127.1.x.y, `addresses.ts`), the probe from 127.2.0.1 and
 * the hostile clients from 127.0.0.1 (the connect burst from 127.3.0.x).
 *
 * Latencies: each phase warms up for `--warmup-seconds` (1), then measures for `--seconds`.
 * With an attack, the window starts with it and lasts until every hostile client's first
 * payload has reached the kernel plus `--attack-settle-seconds` (3), if that is longer,
 * within `--attack-max-seconds` (20): a bomb still on its way has not been tested yet
 * (`attack_delivered_s`, `window_s`). Requests sent in that window and answered within 2 s after it count with their latency;
 * requests still unanswered then are `unanswered` and count in the percentiles with their
 * age (a lower bound), so a stalled server cannot look fast by answering nothing.
 *
 * After measuring, every phase checks that the server still answers a fresh client
 * (`server_responsive`, within `--probe-ms`, 3000), sends it SIGTERM and reports how long it
 * took to exit (`shutdown_ms`, `exit_code`; killed after `--shutdown-ms`, 10,000). Every wait
 * has a deadline: a server that dies or stalls is reported, and the run moves on.
 *
 * The server under test takes its options from `--server-options` / `LOAD_SERVER_OPTIONS`:
 * a JSON object passed to `NodeNcp.make` as it is, or an array of `{"label", "options"}` to
 * measure several configurations in one run (`@FILE` reads the JSON from a file). Default:
 * `[{"label":"defaults","options":{}}]`.
 *
 *   npm run bench:load
 *   npm run bench:load -- --phases=quiet,quiet-raw --clients=200 --seconds=3
 *   LOAD_SERVER_OPTIONS='[{"label":"defaults","options":{}},{"label":"1 MiB","options":{"maxPacketBytes":1048576}}]' npm run bench:load
 *
 * Other settings: `--client-timeout` (60, the LINK timeout honest clients ask),
 * `--expensive-commands` (20 per hostile client), `--drip-ms` (3000), `--connect-concurrency`
 * (50), `--close-ms` (5000), `--server-node-args` (Node options for the server process, e.g.
 * `--cpu-prof --cpu-prof-dir=.bench/profiles`), `--server-log` (a file to append the servers'
 * output to; it is always counted in `server_log_bytes`). Each setting is also an environment variable:
 * `LOAD_` and the name in capitals with underscores (`--idle-seconds` is `LOAD_IDLE_SECONDS`).
 */
import { type ChildProcess, fork } from "node:child_process"
import { createWriteStream, readFileSync, type WriteStream } from "node:fs"
import { monitorEventLoopDelay } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { Client, type Connection, Field, Transport } from "@effect-ncp/core"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Addresses from "./addresses.js"
import {
  ATTACKS,
  type Attack,
  type AttackerCommand,
  type AttackerMessage,
  FLOODS,
  MAX_ATTACK_PACKET_BYTES,
  partialPacketHead,
  runAttacker
} from "./attacks.js"
import { collectGarbage, runServer, type ServerKind, type ServerMessage, type StatsRequest } from "./load-server.js"
import * as Raw from "./raw.js"
import * as Settings from "./settings.js"

// --- settings ---

const PHASES = ["quiet", "quiet-raw", "quiet-mixed", "quiet-node", "attacks", "flood", "idle"] as const
type Phase = (typeof PHASES)[number]

const setting = (name: string, fallback: number): number =>
  Settings.number(name, `LOAD_${name.toUpperCase().replaceAll("-", "_")}`, fallback)

const MIB = 1024 * 1024
const ENTRY = fileURLToPath(import.meta.url)

/** One configuration of the server under test. */
interface ServerConfig {
  readonly label: string
  readonly options: Record<string, unknown>
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const parseServerConfigs = (text: string | undefined): ReadonlyArray<ServerConfig> => {
  if (text === undefined || text.trim() === "") return [{ label: "defaults", options: {} }]
  const json: unknown = JSON.parse(text.startsWith("@") ? readFileSync(text.slice(1), "utf8") : text)
  if (isRecord(json)) return [{ label: JSON.stringify(json), options: json }]
  if (Array.isArray(json)) {
    return json.map((entry, i) => {
      if (!isRecord(entry) || !isRecord(entry.options)) {
        throw new Error(`server options entry ${i}: want {"label": "...", "options": {...}}`)
      }
      return { label: typeof entry.label === "string" ? entry.label : `config ${i + 1}`, options: entry.options }
    })
  }
  throw new Error("server options: want a JSON object or an array of {label, options}")
}

const config = {
  phases: Settings.list("phases", "LOAD_PHASES", PHASES) ?? PHASES,
  attacks: Settings.list("attacks", "LOAD_ATTACKS", ATTACKS) ?? ATTACKS,
  floods: Settings.list("floods", "LOAD_FLOODS", FLOODS) ?? FLOODS,
  clients: setting("clients", 1000),
  seconds: setting("seconds", 5),
  warmupSeconds: setting("warmup-seconds", 1),
  attackers: setting("attackers", 10),
  idleConnections: setting("idle-connections", 10_000),
  idleSeconds: setting("idle-seconds", 8),
  idleTimeout: setting("idle-timeout", 10),
  idleOpenSeconds: setting("idle-open-seconds", 60),
  clientTimeout: setting("client-timeout", 60),
  maxPacketBytes: setting("max-packet-bytes", 0),
  expensiveCommands: setting("expensive-commands", 20),
  dripMillis: setting("drip-ms", 3000),
  statIntervalMillis: setting("stat-interval-ms", 50),
  attackSettleSeconds: setting("attack-settle-seconds", 3),
  attackMaxSeconds: setting("attack-max-seconds", 20),
  connectConcurrency: setting("connect-concurrency", 50),
  probeMillis: setting("probe-ms", 3000),
  shutdownMillis: setting("shutdown-ms", 10_000),
  closeMillis: setting("close-ms", 5000),
  slotHoldConnections: setting("slot-hold-connections", 2000),
  slotHoldClients: setting("slot-hold-clients", 800),
  slowReaders: setting("slow-readers", 20),
  slowReadBytesPerSecond: setting("slow-read-bytes-per-second", 16_000),
  tinySegmentConnections: setting("tiny-segment-connections", 20),
  floodConnections: setting("flood-connections", 20),
  burstConnections: setting("burst-connections", 3000),
  burstAddresses: setting("burst-addresses", 30),
  serverConfigs: parseServerConfigs(Settings.text("server-options", "LOAD_SERVER_OPTIONS")),
  serverNodeArgs: (Settings.text("server-node-args", "LOAD_SERVER_NODE_ARGS") ?? "").split(" ").filter((a) => a !== "")
}

/** Where the servers' output goes, besides being counted: `--server-log=FILE` (opened by `main`). */
let serverLog: WriteStream | undefined

// --- small helpers ---

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const progress = (message: string) => console.error(`load: ${message}`)
const round = (value: number, digits = 2) => Math.round(value * 10 ** digits) / 10 ** digits
const mib = (bytes: number | undefined) => (bytes === undefined ? null : round(bytes / MIB, 1))
const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** `promise`'s value, or `undefined` once `ms` have passed. */
const within = <A>(promise: Promise<A>, ms: number): Promise<A | undefined> =>
  Promise.race([promise, sleep(ms).then(() => undefined)])

/** What went wrong in an Effect, in one line. */
const describeCause = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  if (isRecord(error) && typeof error._tag === "string") {
    return typeof error.message === "string" && error.message !== "" ? `${error._tag}: ${error.message}` : error._tag
  }
  return messageOf(error)
}

/** The client side's logs go to stderr (stdout carries the figures), errors only. */
const clientLogs = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  effect.pipe(
    Effect.provideService(Logger.LogToStderr, true),
    Effect.provideService(References.MinimumLogLevel, "Error")
  )

/** Runs an Effect; its failure rejects with a one-line description. */
const attempt = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(clientLogs(effect)).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw new Error(describeCause(exit.cause))
  })

/** Percentile by nearest rank over sorted samples. */
const percentile = (sorted: Float64Array, p: number): number | null =>
  sorted.length === 0
    ? null
    : (sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? null)

/** A process's resident memory from `/proc`, `undefined` once it has gone (or off Linux). */
const procMemory = (pid: number | undefined): { rssBytes: number; hwmBytes: number } | undefined => {
  if (pid === undefined) return undefined
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8")
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN) * 1024
    const rssBytes = kib("VmRSS")
    return Number.isFinite(rssBytes) ? { rssBytes, hwmBytes: kib("VmHWM") } : undefined
  } catch {
    return undefined
  }
}

/** The soft limit on open files of this process, from `/proc`. */
const openFilesLimit = (): number | null => {
  try {
    const match = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"))
    return match?.[1] === undefined ? null : Number(match[1])
  } catch {
    return null
  }
}

/** A type guard for IPC messages of one `type`. */
const isMessage =
  <M extends { readonly type: string }>(type: M["type"]) =>
  (message: unknown): message is M =>
    isRecord(message) && message.type === type

/** The next IPC message of that type, or a rejection when the process exits or `ms` pass. */
const nextMessage = <M extends { readonly type: string }>(
  child: ChildProcess,
  guard: (message: unknown) => message is M,
  ms: number
): Promise<M> =>
  new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer)
      child.off("message", onMessage)
      child.off("exit", onExit)
    }
    const onMessage = (message: unknown) => {
      if (!guard(message)) return
      cleanup()
      resolve(message)
    }
    const onExit = (code: number | null, signal: string | null) => {
      cleanup()
      reject(new Error(`process exited (${signal ?? `code ${code}`})`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`no answer within ${ms} ms`))
    }, ms)
    child.on("message", onMessage)
    child.on("exit", onExit)
  })

// --- the server process ---

interface ServerProcess {
  readonly kind: ServerKind
  port: number
  readonly child: ChildProcess
  readonly exited: Promise<void>
  exit: { readonly code: number | null; readonly signal: string | null; readonly at: number } | undefined
  peakRssBytes: number
  lastRssBytes: number | undefined
  logBytes: number
  logTail: string
  readonly sampler: ReturnType<typeof setInterval>
}

const isListening = isMessage<Extract<ServerMessage, { type: "listening" }>>("listening")
const isServerStats = isMessage<Extract<ServerMessage, { type: "stats" }>>("stats")

const sampleMemory = (server: ServerProcess): void => {
  if (server.exit !== undefined) return
  const memory = procMemory(server.child.pid)
  if (memory === undefined) return
  server.lastRssBytes = memory.rssBytes
  server.peakRssBytes = Math.max(server.peakRssBytes, memory.rssBytes, memory.hwmBytes)
}

const startServer = async (kind: ServerKind, options: Record<string, unknown>): Promise<ServerProcess> => {
  const child = fork(ENTRY, ["server", kind, JSON.stringify(options)], {
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    execArgv: config.serverNodeArgs
  })
  const server: ServerProcess = {
    kind,
    port: 0,
    child,
    exited: new Promise((resolve) => child.once("exit", () => resolve())),
    exit: undefined,
    peakRssBytes: 0,
    lastRssBytes: undefined,
    logBytes: 0,
    logTail: "",
    sampler: setInterval(() => sampleMemory(server), 100)
  }
  // the server's log output is counted (a log storm is a figure) and its end kept for errors
  serverLog?.write(`--- ${kind} server, process ${child.pid}\n`)
  const onLog = (chunk: Buffer) => {
    serverLog?.write(chunk)
    server.logBytes += chunk.length
    server.logTail = (server.logTail + chunk.toString("utf8")).slice(-8000)
  }
  child.stdout?.on("data", onLog)
  child.stderr?.on("data", onLog)
  // an IPC message to a process that has just died fails here, not as an uncaught error
  child.on("error", (error) => progress(`server process: ${error.message}`))
  child.once("exit", (code, signal) => {
    server.exit = { code, signal, at: performance.now() }
    clearInterval(server.sampler)
  })
  try {
    server.port = (await nextMessage(child, isListening, 15_000)).port
    return server
  } catch (error) {
    child.kill("SIGKILL")
    throw new Error(`the ${kind} server did not start: ${messageOf(error)}; it said: ${server.logTail.trim()}`)
  }
}

const serverStats = async (server: ServerProcess, reset: boolean, ms: number, gc = false) => {
  if (server.exit !== undefined || !server.child.connected) return undefined
  const request: StatsRequest = { type: "stats", reset, gc }
  server.child.send(request)
  return nextMessage(server.child, isServerStats, ms).catch(() => undefined)
}

/**
 * SIGTERM, then how long the server took to exit; SIGKILL after `--shutdown-ms`. A server
 * that had already died reports how it died.
 */
const terminate = async (server: ServerProcess) => {
  if (server.exit !== undefined) {
    return { shutdown_ms: null, exit_code: server.exit.code, exit_signal: server.exit.signal, killed: false }
  }
  const start = performance.now()
  server.child.kill("SIGTERM")
  await within(server.exited, config.shutdownMillis)
  const exit = exitOf(server)
  if (exit === undefined) {
    server.child.kill("SIGKILL")
    await within(server.exited, 5000)
    return { shutdown_ms: null, exit_code: null, exit_signal: "SIGKILL", killed: true }
  }
  return { shutdown_ms: Math.round(exit.at - start), exit_code: exit.code, exit_signal: exit.signal, killed: false }
}

/**
 * Whether the server ended by a signal of its own (an abort on running out of heap, a crash)
 * rather than the SIGTERM or SIGKILL sent to it: a server dying while the phase ends (the
 * exit event can come seconds after a fatal error) did not survive.
 */
const crashed = (shutdown: { readonly exit_signal: string | null }): boolean =>
  shutdown.exit_signal !== null && shutdown.exit_signal !== "SIGTERM" && shutdown.exit_signal !== "SIGKILL"

/** The line of a dead server's output that says why: a fatal error's, else its last. */
const lastWords = (output: string): string => {
  const lines = output.trim().split("\n")
  return lines.find((line) => /FATAL|Error/.test(line)) ?? lines[lines.length - 1] ?? ""
}

/** How the server process ended, read afresh (it changes across awaits). */
const exitOf = (server: ServerProcess) => server.exit

// --- honest clients ---

type Request = "echo" | "stat"

/** What the honest clients record while a phase is measured. */
interface Recorder {
  recording: boolean
  stopped: boolean
  nextSeqn: number
  latencies: Array<number>
  failed: number
  misrouted: number
  firstFailure: string | undefined
  /** When each request in flight was sent, by its SEQN. */
  readonly inFlight: Map<number, number>
}

const makeRecorder = (): Recorder => ({
  recording: true,
  stopped: false,
  nextSeqn: 1,
  latencies: [],
  failed: 0,
  misrouted: 0,
  firstFailure: undefined,
  inFlight: new Map()
})

const completed = (recorder: Recorder, start: number, matches: boolean): void => {
  if (!recorder.recording) return
  recorder.latencies.push(performance.now() - start)
  if (!matches) recorder.misrouted++
}

const failed = (recorder: Recorder, reason: string): void => {
  if (!recorder.recording) return
  recorder.failed++
  recorder.firstFailure ??= reason
}

/** Resolves once no request is in flight, or after `ms`. */
const settle = async (recorder: Recorder, ms: number): Promise<void> => {
  const until = performance.now() + ms
  while (recorder.inFlight.size > 0 && performance.now() < until) await sleep(10)
}

/**
 * The figures of one measured window, from `started` to `ended` (when `answered` replies had
 * come). Requests sent in the window and answered after it count in the latencies; those
 * still unanswered count with their age so far, a lower bound.
 */
const summarize = (recorder: Recorder, started: number, ended: number, answered: number) => {
  const now = performance.now()
  recorder.recording = false
  const unanswered: Array<number> = []
  for (const sent of recorder.inFlight.values()) unanswered.push(now - Math.max(sent, started))
  const samples = Float64Array.from([...recorder.latencies, ...unanswered]).sort()
  return {
    requests: answered,
    rtt_per_s: Math.round(answered / ((ended - started) / 1000)),
    p50_ms: nullableRound(percentile(samples, 50)),
    p99_ms: nullableRound(percentile(samples, 99)),
    max_ms: nullableRound(percentile(samples, 100)),
    failed: recorder.failed,
    misrouted: recorder.misrouted,
    unanswered: unanswered.length,
    first_failure: recorder.firstFailure ?? null
  }
}

const nullableRound = (value: number | null) => (value === null ? null : round(value))

/** Clients connected to the server under test, able to run request loops. */
interface Honest {
  readonly connected: number
  readonly connectFailures: number
  readonly firstConnectError: string | undefined
  readonly connectMillis: number
  /** Starts the request loops: closed (each client waits for its reply), or paced. */
  readonly start: (recorder: Recorder, request: Request, paceMillis?: number) => void
  /** Ends the request loops (waiting at most a second each for them to notice). */
  readonly stop: () => Promise<void>
  /** Closes every connection (at most `--close-ms`). */
  readonly close: () => Promise<void>
}

/** Failures in a row after which opening stops: descriptors or the server have run out. */
const GIVE_UP_AFTER = 200

/**
 * Opens `count` connections, `--connect-concurrency` at a time, until too many fail in a row
 * or `deadlineMillis` has passed (none are started after it).
 */
const connectMany = async <A>(
  count: number,
  connectOne: () => Promise<A>,
  deadlineMillis = Number.POSITIVE_INFINITY
) => {
  const items: Array<A> = []
  let failures = 0
  let inARow = 0
  let firstError: string | undefined
  let next = 0
  const start = performance.now()
  const worker = async () => {
    while (next < count && inARow < GIVE_UP_AFTER && performance.now() - start < deadlineMillis) {
      next++
      try {
        items.push(await connectOne())
        inARow = 0
      } catch (error) {
        failures++
        inARow++
        firstError ??= messageOf(error)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(count, config.connectConcurrency) }, worker))
  const stoppedBy = items.length === count ? "target" : inARow >= GIVE_UP_AFTER ? "failures" : "deadline"
  return { items, failures, firstError, stoppedBy, millis: performance.now() - start }
}

const echoParams = (seqn: number) => [{ name: "SEQN", value: Raw.i32(seqn) }]

/**
 * Honest effect-ncp clients: `Client.connect` over `node:net` (as `NodeNcp.connect`), each from
 * an address of its own, one request loop per connection, in one fiber.
 */
const effectHonest = async (port: number, count: number, timeout: number, deadlineMillis?: number) => {
  const scope = Scope.makeUnsafe("parallel")
  let index = 0
  const opened = await connectMany(
    count,
    () =>
      attempt(
        Client.connect({ host: Raw.HOST, port, timeout: Duration.seconds(timeout) }).pipe(
          Effect.provideService(Transport.Transport, Addresses.boundTransport(Addresses.honestAddress(index++))),
          Scope.provide(scope),
          Effect.timeout(Duration.seconds(15))
        )
      ),
    deadlineMillis
  )
  let fiber: Fiber.Fiber<void> | undefined
  let done: Promise<void> = Promise.resolve()
  /** One request, recorded. */
  const requestOnce = (connection: Connection.Connection, recorder: Recorder, request: Request) =>
    Effect.suspend(() => {
      const seqn = recorder.nextSeqn++
      const start = performance.now()
      recorder.inFlight.set(seqn, start)
      return Effect.result(
        request === "echo" ? connection.request("DSPC", "ECHO", echoParams(seqn)) : connection.request("STAT", "STAT")
      ).pipe(
        Effect.map((result) => {
          recorder.inFlight.delete(seqn)
          if (Result.isFailure(result)) {
            failed(recorder, `${result.failure._tag}: ${result.failure.message}`)
            return false
          }
          const reply = result.success
          completed(
            recorder,
            start,
            request === "echo"
              ? Field.get(reply, "SEQN") === seqn
              : reply.packetType === "STAT" && reply.name === "STAT" && Field.get(reply, "STAT") === "OK"
          )
          return true
        })
      )
    })
  // closed loop: the next request when the reply came; paced: one request every `paceMillis`,
  // whether the last one was answered or not, so a stall shows in every request it delays
  const loop = (connection: Connection.Connection, recorder: Recorder, request: Request, paceMillis?: number) =>
    Effect.gen(function* () {
      while (!recorder.stopped) {
        if (paceMillis === undefined) {
          if (!(yield* requestOnce(connection, recorder, request))) return
        } else {
          yield* Effect.forkDetach(requestOnce(connection, recorder, request))
          yield* Effect.sleep(Duration.millis(paceMillis))
        }
      }
    })
  const honest: Honest & {
    readonly connections: ReadonlyArray<Connection.Connection>
    readonly stoppedBy: string
  } = {
    connections: opened.items,
    stoppedBy: opened.stoppedBy,
    connected: opened.items.length,
    connectFailures: opened.failures,
    firstConnectError: opened.firstError,
    connectMillis: opened.millis,
    start: (recorder, request, paceMillis) => {
      const running = Effect.runFork(
        clientLogs(
          Effect.forEach(opened.items, (connection) => loop(connection, recorder, request, paceMillis), {
            concurrency: "unbounded",
            discard: true
          })
        )
      )
      fiber = running
      done = new Promise((resolve) => running.addObserver(() => resolve()))
    },
    stop: async () => {
      if (fiber === undefined) return
      const running = fiber
      if ((await within(done, 1000)) === undefined) {
        Effect.runFork(Fiber.interrupt(running))
        await within(done, 1000)
      }
    },
    close: async () => {
      await within(attempt(Scope.close(scope, Exit.void)), config.closeMillis)
    }
  }
  return honest
}

/** Honest `node:net` clients: raw sockets, our codec, a hand-written handshake, each from an address of its own. */
const rawHonest = async (port: number, count: number, timeout: number): Promise<Honest> => {
  let index = 0
  const opened = await connectMany(count, () =>
    Addresses.connectRawFrom(port, Addresses.honestAddress(index++), { timeout, stepMillis: 5000 })
  )
  let loops: Promise<unknown> = Promise.resolve()
  const loop = async (peer: Raw.RawPeer, recorder: Recorder, request: Request) => {
    while (!recorder.stopped) {
      const seqn = recorder.nextSeqn++
      const bytes = Raw.encode(
        request === "echo"
          ? { type: "DSPC", fields: [{ name: "ECHO", id: seqn, params: echoParams(seqn) }] }
          : { type: "STAT", fields: [{ name: "STAT", id: seqn, params: [] }] }
      )
      const start = performance.now()
      recorder.inFlight.set(seqn, start)
      try {
        const reply = await peer.request(bytes, Raw.answer)
        recorder.inFlight.delete(seqn)
        completed(recorder, start, request === "echo" ? Raw.paramOf(reply, "SEQN") === seqn : reply.id === seqn)
      } catch (error) {
        recorder.inFlight.delete(seqn)
        failed(recorder, messageOf(error))
        return
      }
    }
  }
  return {
    connected: opened.items.length,
    connectFailures: opened.failures,
    firstConnectError: opened.firstError,
    connectMillis: opened.millis,
    start: (recorder, request) => {
      loops = Promise.all(opened.items.map((peer) => loop(peer, recorder, request)))
    },
    stop: async () => {
      await within(loops, 1000)
    },
    close: async () => {
      for (const peer of opened.items) peer.destroy()
    }
  }
}

/** A fresh client's handshake and one request, within `--probe-ms`: is the server still serving? */
const probe = async (port: number, request: Request) => {
  const start = performance.now()
  let peer: Raw.RawPeer | undefined
  try {
    await Raw.deadline(
      (async () => {
        peer = new Raw.RawPeer(await Addresses.connectFrom(port, Addresses.PROBE_ADDRESS))
        await Raw.clientHandshake(peer, { stepMillis: config.probeMillis })
        const bytes = Raw.encode(
          request === "echo"
            ? { type: "DSPC", fields: [{ name: "ECHO", id: 1, params: echoParams(1) }] }
            : { type: "STAT", fields: [{ name: "STAT", id: 1, params: [] }] }
        )
        await peer.request(bytes, Raw.answer)
      })(),
      config.probeMillis,
      "probe"
    )
    return { server_responsive: true, probe_ms: round(performance.now() - start) }
  } catch (error) {
    return { server_responsive: false, probe_ms: null, probe_error: messageOf(error) }
  } finally {
    peer?.destroy()
  }
}

// --- the attacker process ---

const isReady = isMessage<Extract<AttackerMessage, { type: "ready" }>>("ready")
const isAttackerStats = isMessage<Extract<AttackerMessage, { type: "stats" }>>("stats")
const isDelivered = isMessage<Extract<AttackerMessage, { type: "delivered" }>>("delivered")

const startAttacker = async (attack: Attack, port: number, attackers: number, maxPacketBytes: number) => {
  const child = fork(ENTRY, ["attacker"], { stdio: ["ignore", "ignore", "inherit", "ipc"] })
  child.on("error", (error) => progress(`attacker process: ${error.message}`))
  const command = (message: AttackerCommand) => {
    if (child.connected) child.send(message)
  }
  command({
    type: "prepare",
    attack,
    port,
    attackers,
    maxPacketBytes,
    expensiveCommands: config.expensiveCommands,
    dripMillis: config.dripMillis,
    slowReadBytesPerSecond: config.slowReadBytesPerSecond,
    burstAddresses: config.burstAddresses
  })
  try {
    const ready = await nextMessage(child, isReady, 30_000)
    return {
      ready,
      /** Starts the attack; resolves with the ms until every first payload was delivered. */
      go: (): Promise<number | undefined> => {
        command({ type: "go" })
        return nextMessage(child, isDelivered, config.attackMaxSeconds * 1000)
          .then((message) => message.millis)
          .catch(() => undefined)
      },
      stats: () => {
        command({ type: "stats" })
        // a busy attacker process may take a moment to answer
        return nextMessage(child, isAttackerStats, 5000).catch(() => undefined)
      },
      kill: () => child.kill("SIGKILL")
    }
  } catch (error) {
    child.kill("SIGKILL")
    throw new Error(`the attackers did not get ready: ${messageOf(error)}`)
  }
}

// --- phases ---

interface PhaseSpec {
  readonly phase: Phase
  readonly label: Record<string, unknown>
  readonly server: ServerKind
  readonly options: Record<string, unknown>
  readonly client: "effect-ncp" | "node:net"
  readonly clients: number
  readonly request: Request
  /** Send a request every so many ms instead of when the last reply came. */
  readonly paceMillis?: number | undefined
  readonly attack?:
    | {
        readonly kind: Attack
        readonly attackers: number
        readonly maxPacketBytes: number
        /** The hostile connections open before the honest clients connect (they hold slots). */
        readonly first?: boolean | undefined
      }
    | undefined
}

const clientLoopDelay = monitorEventLoopDelay({ resolution: 10 })
clientLoopDelay.enable()

/** Runs one measured phase against a fresh server process and returns its JSON line. */
const runPhase = async (spec: PhaseSpec): Promise<Record<string, unknown>> => {
  const line: Record<string, unknown> = {
    bench: "load",
    phase: spec.phase,
    ...spec.label,
    server: spec.server,
    client: spec.client,
    clients: spec.clients,
    seconds: config.seconds
  }
  const server = await startServer(spec.server, spec.options)
  let honest: Honest | undefined
  let attacker: Awaited<ReturnType<typeof startAttacker>> | undefined
  const describeAttackers = () => {
    if (attacker === undefined || spec.attack === undefined) return {}
    return {
      attackers: spec.attack.attackers,
      attackers_connected: attacker.ready.connected,
      attack_payload_bytes: attacker.ready.payloadBytes,
      ...(attacker.ready.firstError === undefined ? {} : { attacker_error: attacker.ready.firstError })
    }
  }
  try {
    if (spec.attack?.first === true) {
      attacker = await startAttacker(spec.attack.kind, server.port, spec.attack.attackers, spec.attack.maxPacketBytes)
      Object.assign(line, describeAttackers())
    }
    honest =
      spec.client === "effect-ncp"
        ? await effectHonest(server.port, spec.clients, config.clientTimeout)
        : await rawHonest(server.port, spec.clients, config.clientTimeout)
    Object.assign(line, {
      connected: honest.connected,
      connect_failures: honest.connectFailures,
      connect_s: round(honest.connectMillis / 1000),
      ...(honest.firstConnectError === undefined ? {} : { first_connect_error: honest.firstConnectError })
    })
    if (spec.attack !== undefined && attacker === undefined) {
      attacker = await startAttacker(spec.attack.kind, server.port, spec.attack.attackers, spec.attack.maxPacketBytes)
      Object.assign(line, describeAttackers())
    }
    const rssBefore = server.lastRssBytes
    const recorder = makeRecorder()
    honest.start(recorder, spec.request, spec.paceMillis)
    await sleep(config.warmupSeconds * 1000)
    // the measured window starts here, with the attack
    recorder.latencies = []
    recorder.failed = 0
    recorder.misrouted = 0
    await serverStats(server, true, 1000)
    clientLoopDelay.reset()
    const delivery = attacker?.go()
    const started = performance.now()
    await sleep(config.seconds * 1000)
    let deliveredMillis: number | undefined
    if (delivery !== undefined) {
      // a payload still on its way has not hit the server yet: measure until it has, and a
      // little after, within --attack-max-seconds
      const maxEnd = started + config.attackMaxSeconds * 1000
      deliveredMillis = await within(delivery, Math.max(0, maxEnd - performance.now()))
      const end = Math.min(maxEnd, started + (deliveredMillis ?? 0) + config.attackSettleSeconds * 1000)
      if (end > performance.now()) await sleep(end - performance.now())
    }
    const ended = performance.now()
    const answered = recorder.latencies.length
    const clientDelayMax = clientLoopDelay.max / 1e6
    recorder.stopped = true
    await settle(recorder, 2000)
    const figures = summarize(recorder, started, ended, answered)
    await honest.stop()
    const stats = await serverStats(server, false, 1000)
    sampleMemory(server)
    const probed = await probe(server.port, spec.request)
    const attackStats = await attacker?.stats()
    const aliveAtSigterm = exitOf(server) === undefined
    const shutdown = await terminate(server)
    const alive = aliveAtSigterm && !crashed(shutdown)
    attacker?.kill()
    Object.assign(line, figures, {
      window_s: round((ended - started) / 1000),
      ...(spec.attack === undefined
        ? {}
        : { attack_delivered_s: deliveredMillis === undefined ? null : round(deliveredMillis / 1000) }),
      server_survived: alive,
      ...probed,
      server_rss_before_mb: mib(rssBefore),
      server_rss_mb: mib(server.lastRssBytes),
      server_peak_rss_mb: mib(server.peakRssBytes),
      server_loop_delay_max_ms: stats === undefined ? null : round(stats.loopDelayMaxMs),
      server_stalled: alive && stats === undefined,
      server_log_bytes: server.logBytes,
      client_loop_delay_max_ms: round(clientDelayMax),
      ...shutdown,
      ...(attackStats === undefined
        ? {}
        : {
            attack_bytes_sent: attackStats.bytesSent,
            attack_packets_sent: attackStats.packetsSent,
            attack_writes: attackStats.writes,
            attack_bytes_read: attackStats.bytesRead,
            attack_helo: attackStats.greetings.helo,
            attack_busy: attackStats.greetings.busy,
            attack_failed: attackStats.greetings.failed,
            ...(attackStats.greetings.firstFailure === undefined
              ? {}
              : { attack_first_failure: attackStats.greetings.firstFailure }),
            attackers_dropped: attackStats.dropped,
            ...(attackStats.firstDropReason === undefined ? {} : { attacker_drop_reason: attackStats.firstDropReason })
          })
    })
    if (!alive) progress(`the server died: ${lastWords(server.logTail)}`)
    return line
  } finally {
    attacker?.kill()
    if (server.exit === undefined) server.child.kill("SIGKILL")
    await honest?.close()
  }
}

/**
 * The server's packet limit, found by declaring packets on fresh connections: a limit refuses
 * the header at once (the connection ends or gets LINK ERRO), a size within it leaves the
 * server waiting for the body. First the powers of two from 64 KiB to 64 MiB, then eighths
 * between the largest accepted and the next: the limit to within 1/8.
 */
const probePacketLimit = async (options: Record<string, unknown>): Promise<number> => {
  const server = await startServer("effect-ncp-echo", options)
  const accepts = async (size: number): Promise<boolean> => {
    const peer = await Raw.connectRaw(server.port).catch(() => undefined)
    if (peer === undefined) return false
    const refused = new Promise<boolean>((resolve) => {
      peer.onClose(() => resolve(true))
      peer.onPacket = (packet) => {
        if (packet.type === "LINK" && packet.fields.some((field) => field.name === "ERRO")) resolve(true)
      }
    })
    peer.socket.write(partialPacketHead(size))
    const verdict = await within(refused, 1500)
    peer.destroy()
    return verdict === undefined
  }
  const largestAccepted = async (sizes: ReadonlyArray<number>) => {
    const verdicts = await Promise.all(sizes.map(accepts))
    return sizes.filter((_, i) => verdicts[i]).reduce((largest, size) => Math.max(largest, size), 0)
  }
  try {
    const power = await largestAccepted(Array.from({ length: 11 }, (_, i) => MAX_ATTACK_PACKET_BYTES / 2 ** i))
    if (power === 0) return MAX_ATTACK_PACKET_BYTES / 2 ** 11
    if (power === MAX_ATTACK_PACKET_BYTES) return power
    return Math.max(power, await largestAccepted(Array.from({ length: 7 }, (_, k) => power + ((k + 1) * power) / 8)))
  } finally {
    await terminate(server)
  }
}

/** Idle connections held with keep-alives, and the server's memory per connection. */
const runIdle = async (
  serverConfig: ServerConfig,
  label: Record<string, unknown>
): Promise<Record<string, unknown>> => {
  // keep descriptors for the probe and the process itself: this process and the server's
  // each hold one per connection, and both have the same limit
  const fdLimit = openFilesLimit()
  const target = fdLimit === null ? config.idleConnections : Math.min(config.idleConnections, fdLimit - 200)
  const server = await startServer("effect-ncp-echo", serverConfig.options)
  let honest: Awaited<ReturnType<typeof effectHonest>> | undefined
  try {
    await sleep(500)
    sampleMemory(server)
    const rssBefore = server.lastRssBytes
    const benchBefore = process.memoryUsage().rss
    // Live objects alone, after a full collection on both sides: RSS also counts garbage not
    // yet collected and heap reserved but unused, which vary from run to run.
    const heapBefore = (await serverStats(server, false, 5000, true))?.heapUsedBytes
    collectGarbage()
    const benchHeapBefore = process.memoryUsage().heapUsed
    progress(`idle: opening ${target} connections`)
    honest = await effectHonest(server.port, target, config.idleTimeout, config.idleOpenSeconds * 1000)
    let closedDuringHold = 0
    for (const connection of honest.connections) {
      Effect.runFork(clientLogs(Effect.tap(connection.closed, () => Effect.sync(() => closedDuringHold++))))
    }
    progress(`idle: holding ${honest.connected} connections for ${config.idleSeconds} s`)
    await sleep(config.idleSeconds * 1000)
    const stillOpen = honest.connected - closedDuringHold
    sampleMemory(server)
    const rssAfter = server.lastRssBytes
    const stats = await serverStats(server, false, 5000, true)
    collectGarbage()
    const benchHeapAfter = process.memoryUsage().heapUsed
    const probed = await probe(server.port, "echo")
    const aliveAtSigterm = exitOf(server) === undefined
    const shutdown = await terminate(server)
    const alive = aliveAtSigterm && !crashed(shutdown)
    const perConnection =
      rssBefore !== undefined && rssAfter !== undefined && honest.connected > 0
        ? Math.round((rssAfter - rssBefore) / honest.connected)
        : null
    return {
      bench: "load",
      phase: "idle",
      ...label,
      server: "effect-ncp-echo",
      client: "effect-ncp",
      target: config.idleConnections,
      ...(target < config.idleConnections ? { target_capped_by_open_files_limit: target } : {}),
      held: honest.connected,
      still_open: stillOpen,
      connect_failures: honest.connectFailures,
      ...(honest.firstConnectError === undefined ? {} : { first_connect_error: honest.firstConnectError }),
      opening_stopped_by: honest.stoppedBy,
      connect_s: round(honest.connectMillis / 1000),
      hold_s: config.idleSeconds,
      timeout_s: config.idleTimeout,
      server_survived: alive,
      ...probed,
      server_rss_before_mb: mib(rssBefore),
      server_rss_mb: mib(rssAfter),
      server_peak_rss_mb: mib(server.peakRssBytes),
      server_bytes_per_connection: perConnection,
      server_heap_bytes_per_connection:
        heapBefore !== undefined && stats !== undefined && honest.connected > 0
          ? Math.round((stats.heapUsedBytes - heapBefore) / honest.connected)
          : null,
      server_loop_delay_max_ms: stats === undefined ? null : round(stats.loopDelayMaxMs),
      server_log_bytes: server.logBytes,
      bench_bytes_per_connection:
        honest.connected > 0 ? Math.round((process.memoryUsage().rss - benchBefore) / honest.connected) : null,
      bench_heap_bytes_per_connection:
        honest.connected > 0 ? Math.round((benchHeapAfter - benchHeapBefore) / honest.connected) : null,
      open_files_limit: fdLimit,
      ...shutdown
    }
  } finally {
    if (server.exit === undefined) server.child.kill("SIGKILL")
    await honest?.close()
  }
}

/** How many honest clients and hostile connections an attack runs with. */
const attackScale = (kind: Attack): { readonly clients: number; readonly attackers: number } => {
  switch (kind) {
    case "slot-hold":
      // the honest clients and the held slots both fit the default 1,024 connections
      return { clients: Math.min(config.clients, config.slotHoldClients), attackers: config.slotHoldConnections }
    case "slow-readers-16mib":
      return { clients: config.clients, attackers: config.slowReaders }
    case "tiny-segments":
      return { clients: config.clients, attackers: config.tinySegmentConnections }
    case "keepalive-flood":
      return { clients: config.clients, attackers: config.floodConnections }
    case "connect-burst":
      return { clients: config.clients, attackers: config.burstConnections }
    default:
      return { clients: config.clients, attackers: config.attackers }
  }
}

/** Quiet p99 per server kind, per configuration, for the attack lines' goal. */
const quietP99 = new Map<string, number>()

const GIB = 1024 * MIB

const withGoals = (line: Record<string, unknown>, quiet: number | undefined): Record<string, unknown> => {
  const p99 = typeof line.p99_ms === "number" ? line.p99_ms : undefined
  const peak = typeof line.server_peak_rss_mb === "number" ? line.server_peak_rss_mb * MIB : undefined
  const ratio = p99 !== undefined && quiet !== undefined && quiet > 0 ? round(p99 / quiet, 1) : null
  const goals = {
    p99_under_5x_quiet: ratio === null ? null : ratio < 5,
    no_failures:
      line.failed === 0 && line.misrouted === 0 && line.unanswered === 0 && (line.connect_failures ?? 0) === 0,
    peak_rss_under_1_5_gib: peak === undefined ? null : peak < 1.5 * GIB,
    survived: line.server_survived === true
  }
  return {
    ...line,
    quiet_p99_ms: quiet ?? null,
    p99_vs_quiet: ratio,
    goals,
    // false when a goal is missed, null when one could not be judged (no quiet phase to compare)
    goals_met: Object.values(goals).some((met) => met === false)
      ? false
      : Object.values(goals).every((met) => met === true)
        ? true
        : null
  }
}

const emit = (line: Record<string, unknown>) => console.log(JSON.stringify(line))

/** Runs a phase; a phase that fails is reported as a line with its error, and the run goes on. */
const guarded = async (name: string, label: Record<string, unknown>, run: () => Promise<Record<string, unknown>>) => {
  progress(name)
  try {
    const line = await run()
    emit(line)
    return line
  } catch (error) {
    emit({ bench: "load", phase: name, ...label, error: messageOf(error) })
    return undefined
  }
}

const main = async () => {
  const serverLogPath = Settings.text("server-log", "LOAD_SERVER_LOG")
  if (serverLogPath !== undefined && serverLogPath !== "") serverLog = createWriteStream(serverLogPath, { flags: "a" })
  const phases = new Set(config.phases)
  let rawDone = false
  for (const serverConfig of config.serverConfigs) {
    const label = { options: serverConfig.label }
    const options = serverConfig.options
    const quiet = (phase: Phase, server: ServerKind, client: "effect-ncp" | "node:net", request: Request) =>
      guarded(phase, label, async () => {
        const line = await runPhase({ phase, label, server, options, client, clients: config.clients, request })
        if (typeof line.p99_ms === "number" && client === "effect-ncp") {
          quietP99.set(`${serverConfig.label}/${server}`, line.p99_ms)
        }
        return line
      })
    if (phases.has("quiet")) await quiet("quiet", "effect-ncp-echo", "effect-ncp", "echo")
    // the raw server takes no options: its ceiling is measured once
    if (phases.has("quiet-raw") && !rawDone) {
      await quiet("quiet-raw", "node:net-echo", "node:net", "echo")
      rawDone = true
    }
    if (phases.has("quiet-mixed")) await quiet("quiet-mixed", "effect-ncp-echo", "node:net", "echo")
    if (phases.has("quiet-node")) await quiet("quiet-node", "effect-ncp-node", "effect-ncp", "stat")

    if (phases.has("attacks") || phases.has("flood")) {
      let maxPacketBytes = config.maxPacketBytes
      if (maxPacketBytes <= 0) {
        progress("probing the server's packet limit")
        maxPacketBytes = await probePacketLimit(options).catch((error: unknown) => {
          progress(`packet limit probe failed (${messageOf(error)}); assuming 64 MiB`)
          return MAX_ATTACK_PACKET_BYTES
        })
      }
      const limitLabel = { ...label, max_packet_bytes: maxPacketBytes }
      if (phases.has("attacks")) {
        for (const kind of config.attacks) {
          const server: ServerKind =
            kind === "expensive-commands" || kind === "slow-readers-16mib" ? "effect-ncp-node" : "effect-ncp-echo"
          const request: Request = server === "effect-ncp-node" ? "stat" : "echo"
          const scale = attackScale(kind)
          await guarded(`attack ${kind}`, { ...limitLabel, attack: kind }, async () =>
            withGoals(
              await runPhase({
                phase: "attacks",
                label: { ...limitLabel, attack: kind },
                server,
                options,
                client: "effect-ncp",
                clients: scale.clients,
                request,
                attack: { kind, attackers: scale.attackers, maxPacketBytes, first: kind === "slot-hold" }
              }),
              quietP99.get(`${serverConfig.label}/${server}`)
            )
          )
        }
      }
      if (phases.has("flood")) {
        for (const kind of config.floods) {
          await guarded(`flood ${kind}`, { ...limitLabel, flood: kind }, async () => {
            const line = await runPhase({
              phase: "flood",
              label: { ...limitLabel, flood: kind },
              server: "effect-ncp-node",
              options,
              client: "effect-ncp",
              clients: 1,
              request: "stat",
              paceMillis: config.statIntervalMillis,
              attack: { kind, attackers: 1, maxPacketBytes }
            })
            return {
              ...line,
              stat_interval_ms: config.statIntervalMillis,
              goal_stat_p50_under_100_ms: typeof line.p50_ms === "number" ? line.p50_ms < 100 : null
            }
          })
        }
      }
    }
    if (phases.has("idle")) await guarded("idle", label, () => runIdle(serverConfig, label))
  }
}

const role = process.argv[2]
if (role === "server") runServer(process.argv.slice(3))
else if (role === "attacker") runAttacker()
else {
  // connections and timers of phases that timed out must not keep the run alive
  const finish = (code: number) => {
    if (serverLog === undefined) process.exit(code)
    serverLog.end(() => process.exit(code))
  }
  main().then(
    () => finish(0),
    (error: unknown) => {
      console.error(error)
      finish(1)
    }
  )
}
