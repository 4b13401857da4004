/**
 * How `ncp` logs: every log entry is one line on stderr, so that stdout carries only what the
 * user asked for (JSON lines with `--json`) and each entry can be read with `grep`. A line is the
 * level, the message, the cause if there is one (its messages, no stack trace) and the log's
 * annotations as `key=value`:
 *
 * ```text
 * ncp: warning: the node changed the timeout from 100 s to 60 s [ncp=TimeoutChanged remote=127.0.0.1:9999 requested=100 agreed=60]
 * ```
 *
 * @example
 * ```ts
 * import { Log } from "@effect-ncp/cli"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.logWarning("careful").pipe(Effect.provide(Log.layer))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Logger from "effect/Logger"
import type * as LogLevel from "effect/LogLevel"
import * as References from "effect/References"

const levelNames: Record<LogLevel.LogLevel, string> = {
  All: "all",
  Trace: "trace",
  Debug: "debug",
  Info: "info",
  Warn: "warning",
  Error: "error",
  Fatal: "fatal",
  None: "none"
}

/** Text on one line: line breaks and other control characters written as escapes. */
const oneLine = (text: string): string =>
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this replaces
  text.replace(/[\u0000-\u001f\u007f]/g, (char) => {
    switch (char) {
      case "\n":
        return "\\n"
      case "\r":
        return "\\r"
      case "\t":
        return " "
      default:
        return `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`
    }
  })

/** A value as log text: strings as they are, errors by their message, anything else as JSON. */
const valueText = (value: unknown): string => {
  if (typeof value === "string") return value
  if (typeof value === "bigint") return `${value}`
  if (value instanceof Error) return value.message === "" ? value.name : `${value.name}: ${value.message}`
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value, (_, v) => (typeof v === "bigint" ? `${v}` : v)) ?? String(value)
    } catch {
      return String(value)
    }
  }
  return String(value)
}

/** What a cause says, in one line: the message of each failure and defect, no stack trace. */
export const causeText = (cause: Cause.Cause<unknown>): string =>
  cause.reasons
    .map((reason) =>
      Cause.isInterruptReason(reason)
        ? "interrupted"
        : valueText(Cause.isFailReason(reason) ? reason.error : reason.defect)
    )
    .join("; ")

const annotationValue = (value: unknown): string => {
  const text = valueText(value)
  return text === "" || /[\s"[\]=]/.test(text) ? JSON.stringify(text) : text
}

/** The line a log entry is written as (without the line break). */
export const format = (entry: {
  readonly logLevel: LogLevel.LogLevel
  readonly message: unknown
  readonly cause: Cause.Cause<unknown>
  readonly annotations: Readonly<Record<string, unknown>>
}): string => {
  const messages = Array.isArray(entry.message) ? entry.message : [entry.message]
  let line = `ncp: ${levelNames[entry.logLevel]}: ${messages.map(valueText).join(" ")}`
  if (entry.cause.reasons.length > 0) line += `: ${causeText(entry.cause)}`
  const annotations = Object.entries(entry.annotations)
  if (annotations.length > 0) {
    line += ` [${annotations.map(([key, value]) => `${key}=${annotationValue(value)}`).join(" ")}]`
  }
  return oneLine(line)
}

/** The logger `ncp` uses: {@link format}, written with `console.error` (stderr). */
export const logger: Logger.Logger<unknown, void> = Logger.withConsoleError(
  Logger.make((options) =>
    format({
      logLevel: options.logLevel,
      message: options.message,
      cause: options.cause,
      annotations: options.fiber.getRef(References.CurrentLogAnnotations)
    })
  )
)

/** Replaces the default loggers with {@link logger}. */
export const layer = Logger.layer([logger])
