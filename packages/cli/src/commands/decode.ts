/**
 * `ncp decode [FILE|-] [--hex]`: decodes a capture of concatenated packets into JSON lines,
 * one per field (`{"packet_type", "packet_id", "timestamp", "name", "id", "params"}`, params
 * as in the vectors), or with `--packets` one per packet in the vectors' packet form.
 *
 * A malformed packet is reported on stderr, one line with its offset, and the rest of the
 * capture is still decoded where the framing allows (see `Capture.scanCapture`); the exit
 * code is then 1. Decode warnings (unknown type codes, legacy footers) go to stderr too but
 * do not change the exit code.
 *
 * @since 0.1.0
 */
import { Bytes, Json, Timestamp } from "@effect-ncp/core"
import * as Console from "effect/Console"
import { Argument, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stdio from "effect/Stdio"
import * as Stream from "effect/Stream"
import * as Capture from "../Capture.js"
import { Reported } from "../Reported.js"

/** What `ncp decode` was asked to do. */
export interface DecodeOptions {
  /** A file path, or `"-"` for standard input. */
  readonly input: string
  /** The input is hex text, not bytes. */
  readonly hex: boolean
  /** One JSON line per packet instead of one per field. */
  readonly packets: boolean
}

/** The `decode` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: DecodeOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "decode",
    {
      input: Argument.String("file").pipe(
        Argument.withMetavar("FILE|-"),
        Argument.withDescription("The capture; - or nothing for standard input"),
        Argument.optional
      ),
      hex: Flag.Boolean("hex").pipe(
        Flag.withDefault(false),
        Flag.withDescription("The capture is hex text (whitespace and newlines ignored)")
      ),
      packets: Flag.Boolean("packets").pipe(
        Flag.withDefault(false),
        Flag.withDescription("Print one JSON line per packet instead of per field")
      )
    },
    (input) => run({ input: Option.getOrElse(input.input, () => "-"), hex: input.hex, packets: input.packets })
  ).pipe(
    Command.withDescription("Decode a capture of concatenated NCP packets into JSON lines"),
    Command.withExamples([
      { command: "ncp decode capture.bin", description: "Decode a binary capture" },
      { command: "xxd -p capture.bin | ncp decode --hex", description: "Decode hex text from standard input" }
    ])
  )

const readInput = Effect.fnUntraced(function* (input: string) {
  if (input === "-") {
    const stdio = yield* Stdio.Stdio
    return Bytes.concat(yield* Stream.runCollect(stdio.stdin))
  }
  const fs = yield* FileSystem.FileSystem
  return yield* fs.readFile(input)
})

const fail = (detail: string) =>
  Console.error(`ncp decode: ${detail}`).pipe(Effect.andThen(Effect.fail(new Reported({ exitCode: 1, detail }))))

/** Runs `ncp decode`. */
export const run = Effect.fn("decode.run")(function* (options: DecodeOptions) {
  const name = options.input === "-" ? "standard input" : options.input
  const raw = yield* readInput(options.input).pipe(
    Effect.catch((error) => fail(`cannot read ${name}: ${error.message}`))
  )
  let bytes = raw
  if (options.hex) {
    const parsed = Capture.parseHex(new TextDecoder().decode(raw))
    if (Result.isFailure(parsed)) return yield* fail(`${name} is not hex: ${parsed.failure.detail}`)
    bytes = parsed.success
  }
  let malformed = 0
  const out: Array<string> = []
  const problems: Array<string> = []
  for (const event of Capture.scanCapture(bytes)) {
    if (event._tag === "Malformed") {
      malformed++
      problems.push(`ncp decode: ${Capture.describeProblem(event)}`)
      continue
    }
    const { packet, warnings } = event.decoded
    for (const warning of warnings) problems.push(`ncp decode: warning: ${warning.message}`)
    if (options.packets) {
      out.push(JSON.stringify(Json.fromPacket(packet)))
      continue
    }
    const timestamp = Timestamp.toIsoString(packet.timestamp)
    for (const field of packet.fields) {
      out.push(
        JSON.stringify({
          packet_type: packet.type,
          packet_id: packet.id,
          timestamp,
          name: field.name,
          id: field.id,
          params: field.params.map(Json.fromParam)
        })
      )
    }
  }
  // Problems and output are each written in capture order; stdout and stderr are separate streams.
  if (out.length > 0) yield* Console.log(out.join("\n"))
  if (problems.length > 0) yield* Console.error(problems.join("\n"))
  if (malformed > 0) {
    return yield* new Reported({
      exitCode: 1,
      detail: `${malformed} malformed packet${malformed === 1 ? "" : "s"} in ${name}`
    })
  }
})

/** The `decode` command. */
export const command = make(run)
