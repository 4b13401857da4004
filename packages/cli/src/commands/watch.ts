/**
 * `ncp watch --nodes A,B,...` (or `--nodes-file F`): the table of `ncp status`, kept live until
 * Ctrl-C. Every node stays connected (reconnecting when it goes away) and is asked for `STAT`
 * every `--interval` seconds (5), for its round trip. On a terminal the table is redrawn in
 * place every second; in a pipe it is printed again after each round of `STAT`, a blank line
 * between tables. Ctrl-C (or SIGTERM) closes every connection and exits 0.
 *
 * @since 0.1.0
 */
import { NodeTransport } from "@effect-ncp/node"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import { Command } from "effect/cli"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Nodes from "./nodes.js"
import {
  type ConnectionOptions,
  connectionFlags,
  otlpLayer,
  seconds,
  toConnectionOptions,
  validateConnection
} from "./options.js"
import { shutdown } from "./serve.js"
import * as Session from "./session.js"
import { table, validateNodes } from "./status.js"

/** What `ncp watch` was asked to do. */
export interface WatchOptions {
  /** The connection flags, for every node (host and port unused). */
  readonly connection: ConnectionOptions
  readonly nodes: Nodes.Nodes
  /** Seconds between two rounds of `STAT`. */
  readonly intervalSeconds: number
}

/** Seconds between two rounds of `STAT`, by default. */
export const DEFAULT_INTERVAL_SECONDS = 5

/** The `watch` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: WatchOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "watch",
    {
      ...Nodes.nodesFlags,
      ...connectionFlags,
      interval: seconds(
        "interval",
        `Seconds between two rounds of STAT, for each node's round trip (default ${DEFAULT_INTERVAL_SECONDS})`
      )
    },
    (input) =>
      run({
        connection: toConnectionOptions({ host: "", port: undefined }, input),
        nodes: Nodes.toNodes(input) ?? { listed: [], file: undefined },
        intervalSeconds: Option.getOrElse(input.interval, () => DEFAULT_INTERVAL_SECONDS)
      })
  ).pipe(
    Command.validate((input) => validateNodes(Nodes.toNodes(input))),
    Command.validate((input) => validateConnection(input)),
    Command.withDescription("Keep several nodes connected and their status table live until Ctrl-C"),
    Command.withExamples([
      { command: "ncp watch --nodes rfeye002301,rfeye002302", description: "Watch two nodes" },
      { command: "ncp watch --nodes-file nodes.txt --interval 30", description: "Watch the nodes of a file" }
    ])
  )

/** Clears a terminal and puts the cursor top left. */
const CLEAR = "\x1b[H\x1b[2J"

/** Runs `ncp watch`. */
export const run = (options: WatchOptions) =>
  Effect.gen(function* () {
    const addresses = yield* Nodes.resolveNodes("watch", options.nodes)
    const interval = Duration.seconds(options.intervalSeconds)
    const fleet = yield* Nodes.makeFleet(addresses, options.connection, {
      probe: { interval },
      cluster: options.nodes.cluster
    })
    const terminal = process.stdout.isTTY === true
    const draw = Effect.gen(function* () {
      const now = yield* Clock.currentTimeMillis
      // one read a redraw: on a cluster, each is a message to every node's runner
      const states = yield* fleet.state
      const text = table(states, now)
      const open = states.filter((state) => state.link === "Open").length
      const footer = `${open} of ${addresses.length} open; STAT every ${options.intervalSeconds} s; Ctrl-C to stop`
      yield* Console.log(terminal ? `${CLEAR}${text}\n\n${footer}` : `${text}\n`)
    })
    // a terminal: redrawn every second (uptimes move); a pipe: once per round of STAT, the
    // first after the first round's answers
    const ticks = terminal ? Stream.tick("1 second") : Stream.tick(interval)
    yield* Effect.sleep(terminal ? 0 : "200 millis")
    return yield* Stream.runForEach(ticks, () => draw)
  }).pipe(
    Effect.scoped,
    Effect.onInterrupt(() =>
      Effect.sync(() => {
        shutdown.completed = true
      })
    ),
    Session.reportFailure("watch"),
    Effect.provide(NodeTransport.layer),
    Effect.provide(otlpLayer(options.connection.otlp))
  )

/** The `watch` command. */
export const command = make(run)
