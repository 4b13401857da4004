/**
 * The server under test of the load benchmark, in a process of its own so that its memory and
 * event loop are its own. `load.ts` forks it as `load.mjs server KIND OPTIONS_JSON`:
 *
 * - `effect-ncp-echo`: `NodeNcp.make` serving the echo handler of `echo.ts`.
 * - `effect-ncp-node`: `NodeNcp.make` serving `SimulatedNode.handler` with its `hello`, what
 *   `ncp serve` runs.
 * - `node:net-echo`: the raw echo server of `raw.ts` (our codec, hand-written handshake).
 *
 * `OPTIONS_JSON` is passed through to `NodeNcp.make` unchanged (after host and port are set),
 * so that options the library grows (`maxPacketBytes`, `maxConnections`, budgets, ...) can be
 * measured without changing this file; the raw server ignores it.
 *
 * Over IPC it sends `{type:"listening", port}` once it listens, and answers
 * `{type:"stats", reset}` with its memory and the event loop's delay since the last reset. The
 * effect-ncp servers run under `NodeRuntime.runMain`, so SIGTERM and SIGINT interrupt the
 * server as they interrupt `ncp serve`, and a clean stop exits 0.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NodeNcp } from "@effect-ncp/node"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import * as Echo from "./echo.js"
import * as Raw from "./raw.js"

/** The servers the load benchmark can start. */
export const SERVER_KINDS = ["effect-ncp-echo", "effect-ncp-node", "node:net-echo"] as const
export type ServerKind = (typeof SERVER_KINDS)[number]

/** What the server process reports. */
export type ServerMessage =
  | { readonly type: "listening"; readonly port: number }
  | {
      readonly type: "stats"
      readonly rssBytes: number
      readonly heapUsedBytes: number
      /** The longest the event loop was blocked since the last reset, in ms. */
      readonly loopDelayMaxMs: number
      readonly loopDelayP99Ms: number
    }

/** What the benchmark asks the server process. */
export interface StatsRequest {
  readonly type: "stats"
  readonly reset: boolean
  /** Collect garbage first, so that `heapUsedBytes` counts only live objects. */
  readonly gc?: boolean | undefined
}

/** A full garbage collection, on demand (the idle phase's live heap per connection). */
export const collectGarbage: () => void = (() => {
  v8.setFlagsFromString("--expose-gc")
  return vm.runInNewContext("gc")
})()

const isServerKind = (kind: string | undefined): kind is ServerKind => SERVER_KINDS.some((known) => known === kind)

/** Options as the benchmark gives them: a JSON object handed to `NodeNcp.make` as it is. */
const isServeOptions = (value: unknown): value is NodeNcp.ServeOptions =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const send = (message: ServerMessage): void => {
  process.send?.(message)
}

/** Runs the server process: `args` are `[KIND, OPTIONS_JSON]`. */
export const runServer = (args: ReadonlyArray<string>): void => {
  const [kind, optionsJson = "{}"] = args
  if (!isServerKind(kind)) throw new Error(`unknown server kind ${String(kind)}; want ${SERVER_KINDS.join(", ")}`)
  const options: unknown = JSON.parse(optionsJson)
  if (!isServeOptions(options)) throw new Error(`server options must be a JSON object, got ${optionsJson}`)

  const loopDelay = monitorEventLoopDelay({ resolution: 10 })
  loopDelay.enable()
  process.on("message", (message: StatsRequest) => {
    if (message?.type !== "stats") return
    if (message.gc === true) collectGarbage()
    const memory = process.memoryUsage()
    send({
      type: "stats",
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      loopDelayMaxMs: loopDelay.max / 1e6,
      loopDelayP99Ms: loopDelay.percentile(99) / 1e6
    })
    if (message.reset) loopDelay.reset()
  })
  // the benchmark going away must not leave a server behind
  process.on("disconnect", () => process.exit(0))

  if (kind === "node:net-echo") {
    Raw.listenEcho().then(
      (server) => {
        const stop = () => void server.close().finally(() => process.exit(0))
        process.on("SIGTERM", stop)
        process.on("SIGINT", stop)
        send({ type: "listening", port: server.port })
      },
      (error: unknown) => {
        console.error(error)
        process.exit(1)
      }
    )
    return
  }

  const listening =
    kind === "effect-ncp-node"
      ? NodeNcp.make(SimulatedNode.handler, { hello: SimulatedNode.hello, ...options, host: Raw.HOST, port: 0 })
      : NodeNcp.make(Echo.echoHandler, { ...options, host: Raw.HOST, port: 0 })
  NodeRuntime.runMain(
    listening.pipe(
      Effect.tap(({ port }) => Effect.sync(() => send({ type: "listening", port }))),
      Effect.andThen(Effect.never),
      Effect.scoped
    ),
    // SIGTERM is how the benchmark stops the server: a clean stop exits 0, as `ncp serve` does
    { teardown: (exit, onExit) => Runtime.defaultTeardown(exit, (code) => onExit(code === 130 ? 0 : code)) }
  )
}
