import { assert } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as References from "effect/References"

/** The value, or a test failure saying what was missing. */
export const must = <A>(value: A | undefined | null, what = "value"): A => {
  if (value === undefined || value === null) throw new Error(`expected a ${what}, got ${value}`)
  return value
}

export const bytesOf = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"))
export const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")

/** A log line as a test sees it. */
export interface LogLine {
  readonly level: string
  readonly message: string
  readonly annotations: Record<string, unknown>
}

/** A logger layer that records every log line, for asserting on warnings. */
export const capturingLogger = (lines: Array<LogLine>) =>
  Logger.layer(
    [
      Logger.make((options) => {
        const message = Array.isArray(options.message) ? options.message.join(" ") : String(options.message)
        lines.push({
          level: options.logLevel,
          message,
          annotations: { ...options.fiber.getRef(References.CurrentLogAnnotations) }
        })
      })
    ],
    { mergeWithExisting: false }
  )

/** The typed failure of an exit (the test fails if it succeeded or died). */
export const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  assert(Exit.isFailure(exit), "expected a failure")
  const error = Cause.findErrorOption(exit.cause)
  assert(error._tag === "Some", `expected a typed failure, got ${Cause.pretty(exit.cause)}`)
  return error.value
}
