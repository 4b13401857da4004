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
import { type Decoder, Json, Timestamp } from "@effect-ncp/core"
import * as Console from "effect/Console"
import { Argument, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import type * as PlatformError from "effect/PlatformError"
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

const fail = (detail: string) =>
  Console.error(`ncp decode: ${detail}`).pipe(Effect.andThen(Effect.fail(new Reported({ exitCode: 1, detail }))))

/** The JSON lines of one decoded packet. */
const packetLines = (decoded: Decoder.Decoded, packets: boolean): Array<string> => {
  const packet = decoded.packet
  if (packets) return [JSON.stringify(Json.fromPacket(packet))]
  const timestamp = Timestamp.toIsoString(packet.timestamp)
  return packet.fields.map((field) =>
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

/**
 * Runs `ncp decode`. The input is read as a stream and each packet printed once scanned, so
 * memory stays flat in the capture's size (one packet, at most `maxPacketBytes`, is held).
 */
export const run = Effect.fn("decode.run")(function* (options: DecodeOptions) {
  const name = options.input === "-" ? "standard input" : options.input
  const input: Stream.Stream<Uint8Array, PlatformError.PlatformError, FileSystem.FileSystem | Stdio.Stdio> =
    options.input === "-"
      ? Stream.unwrap(Effect.map(Stdio.Stdio, (stdio) => stdio.stdin))
      : Stream.unwrap(Effect.map(FileSystem.FileSystem, (fs) => fs.stream(options.input, { chunkSize: 64 * 1024 })))
  const scanner = new Capture.CaptureScanner()
  const hex = options.hex ? new Capture.HexDecoder() : undefined
  let malformed = 0
  // Prints what the scanner has found so far: output and problems each in capture order.
  const flush = Effect.suspend(() => {
    const out: Array<string> = []
    const problems: Array<string> = []
    for (let event = scanner.next(); event !== undefined; event = scanner.next()) {
      if (event._tag === "Malformed") {
        malformed++
        problems.push(`ncp decode: ${Capture.describeProblem(event)}`)
        continue
      }
      for (const warning of event.decoded.warnings) problems.push(`ncp decode: warning: ${warning.message}`)
      out.push(...packetLines(event.decoded, options.packets))
    }
    return Effect.andThen(
      out.length > 0 ? Console.log(out.join("\n")) : Effect.void,
      problems.length > 0 ? Console.error(problems.join("\n")) : Effect.void
    )
  })
  const notHex = (problem: Capture.HexProblem) => fail(`${name} is not hex: ${problem.detail}`)
  yield* input.pipe(
    Stream.mapError((error) => ({ _tag: "Unreadable" as const, message: error.message })),
    Stream.runForEach((chunk) => {
      if (hex === undefined) scanner.push(chunk)
      else {
        const bytes = hex.push(chunk)
        if (Result.isFailure(bytes)) return notHex(bytes.failure)
        scanner.push(bytes.success)
      }
      return flush
    }),
    Effect.catchTag("Unreadable", (error) => fail(`cannot read ${name}: ${error.message}`))
  )
  if (hex !== undefined) {
    const ended = hex.end()
    if (Result.isFailure(ended)) return yield* notHex(ended.failure)
  }
  scanner.end()
  yield* flush
  if (malformed > 0) {
    return yield* new Reported({
      exitCode: 1,
      detail: `${malformed} malformed packet${malformed === 1 ? "" : "s"} in ${name}`
    })
  }
})

/** The `decode` command. */
export const command = make(run)
