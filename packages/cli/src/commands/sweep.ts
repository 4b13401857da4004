/**
 * `ncp sweep HOST[:PORT] --start HZ --stop HZ`: asks a node for a sweep (`DSPC SWEP`, with
 * `FSTA` and `FSTP` in MHz as nodes take them) and draws it as a spectrum chart; `--count N`
 * asks for N sweeps one after the other, `--follow` until interrupted. `--json` prints one line
 * per sweep: `{"timestamp","start_hz","stop_hz","bins","levels_dbm"}`.
 *
 * The sweep is a typed call of `SimulatedNode.Sweep`: the reply is decoded with its Schema, so
 * a node answering without `PDAT`, or with a param of another type, is reported naming it.
 *
 * @since 0.1.0
 */
import { type Connection, NcpCommand, Timestamp } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import { CliError, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Chart from "../Chart.js"
import * as Progress from "../Progress.js"
import type * as Replies from "../Replies.js"
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

/** What `ncp sweep` was asked to do. */
export interface SweepOptions {
  readonly connection: ConnectionOptions
  readonly startHz: number
  readonly stopHz: number
  /** How many sweeps to draw. */
  readonly sweeps: ReplyLimit
  readonly width: number
  readonly height: number
  /** Print the sweeps as JSON lines instead of charts. */
  readonly json: boolean
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
      address,
      start: frequency("start", "Start frequency in Hz"),
      stop: frequency("stop", "Stop frequency in Hz"),
      ...connectionFlags,
      ...replyLimitFlags,
      ...chartFlags,
      json: Flag.Boolean("json").pipe(
        Flag.withDefault(false),
        Flag.withDescription("Print each sweep as a JSON line instead of a chart")
      )
    },
    (input) =>
      run({
        connection: toConnectionOptions(input.address, input),
        startHz: input.start,
        stopHz: input.stop,
        sweeps: toReplyLimit(input),
        width: input.width,
        height: input.height,
        json: input.json
      })
  ).pipe(
    Command.validate((input) => validateConnection(input)),
    Command.validate((input) => validateReplyLimit(input)),
    Command.validate(({ start, stop }) =>
      stop > start
        ? Effect.void
        : Effect.fail(new CliError.ValidationError({ message: "--stop must be above --start" }))
    ),
    Command.withDescription("Sweep a frequency range on a node and draw the spectrum"),
    Command.withExamples([
      { command: "ncp sweep rfeye002301 --start 88e6 --stop 108e6", description: "Draw the FM band" }
    ])
  )

/** The sweep in a typed `DSPC SWEP` reply: `BINS` (when given) says how many levels are real. */
export const sweepOf = (reply: NcpCommand.Reply<typeof SimulatedNode.Sweep>): Replies.Sweep => {
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
) =>
  Effect.scoped(
    Effect.flatMap(
      NcpCommand.send(connection, SimulatedNode.Sweep, {
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
      InvalidParams: (error) => Session.fail(command, `cannot ask for the sweep: ${error.message}`),
      InvalidReply: (error) => Session.fail(command, `bad sweep reply: ${error.message}`)
    })
  )

/** One sweep as a JSON line. */
export const sweepJson = (reply: Connection.IncomingField, sweep: Replies.Sweep): string =>
  JSON.stringify({
    timestamp: Timestamp.toIsoString(reply.packetTimestamp),
    start_hz: sweep.startHz,
    stop_hz: sweep.stopHz,
    bins: sweep.levels.length,
    levels_dbm: Array.from(sweep.levels, SimulatedNode.sweepLevelToDbm)
  })

/** Runs `ncp sweep`. */
export const run = (options: SweepOptions) =>
  Effect.gen(function* () {
    const connection = yield* Session.connect(options.connection)
    const one = Effect.flatMap(requestSweep(connection, "sweep", options), ({ reply, sweep }) =>
      Console.log(
        options.json
          ? sweepJson(reply, sweep)
          : Chart.spectrumChart(sweep.levels, {
              startHz: sweep.startHz,
              stopHz: sweep.stopHz,
              width: options.width,
              height: options.height
            })
      )
    )
    const sweeps = options.sweeps
    if (sweeps._tag === "Follow") return yield* Effect.forever(one)
    yield* Effect.repeat(one, { times: sweeps.count - 1 })
  }).pipe(Effect.scoped, Session.reportFailure("sweep"), Effect.provide(NodeTransport.layer))

/** The `sweep` command. */
export const command = make(run)
