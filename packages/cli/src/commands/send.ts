/**
 * `ncp send HOST[:PORT] PACKET FIELD [NAME[:TYPE]=VALUE ...]`: sends one command field to a
 * node and prints its replies: the first by default, N with `--count N`, every one until
 * interrupted with `--follow`. Acknowledgements (`ACKN`) are skipped; an error reply ends the
 * command with one stderr line. `--json` prints one line per reply in the form `ncp decode`
 * prints; otherwise a readable block per reply.
 *
 * `ncp send --nodes A,B,... PACKET FIELD [NAME[:TYPE]=VALUE ...]` (or `--nodes-file F`) sends the
 * command to every node at once, each within `--timeout` (10 s by default), and prints each
 * node's replies as they arrive: prefixed with the node in text, tagged `"node"` in JSON lines;
 * a node that fails prints one line of its own (`{"node","error":{"tag","message"}}` in JSON),
 * and the command then exits 1 once every node is done.
 *
 * @since 0.1.0
 */
import { type Field, Fleet, Identifier } from "@effect-ncp/core"
import * as Console from "effect/Console"
import { Argument, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import * as Format from "../Format.js"
import * as Params from "../Params.js"
import * as Progress from "../Progress.js"
import * as Nodes from "./nodes.js"
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
  /** The connection; with `nodes`, its flags for every node (its host and port unused). */
  readonly connection: ConnectionOptions
  readonly packetType: string
  readonly field: string
  readonly params: ReadonlyArray<Field.Param>
  readonly replies: ReplyLimit
  /** Print replies as JSON lines instead of text. */
  readonly json: boolean
  /** `--nodes`, `--nodes-file`: send to every one of them instead of one node. */
  readonly nodes?: Nodes.Nodes | undefined
}

const identifierRule = "an NCP identifier: 1-4 characters of A-Z and 0-9"

/**
 * The positional arguments as meant: `HOST PACKET FIELD PARAMS...` for one node; with `--nodes`,
 * no HOST, so each shifts by one (`PACKET FIELD PARAMS...`). Parsing sees the same words either
 * way; this reads them with the mode known.
 */
const positionals = (input: {
  readonly address: { readonly host: string; readonly port: number | undefined }
  readonly packetType: string
  readonly field: Option.Option<string>
  readonly params: ReadonlyArray<Field.Param>
  readonly fleet: boolean
}): Result.Result<
  { readonly packetType: string; readonly field: string; readonly params: ReadonlyArray<Field.Param> },
  string
> => {
  if (!input.fleet) {
    if (Option.isNone(input.field)) return Result.fail("missing FIELD: the field name, e.g. SWEP")
    const field = input.field.value
    if (!Identifier.isIdentifier(field)) return Result.fail(`FIELD "${field}": ${identifierRule}`)
    return Result.succeed({ packetType: input.packetType, field, params: input.params })
  }
  const packetType = input.address.host
  const shape = "with --nodes, the arguments are PACKET FIELD [NAME[:TYPE]=VALUE ...] (no HOST)"
  if (input.address.port !== undefined || !Identifier.isIdentifier(packetType)) {
    return Result.fail(`PACKET "${packetType}": ${identifierRule}; ${shape}`)
  }
  if (Option.isNone(input.field)) return Result.succeed({ packetType, field: input.packetType, params: input.params })
  const first = Params.parseParam(input.field.value)
  if (Result.isFailure(first)) return Result.fail(first.failure.message)
  return Result.succeed({ packetType, field: input.packetType, params: [first.success, ...input.params] })
}

