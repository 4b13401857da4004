/**
 * `ncp sweep HOST[:PORT] --start HZ --stop HZ`: asks a node for a sweep (`DSPC SWEP`) and draws
 * it as a spectrum chart.
 *
 * @since 0.1.0
 */

import { CliError, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import {
  address,
  type ConnectionOptions,
  chartFlags,
  connectionFlags,
  notImplemented,
  type ReplyLimit,
  replyLimitFlags,
  toConnectionOptions,
  toReplyLimit,
  validateConnection,
  validateReplyLimit
} from "./options.js"

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

/** Runs `ncp sweep`. */
export const run = (_options: SweepOptions) => notImplemented("sweep")

/** The `sweep` command. */
export const command = make(run)
