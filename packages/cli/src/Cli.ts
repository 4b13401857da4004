/**
 * The `ncp` command tree and how it talks to the terminal: help and version on stdout, and
 * every usage or runtime error as one line on stderr (`ncp send: ...`), never a stack trace,
 * with a non-zero exit code. With `--json` on the command line, that line is one JSON object
 * instead: `{"error": {"tag", "message", "command", "exitCode", "remote"?, "code"?}}`. Log entries (warnings from the node or the protocol) go to stderr
 * too, one line each (`Log`), so stdout carries only what the command prints.
 *
 * `bin.ts` runs {@link main} with Node's services; tests can run {@link ncp} with
 * `Command.runWith` and their own layers.
 *
 * @module
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import { CliError, CliOutput, Command } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Stdio from "effect/Stdio"
import * as Decode from "./commands/decode.js"
import * as Demo from "./commands/demo.js"
import * as Failure from "./commands/failure.js"
import * as Runner from "./commands/runner.js"
import * as Send from "./commands/send.js"
import * as Serve from "./commands/serve.js"
import * as Status from "./commands/status.js"
import * as Sweep from "./commands/sweep.js"
import * as Watch from "./commands/watch.js"
import * as Log from "./Log.js"
import { Reported } from "./Reported.js"

/**
 * The version `ncp --version` prints: the package's own, read from its package.json (beside
 * `src/` and `dist/`, and beside the bundle's `dist/`), so a release needs one edit.
 */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { readonly version: string }
).version

/** The root `ncp` command with its subcommands. */
export const ncp = Command.make("ncp").pipe(
  Command.withDescription("NCP client, server and tools for CRFS RFeye nodes"),
  Command.withSubcommands([
    Demo.command,
    Serve.command,
    Runner.command,
    Send.command,
    Sweep.command,
    Status.command,
    Watch.command,
    Decode.command
  ])
)

/**
 * Prints help and version with the default formatter (no colors), and a usage error as one
 * line per problem on stderr, naming the command and where to find its usage (with `--json`,
 * one JSON object tagged `UsageError`).
 */
const presenter: CliOutput.Presenter = {
  present: (event) => {
    if (event._tag !== "InvalidInvocation") return CliOutput.defaultPresenter.present(event)
    const command = event.commandPath.join(" ")
    return Effect.flatMap(Failure.ErrorOutput, (output) =>
      output === "json"
        ? Failure.tell({
            tag: "UsageError",
            message: `${event.errors.map((error) => error.message).join("; ")} (see ${command} --help)`,
            command,
            exitCode: 2
          })
        : Console.error(event.errors.map((error) => `${command}: ${error.message} (see ${command} --help)`).join("\n"))
    )
  }
}

/** The presenter and a formatter without colors, so output is the same on a terminal and in a pipe. */
const outputLayer = Layer.mergeAll(
  CliOutput.layerPresenter(presenter),
  CliOutput.layer(CliOutput.defaultFormatter({ colors: false }))
)

/**
 * Runs `ncp` with the process arguments. Commands report their own failures (`Reported`, exit
 * code 1); usage errors exit with code 2; any other CLI error is printed as one line, and so is
 * an unexpected failure (a defect), logged at Error level with its cause.
 */
export const main = Command.run(ncp, { version: VERSION }).pipe(
  Effect.catch((error) => {
    if (!CliError.isCliError(error)) return Effect.fail(error)
    // Usage errors were presented already; the help request itself (no errors) exits 0.
    if (error._tag === "ShowHelp") {
      return error.errors.length === 0
        ? Effect.void
        : Effect.fail(new Reported({ exitCode: 2, detail: error.errors.map((e) => e.message).join("; ") }))
    }
    const detail = `ncp: ${error.message}`
    return Failure.tell({ tag: error._tag, message: error.message, command: "ncp", exitCode: 1 }).pipe(
      Effect.andThen(Effect.fail(new Reported({ exitCode: 1, detail })))
    )
  }),
  Effect.catchCause((cause) => {
    const failure = Cause.findErrorOption(cause)
    if (failure._tag === "Some" && failure.value._tag === "Reported") return Effect.fail(failure.value)
    if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
    const detail = Log.causeText(cause)
    const told = Effect.flatMap(Failure.ErrorOutput, (output) =>
      output === "json"
        ? Failure.tell({ tag: "InternalError", message: `unexpected failure: ${detail}`, command: "ncp", exitCode: 1 })
        : Effect.logError("unexpected failure", cause)
    )
    return told.pipe(Effect.andThen(Effect.fail(new Reported({ exitCode: 1, detail }))))
  }),
  // With `--json` on the command line, every failure is one JSON object on stderr, usage errors
  // included: read from the raw arguments, since a usage error stops the parsing of flags.
  (run) =>
    Effect.flatMap(Stdio.Stdio, (stdio) =>
      Effect.flatMap(stdio.args, (args) =>
        Effect.provideService(run, Failure.ErrorOutput, Failure.wantsJson(args) ? "json" : "text")
      )
    ),
  Effect.provide([outputLayer, Log.layer]),
  // Warnings and errors unless `--log-level` asks for more: a command's own output is what it
  // prints; the library's Info lines (connects, disconnects) are there for --log-level info
  Effect.provideService(References.MinimumLogLevel, "Warn")
)
