/**
 * How `ncp` tells a failure, on stderr: one line of text (`ncp send: timeout: ...`), or, when
 * `--json` is on the command line, one JSON object of a fixed shape, so that a program reading
 * JSON lines never has to parse prose:
 *
 * ```json
 * {"error":{"tag":"CommandError","message":"command error from the node: DSPC NOPE: Unknown command (code 400)","command":"ncp send","exitCode":1,"remote":"127.0.0.1:9999","code":400}}
 * ```
 *
 * `tag`, `message`, `command` and `exitCode` are always there: `tag` is the error's class
 * (`NetworkError`, `NetworkTimeout`, `CommandError`, ..., `UsageError` for bad arguments, exit
 * code 2), `message` the text line without its `ncp send: ` prefix. `remote` (the node) and
 * `code` (a command error's `ERRC`) are there when known. Log entries (a node's warnings) stay
 * lines of text.
 */
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/** How failures are written: `text` by default, `json` when `--json` is on the command line. */
export const ErrorOutput = Context.Reference<"text" | "json">("@effect-ncp/cli/ErrorOutput", {
  defaultValue: () => "text"
})

/**
 * Whether the arguments ask for JSON output: `--json` (or `--json=true`) before any `--`.
 * Read from the raw arguments, so that a usage error, which stops parsing, is JSON too.
 */
export const wantsJson = (args: ReadonlyArray<string>): boolean => {
  const end = args.indexOf("--")
  return (end < 0 ? args : args.slice(0, end)).some((arg) => arg === "--json" || arg === "--json=true")
}

/** One failure, as `ncp` tells it. */
export interface Failure {
  /** The error's tag: `NetworkError`, `CommandError`, ..., `UsageError`, `Failure` for others. */
  readonly tag: string
  /** The text, without the command's prefix. */
  readonly message: string
  /** The command as typed: `ncp send`, `ncp serve`, or `ncp`. */
  readonly command: string
  readonly exitCode: number
  /** The node, as the connection names it (`host:port`). */
  readonly remote?: string | undefined
  /** A command error's code (`ERRC`). */
  readonly code?: number | undefined
}

/** The failure as its stderr text: `ncp send: message`. */
export const text = (failure: Failure): string => `${failure.command}: ${failure.message}`

/** The failure as one JSON object: `{"error": {"tag", "message", "command", "exitCode", "remote"?, "code"?}}`. */
export const json = (failure: Failure): string => {
  const { tag, message, command, exitCode, remote, code } = failure
  return JSON.stringify({
    error: {
      tag,
      message,
      command,
      exitCode,
      ...(remote === undefined ? {} : { remote }),
      ...(code === undefined ? {} : { code })
    }
  })
}

/** Writes the failure on stderr, as text or JSON (see {@link ErrorOutput}). */
export const tell = (failure: Failure): Effect.Effect<void> =>
  Effect.flatMap(ErrorOutput, (output) => Console.error(output === "json" ? json(failure) : text(failure)))
