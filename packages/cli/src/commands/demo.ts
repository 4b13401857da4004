/**
 * `ncp demo`: a simulated node and a client in one process, showing a sweep and an IQ capture
 * without any hardware.
 *
 * @since 0.1.0
 */

import { Command } from "effect/cli"
import type * as Effect from "effect/Effect"
import { chartFlags, notImplemented } from "./options.js"

/** What `ncp demo` was asked to do. */
export interface DemoOptions {
  readonly width: number
  readonly height: number
}

/** The `demo` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: DemoOptions) => Effect.Effect<void, E, R>) =>
  Command.make("demo", { ...chartFlags }, (input) => run({ width: input.width, height: input.height })).pipe(
    Command.withDescription("Run a simulated node and a client against it: a sweep chart and an IQ summary")
  )

/** Runs `ncp demo`. */
export const run = (_options: DemoOptions) => notImplemented("demo")

/** The `demo` command. */
export const command = make(run)
