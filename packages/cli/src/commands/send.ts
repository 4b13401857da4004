/**
 * `ncp send HOST[:PORT] PACKET FIELD [NAME[:TYPE]=VALUE ...]`: sends one command field to a
 * node and prints its replies: the first by default, N with `--count N`, every one until
 * interrupted with `--follow`. Acknowledgements (`ACKN`) are skipped; an error reply ends the
 * command with one stderr line. `--json` prints one line per reply in the form `ncp decode`
 * prints; otherwise a readable block per reply.
 *
 * @since 0.1.0
 */
import type { Field } from "@effect-ncp/core"
import { NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import { Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as Format from "../Format.js"
import * as Progress from "../Progress.js"
import {
  address,
  type ConnectionOptions,
  connectionFlags,
  identifier,
  params,
  type ReplyLimit,
  replyLimitFlags,
  toConnectionOptions,
  toReplyLimit,
  validateConnection,
  validateReplyLimit
} from "./options.js"
import * as Session from "./session.js"

/** What `ncp send` was asked to do. */
export interface SendOptions {
  readonly connection: ConnectionOptions
  readonly packetType: string
  readonly field: string
  readonly params: ReadonlyArray<Field.Param>
  readonly replies: ReplyLimit
  /** Print replies as JSON lines instead of text. */
  readonly json: boolean
}

/** The `send` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: SendOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "send",
    {
      address,
      packetType: identifier("packet", "Packet type, e.g. DSPC"),
      field: identifier("field", "Field name, e.g. SWEP"),
      params,
      ...connectionFlags,
      ...replyLimitFlags,
      json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("Print each reply as a JSON line"))
    },
    (input) =>
      run({
        connection: toConnectionOptions(input.address, input),
        packetType: input.packetType,
        field: input.field,
        params: input.params,
        replies: toReplyLimit(input),
        json: input.json
      })
  ).pipe(
    Command.validate((input) => validateConnection(input)),
    Command.validate((input) => validateReplyLimit(input)),
    Command.withDescription("Send a command field to a node and print its replies"),
    Command.withExamples([
      { command: "ncp send rfeye002301 STAT RFLO", description: "Ask a node for its RF status" },
      {
        command: "ncp send 10.0.0.5:9999 DSPC SWEP FSTA=2400 FSTP=2500 --count 3 --json",
        description: "Start a sweep and print 3 replies as JSON"
      }
    ])
  )

/** Runs `ncp send`. */
export const run = (options: SendOptions) =>
  Effect.gen(function* () {
    const connection = yield* Session.connect(options.connection)
    const response = yield* connection.send(options.packetType, options.field, options.params)
    const print = (field: Parameters<typeof Format.fieldJson>[0]) =>
      Console.log(options.json ? Format.fieldJson(field) : Format.fieldText(field))
    const replies = options.replies
    if (replies._tag === "Follow") return yield* Stream.runForEach(response.fields, print)
    let received = 0
    yield* response.fields.pipe(
      Stream.take(replies.count),
      Stream.runForEach((field) => {
        received++
        return print(field)
      }),
      Progress.withProgress("waiting for the reply")
    )
    if (received < replies.count) {
      return yield* Session.fail("send", `the node closed the connection after ${received} of ${replies.count} replies`)
    }
  }).pipe(Effect.scoped, Session.reportFailure("send"), Effect.provide(NodeTransport.layer))

/** The `send` command. */
export const command = make(run)