/** The `send` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: SendOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "send",
    {
      address,
      packetType: identifier("packet", "Packet type, e.g. DSPC"),
      field: Argument.String("field").pipe(
        Argument.withMetavar("FIELD"),
        Argument.withDescription("Field name, e.g. SWEP"),
        Argument.optional
      ),
      params,
      ...connectionFlags,
      ...replyLimitFlags,
      json: Flag.Boolean("json").pipe(Flag.withDefault(false), Flag.withDescription("Print each reply as a JSON line")),
      ...Nodes.nodesFlags
    },
    (input) => {
      const nodes = Nodes.toNodes(input)
      const words = positionals({ ...input, fleet: nodes !== undefined })
      // validated below: a failure here cannot happen
      const { packetType, field, params } = Result.getOrElse(words, () => ({
        packetType: input.packetType,
        field: "",
        params: input.params
      }))
      return run({
        connection:
          nodes === undefined
            ? toConnectionOptions(input.address, input)
            : toConnectionOptions({ host: "", port: undefined }, input),
        packetType,
        field,
        params,
        replies: toReplyLimit(input),
        json: input.json,
        nodes
      })
    }
  ).pipe(
    Command.validate((input) => validateConnection(input)),
    Command.validate((input) => validateReplyLimit(input)),
    Command.validate((input) =>
      Result.match(positionals({ ...input, fleet: Nodes.toNodes(input) !== undefined }), {
        onSuccess: () => Effect.void,
        onFailure: Nodes.usage
      })
    ),
    Command.withDescription("Send a command field to a node (or to several, --nodes) and print its replies"),
    Command.withExamples([
      { command: "ncp send rfeye002301 STAT RFLO", description: "Ask a node for its RF status" },
      {
        command: "ncp send 10.0.0.5:9999 DSPC SWEP FSTA=2400 FSTP=2500 --count 3 --json",
        description: "Start a sweep and print 3 replies as JSON"
      },
      {
        command: "ncp send --nodes rfeye002301,rfeye002302 STAT STAT --json",
        description: "Ask two nodes for their status: a JSON line per node"
      }
    ])
  )

/** Runs `ncp send` on several nodes: each node's replies as they arrive, tagged with the node. */
const runNodes = (options: SendOptions, nodes: Nodes.Nodes) =>
  Effect.gen(function* () {
    const addresses = yield* Nodes.resolveNodes("send", nodes)
    const fleet = yield* Nodes.makeFleet(addresses, options.connection, { cluster: nodes.cluster })
    const replies = options.replies
    const wanted = replies._tag === "Count" ? replies.count : undefined
    const received = new Map<string, number>()
    const failed = new Set<string>()
    yield* fleet
      .stream({ packetType: options.packetType, fieldName: options.field, params: options.params }, { replies: wanted })
      .pipe(
        Stream.runForEach(({ node, result }) => {
          if (Result.isFailure(result)) {
            failed.add(node)
            return Console.log(
              options.json
                ? Nodes.errorJson(node, result.failure)
                : `${node}  error: ${Nodes.describeNodeError(node, result.failure)}`
            )
          }
          received.set(node, (received.get(node) ?? 0) + 1)
          return Console.log(
            options.json
              ? Nodes.tagged(node, Format.fieldJson(result.success))
              : `${node}  ${Format.fieldText(result.success)}`
          )
        }),
        Progress.withProgress(`waiting for ${addresses.length} node(s)`)
      )
    // a node whose connection closed before it gave every reply asked for
    if (wanted !== undefined) {
      for (const address of addresses) {
        const node = Fleet.nodeKey(address)
        const count = received.get(node) ?? 0
        if (failed.has(node) || count >= wanted) continue
        failed.add(node)
        const detail = `the node closed the connection after ${count} of ${wanted} replies`
        yield* Console.log(
          options.json
            ? Nodes.errorJson(node, { _tag: "ConnectionClosed", message: detail })
            : `${node}  error: ${detail}`
        )
      }
    }
    yield* Nodes.failedNodes("send", failed.size, addresses.length)
  })

/** Runs `ncp send`. */
export const run = (options: SendOptions) => Nodes.runOneOrMany("send", options, runOne, runNodes)

/** Runs `ncp send` on one node. */
const runOne = (options: SendOptions) =>
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
  })

/** The `send` command. */
export const command = make(run)
