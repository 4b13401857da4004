/**
 * `ncp status --nodes A,B,...` (or `--nodes-file F`): connects to every node at once, asks each
 * for `STAT` (its round trip), and prints a table: node, state, uptime (of this link), round
 * trip, last error. `--json` prints one line per node instead:
 * `{"node","state","uptime_s","round_trip_ms","timeout_s","last_error"}`. Exits 0 when every
 * node is open, 1 otherwise, so a script can use it as a health check.
 *
 * @since 0.1.0
 */
import type { Fleet } from "@effect-ncp/core"
import { NodeTransport } from "@effect-ncp/node"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Progress from "../Progress.js"
import * as Nodes from "./nodes.js"
import {
  type ConnectionOptions,
  connectionFlags,
  otlpLayer,
  toConnectionOptions,
  validateConnection
} from "./options.js"
import * as Session from "./session.js"

/** What `ncp status` was asked to do. */
export interface StatusOptions {
  /** The connection flags, for every node (host and port unused). */
  readonly connection: ConnectionOptions
  readonly nodes: Nodes.Nodes
  /** One JSON line per node instead of the table. */
  readonly json: boolean
}

/** The nodes flags, one of which a fleet command needs. */
export const validateNodes = (nodes: Nodes.Nodes | undefined) =>
  nodes === undefined ? Nodes.usage("give the nodes with --nodes HOST[:PORT],... or --nodes-file F") : Effect.void

/** The `status` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: StatusOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "status",
    {
      ...Nodes.nodesFlags,
      ...connectionFlags,
      json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("Print each node as a JSON line"))
    },
    (input) =>
      run({
        connection: toConnectionOptions({ host: "", port: undefined }, input),
        nodes: Nodes.toNodes(input) ?? { listed: [], file: undefined },
        json: input.json
      })
  ).pipe(
    Command.validate((input) => validateNodes(Nodes.toNodes(input))),
    Command.validate((input) => validateConnection(input)),
    Command.withDescription(
      "Connect to several nodes and print how each stands: state, uptime, round trip, last error"
    ),
    Command.withExamples([
      { command: "ncp status --nodes rfeye002301,rfeye002302", description: "A table of two nodes" },
      { command: "ncp status --nodes-file nodes.txt --json", description: "A JSON line per node of a file" }
    ])
  )

/** A duration in seconds as `3s`, `2m05s`, `1h02m`, `3d04h`. */
export const formatUptime = (seconds: number): string => {
  const s = Math.max(0, Math.floor(seconds))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, "0")}h`
}

/** A node's state as the table's cells: node, state, uptime, round trip, last error. */
const cells = (state: Fleet.NodeState, now: number): ReadonlyArray<string> => [
  state.node,
  state.link === "BackingOff" || state.link === "Connecting" ? `${state.link} (${state.attempt ?? 1})` : state.link,
  state.connectedSince === undefined ? "-" : formatUptime((now - state.connectedSince) / 1000),
  state.roundTrip === undefined ? "-" : `${state.roundTrip} ms`,
  state.lastError === undefined ? "" : Nodes.describeNodeError(state.node, state.lastError)
]

const HEADER = ["NODE", "STATE", "UPTIME", "ROUND TRIP", "LAST ERROR"] as const

/** The fleet's state as a table, one row per node, columns aligned (the last one as it is). */
export const table = (states: ReadonlyArray<Fleet.NodeState>, now: number): string => {
  const rows = [HEADER, ...states.map((state) => cells(state, now))]
  const widths = HEADER.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? "").length)))
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join("  ")
        .trimEnd()
    )
    .join("\n")
}

/** A node's state as a JSON line. */
export const stateJson = (state: Fleet.NodeState, now: number): string =>
  JSON.stringify({
    node: state.node,
    state: state.link,
    uptime_s: state.connectedSince === undefined ? null : Math.max(0, Math.floor((now - state.connectedSince) / 1000)),
    round_trip_ms: state.roundTrip ?? null,
    timeout_s: state.timeout,
    last_error: state.lastError === undefined ? null : { tag: state.lastError._tag, message: state.lastError.message }
  })

/** Runs `ncp status`. */
export const run = (options: StatusOptions) =>
  Effect.gen(function* () {
    const addresses = yield* Nodes.resolveNodes("status", options.nodes)
    const fleet = yield* Nodes.makeFleet(addresses, options.connection, { cluster: options.nodes.cluster }).pipe(
      Progress.withProgress(`connecting to ${addresses.length} node(s)`)
    )
    // one STAT of every open node: its round trip (and, if it does not answer, the error)
    const open = (yield* fleet.state).filter((state) => state.link === "Open").map((state) => state.node)
    yield* Stream.runDrain(fleet.request({ packetType: "STAT", fieldName: "STAT" }, { nodes: open })).pipe(
      Progress.withProgress(`asking ${open.length} node(s) for STAT`)
    )
    const states = yield* fleet.state
    const now = yield* Clock.currentTimeMillis
    yield* Console.log(options.json ? states.map((state) => stateJson(state, now)).join("\n") : table(states, now))
    const down = states.filter((state) => state.link !== "Open").length
    if (down > 0) return yield* Session.fail("status", `${down} of ${states.length} node(s) not open`)
  }).pipe(
    Effect.scoped,
    Session.reportFailure("status"),
    Effect.provide(NodeTransport.layer),
    Effect.provide(otlpLayer(options.connection.otlp))
  )

/** The `status` command. */
export const command = make(run)
