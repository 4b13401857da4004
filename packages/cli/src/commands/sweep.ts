/**
 * `ncp sweep HOST[:PORT] --start HZ --stop HZ`: asks a node for a sweep (`DSPC SWEP`, with
 * `FSTA` and `FSTP` in MHz as nodes take them) and draws it as a spectrum chart; `--count N`
 * asks for N sweeps one after the other, `--follow` until interrupted. `--json` prints one line
 * per sweep: `{"timestamp","start_hz","stop_hz","bins","levels_dbm"}`.
 *
 * The sweep is a typed call of `SimulatedNode.Sweep`: the reply is decoded with its Schema, so
 * a node answering without `PDAT`, or with a param of another type, is reported naming it.
 *
 * `ncp sweep --nodes A,B,... --start HZ --stop HZ` (or `--nodes-file F`) sweeps every node at
 * once, each within `--timeout` (10 s by default), and prints each node's sweep as it arrives:
 * a line naming the node and its chart, or with `--json` the JSON line tagged `"node"`; a node
 * that fails prints one line of its own, and the command then exits 1. `--count N` and
 * `--follow` ask every node again, round after round.
 *
 * @since 0.1.0
 */
import {
  CommandClient,
  type Connection,
  type ConnectionError,
  Fleet,
  type NcpCommand,
  SweepLevel,
  Timestamp
} from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import * as Console from "effect/Console"
import { Argument, CliError, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Chart from "../Chart.js"
import * as Progress from "../Progress.js"
import type { Reported } from "../Reported.js"
import * as Nodes from "./nodes.js"
import {
  address,
  type ConnectionOptions,
  chartFlags,
  connectionFlags,
  type ReplyLimit,
  replyLimitFlags,
  toConnectionOptions,
  toReplyLimit,
  validateConnection,
  validateReplyLimit
} from "./options.js"
import * as Session from "./session.js"

/** A sweep: levels (sweep bytes) from `startHz` to `stopHz`. */
export interface Sweep {
  readonly startHz: number
  readonly stopHz: number
  readonly levels: Uint8Array
}

/** What `ncp sweep` was asked to do. */
export interface SweepOptions {
  /** The connection; with `nodes`, its flags for every node (its host and port unused). */
  readonly connection: ConnectionOptions
  readonly startHz: number
  readonly stopHz: number
  /** How many sweeps to draw. */
  readonly sweeps: ReplyLimit
  readonly width: number
  readonly height: number
  /** Print the sweeps as JSON lines instead of charts. */
  readonly json: boolean
  /** `--nodes`, `--nodes-file`: sweep every one of them instead of one node. */
  readonly nodes?: Nodes.Nodes | undefined
}

const frequency = (name: string, description: string) =>
  Flag.Finite(name).pipe(
    Flag.withMetavar("HZ"),
    Flag.withDescription(description),
    Flag.filter(
      (hz) => hz >= 0,
      () => "a frequency in Hz, 0 or more (e.g. 88e6)"
    )
  )

/** The `sweep` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: SweepOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "sweep",
    {
      address: address.pipe(Argument.optional),
      start: frequency("start", "Start frequency in Hz"),
      stop: frequency("stop", "Stop frequency in Hz"),
      ...connectionFlags,
      ...replyLimitFlags,
      ...chartFlags,
      json: Flag.Boolean("json").pipe(
        Flag.withDefault(false),
        Flag.withDescription("Print each sweep as a JSON line instead of a chart")
      ),
      ...Nodes.nodesFlags
    },
    (input) =>
      run({
        connection: toConnectionOptions(
          Option.getOrElse(input.address, () => ({ host: "", port: undefined })),
          input
        ),
        startHz: input.start,
        stopHz: input.stop,
        sweeps: toReplyLimit(input),
        width: input.width,
        height: input.height,
        json: input.json,
        nodes: Nodes.toNodes(input)
      })
  ).pipe(
    Command.validate((input) =>
      Nodes.toNodes(input) === undefined
        ? Option.isNone(input.address)
          ? Nodes.usage("missing HOST[:PORT]: the node to sweep (or --nodes)")
          : Effect.void
        : Option.isSome(input.address)
          ? Nodes.usage("give the node as HOST[:PORT] or the nodes with --nodes, not both")
          : Effect.void
    ),
    Command.validate((input) => validateConnection(input)),
    Command.validate((input) => validateReplyLimit(input)),
    Command.validate(({ start, stop }) =>
      stop > start
        ? Effect.void
        : Effect.fail(new CliError.ValidationError({ message: "--stop must be above --start" }))
    ),
    Command.withDescription("Sweep a frequency range on a node and draw the spectrum"),
    Command.withExamples([
      { command: "ncp sweep rfeye002301 --start 88e6 --stop 108e6", description: "Draw the FM band" },
      {
        command: "ncp sweep --nodes rfeye002301,rfeye002302 --start 88e6 --stop 108e6 --json",
        description: "Sweep two nodes: a JSON line per node"
      }
    ])
  )

/** The sweep in a typed `DSPC SWEP` reply: `BINS` (when given) says how many levels are real. */
export const sweepOf = (reply: NcpCommand.Reply<typeof SimulatedNode.Sweep>): Sweep => {
  const bins = reply.BINS
  const levels =
    bins !== undefined && bins >= 0 && bins <= reply.PDAT.length ? reply.PDAT.subarray(0, bins) : reply.PDAT
  return { startHz: reply.FSTA * 1e6, stopHz: reply.FSTP * 1e6, levels }
}

/**
 * Asks for one sweep (`FSTA` and `FSTP` in MHz) and returns it with its reply field, or
 * reports what is wrong with the params or the reply.
 */
export const requestSweep = (
  connection: Connection.Connection,
  command: string,
  params: { readonly startHz: number; readonly stopHz: number; readonly bins?: number | undefined }
): Effect.Effect<
  { readonly reply: Connection.IncomingField; readonly sweep: Sweep },
  ConnectionError.ConnectionError | Reported
> =>
  Effect.scoped(
    Effect.flatMap(
      CommandClient.send(connection, SimulatedNode.Sweep, {
        FSTA: params.startHz / 1e6,
        FSTP: params.stopHz / 1e6,
        ...(params.bins === undefined ? {} : { BINS: params.bins })
      }),
      (response) => response.recv
    )
  ).pipe(
    Progress.withProgress("waiting for the sweep"),
    Effect.map((reply) => ({ reply: reply.field, sweep: sweepOf(reply.params) })),
    Effect.catchTags({
      InvalidParams: (error) =>
        Session.fail(command, `cannot ask for the sweep: ${error.message}`, { tag: error._tag }),
      InvalidReply: (error) => Session.fail(command, `bad sweep reply: ${error.message}`, { tag: error._tag })
    })
  )

/** One sweep as a JSON line. */
export const sweepJson = (reply: Pick<Connection.IncomingField, "packetTimestamp">, sweep: Sweep): string =>
  JSON.stringify({
    timestamp: Timestamp.toIsoString(reply.packetTimestamp),
    start_hz: sweep.startHz,
    stop_hz: sweep.stopHz,
    bins: sweep.levels.length,
    levels_dbm: Array.from(sweep.levels, SweepLevel.toDbm)
  })

/** Runs `ncp sweep`. */
export const run = (options: SweepOptions) => Nodes.runOneOrMany("sweep", options, runOne, runNodes)

/** A sweep as the command prints it: a chart, or a JSON line. */
const printed = (options: SweepOptions, reply: Pick<Connection.IncomingField, "packetTimestamp">, sweep: Sweep) =>
  options.json
    ? sweepJson(reply, sweep)
    : Chart.spectrumChart(sweep.levels, {
        startHz: sweep.startHz,
        stopHz: sweep.stopHz,
        width: options.width,
        height: options.height
      })

/** Runs `ncp sweep` on one node. */
const runOne = (options: SweepOptions) =>
  Effect.gen(function* () {
    const connection = yield* Session.connect(options.connection)
    const one = Effect.flatMap(requestSweep(connection, "sweep", options), ({ reply, sweep }) =>
      Console.log(printed(options, reply, sweep))
    )
    const sweeps = options.sweeps
    if (sweeps._tag === "Follow") return yield* Effect.forever(one)
    yield* Effect.repeat(one, { times: sweeps.count - 1 })
  })

/** Runs `ncp sweep` on several nodes: a round of sweeps per `--count`, each node's as it arrives. */
const runNodes = (options: SweepOptions, nodes: Nodes.Nodes) =>
  Effect.gen(function* () {
    const addresses = yield* Nodes.resolveNodes("sweep", nodes)
    const fleet = yield* Nodes.makeFleet(addresses, options.connection, { cluster: nodes.cluster })
    const request = yield* Result.match(
      Fleet.toRequest(SimulatedNode.Sweep, { FSTA: options.startHz / 1e6, FSTP: options.stopHz / 1e6 }),
      {
        onSuccess: Effect.succeed,
        onFailure: (error) => Session.fail("sweep", `cannot ask for the sweep: ${error.message}`)
      }
    )
    const failed = new Set<string>()
    const round = fleet.request(request).pipe(
      Stream.runForEach(({ node, result }) => {
        const reply = Result.flatMap(result, (field) =>
          Result.map(CommandClient.decodeReplyField(SimulatedNode.Sweep, field), (params) => ({ field, params }))
        )
        if (Result.isFailure(reply)) {
          failed.add(node)
          const error = reply.failure
          const detail =
            error._tag === "InvalidReply" ? `bad sweep reply: ${error.message}` : Nodes.describeNodeError(node, error)
          return Console.log(options.json ? Nodes.errorJson(node, error) : `${node}  error: ${detail}`)
        }
        const sweep = sweepOf(reply.success.params)
        return Console.log(
          options.json
            ? Nodes.tagged(node, sweepJson(reply.success.field, sweep))
            : `${node}\n${printed(options, reply.success.field, sweep)}`
        )
      }),
      Progress.withProgress(`waiting for ${addresses.length} sweep(s)`)
    )
    const sweeps = options.sweeps
    if (sweeps._tag === "Follow") return yield* Effect.forever(round)
    yield* Effect.repeat(round, { times: sweeps.count - 1 })
    yield* Nodes.failedNodes("sweep", failed.size, addresses.length)
  })

/** The `sweep` command. */
export const command = make(run)
