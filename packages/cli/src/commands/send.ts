/**
 * `ncp send HOST[:PORT] PACKET FIELD [NAME[:TYPE]=VALUE ...]`: sends one command field to a
 * node and prints its replies.
 *
 * @since 0.1.0
 */
import type { Field } from "@effect-ncp/core"
import { Command, Flag } from "effect/cli"
import type * as Effect from "effect/Effect"
import {
  address,
  type ConnectionOptions,
  connectionFlags,
  identifier,
  notImplemented,
  params,
  type ReplyLimit,
  replyLimitFlags,
  toConnectionOptions,
  toReplyLimit,
  validateConnection,
  validateReplyLimit
} from "./options.js"

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
export const run = (_options: SendOptions) => notImplemented("send")

/** The `send` command. */
export const command = make(run)
