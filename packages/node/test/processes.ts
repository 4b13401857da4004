/**
 * `ncp` processes for the cluster's tests and bench: the built command (`npm test` and
 * `npm run bench:cluster` build it first) run as a user runs it, its output kept, lines waited
 * for, and the process stopped when the scope closes.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/** The built `ncp`, found as a package (so that a bundled bench finds it too). */
export const ncpBin = path.join(
  path.dirname(createRequire(import.meta.url).resolve("@effect-ncp/cli/package.json")),
  "bin",
  "ncp.js"
)

/** A running `ncp`. */
export interface NcpProcess {
  readonly child: ChildProcess
  /** Everything it wrote, stdout and stderr as they came. */
  readonly output: () => string
  /** Its output's lines so far. */
  readonly lines: () => ReadonlyArray<string>
  /** Waits (real time, at most `millis`) for a line that `test` accepts, and gives it. */
  readonly waitForLine: (test: (line: string) => boolean, millis?: number) => Effect.Effect<string, Error>
  /** Sends `signal`, and waits for the process to end: its exit code (`null` for a signal). */
  readonly stop: (signal: NodeJS.Signals) => Effect.Effect<number | null>
}

/**
 * Starts `ncp args...` for the current scope; when the scope closes, stops it with SIGTERM,
 * and SIGKILL after `graceMillis`.
 */
export const start = (
  args: ReadonlyArray<string>,
  options: {
    readonly graceMillis?: number
    readonly env?: NodeJS.ProcessEnv
    /** Node's own options, before the command (`--cpu-prof`). */
    readonly nodeArgs?: ReadonlyArray<string>
  } = {}
): Effect.Effect<NcpProcess, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync((): NcpProcess => {
      const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ncpBin, ...args], {
        env: { ...process.env, NO_COLOR: "1", ...options.env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const waiters = new Set<() => void>()
      const append = (chunk: string) => {
        output += chunk
        for (const wake of [...waiters]) wake()
      }
      child.stdout?.setEncoding("utf8").on("data", append)
      child.stderr?.setEncoding("utf8").on("data", append)
      const ended = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)))
      const lines = () => output.split("\n").filter((line) => line !== "")
      const waitForLine = (test: (line: string) => boolean, millis = 60_000) =>
        Effect.callback<string, Error>((resume) => {
          const check = () => {
            const line = lines().find(test)
            if (line === undefined) return
            cleanUp()
            resume(Effect.succeed(line))
          }
          const timer = setTimeout(() => {
            cleanUp()
            resume(Effect.fail(new Error(`ncp ${args.join(" ")}: no such line after ${millis} ms:\n${output}`)))
          }, millis)
          const onExit = (code: number | null) => {
            cleanUp()
            resume(Effect.fail(new Error(`ncp ${args.join(" ")} exited with ${code}:\n${output}`)))
          }
          const cleanUp = () => {
            clearTimeout(timer)
            waiters.delete(check)
            child.removeListener("exit", onExit)
          }
          waiters.add(check)
          child.once("exit", onExit)
          check()
          return Effect.sync(cleanUp)
        })
      const stop = (signal: NodeJS.Signals) =>
        Effect.promise(() => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal)
          return ended
        })
      return { child, output: () => output, lines, waitForLine, stop }
    }),
    (ncp) =>
      Effect.promise(async () => {
        const child = ncp.child
        if (child.exitCode !== null || child.signalCode !== null) return
        const ended = new Promise<void>((resolve) => child.once("exit", () => resolve()))
        child.kill("SIGTERM")
        const kill = setTimeout(() => child.kill("SIGKILL"), options.graceMillis ?? 10_000)
        await ended
        clearTimeout(kill)
      })
  )

/** `ncp serve --nodes N --port 0`: N simulated nodes, and their addresses, once all listen. */
export const serveNodes = (nodes: number) =>
  Effect.gen(function* () {
    const served = yield* start(["serve", "--nodes", String(nodes), "--port", "0", "--host", "127.0.0.1"], {
      graceMillis: 2000
    })
    // one `listening on HOST:PORT` line per node, in order, before anything else
    yield* served.waitForLine(() => served.lines().filter((line) => line.startsWith("listening on ")).length >= nodes)
    const addresses = served
      .lines()
      .filter((line) => line.startsWith("listening on "))
      .map((line) => {
        const address = line.slice("listening on ".length).trim()
        const colon = address.lastIndexOf(":")
        return { host: address.slice(0, colon), port: Number(address.slice(colon + 1)) }
      })
    return { process: served, addresses }
  })
