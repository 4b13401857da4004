/**
 * What the commands that talk to several nodes share: the `--nodes` and `--nodes-file` flags,
 * the `Fleet` of the nodes they name (with the connection flags for every node), and how a
 * node's result is printed: prefixed with the node in text, tagged `"node"` in JSON lines.
 *
 * With `--cluster URL`, the fleet is a view of those nodes on a clustered fleet (`ncp runner`):
 * the runners hold the connections (with their own connection flags), `--timeout` is still each
 * node's deadline, and a node not in the cluster's fleet answers that it is not.
 *
 * @since 0.1.0
 */
import { ConnectionError, Fleet, type Transport } from "@effect-ncp/core"
import { NodeTransport } from "@effect-ncp/node"
import * as Context from "effect/Context"
import { CliError, Flag } from "effect/cli"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as References from "effect/References"
import * as Result from "effect/Result"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Address from "../Address.js"
import type { Reported } from "../Reported.js"
import { type ConnectionOptions, otlpLayer } from "./options.js"
import * as Session from "./session.js"

/** The nodes a command was given: listed with `--nodes`, and a file of them with `--nodes-file`. */
export interface Nodes {
  readonly listed: ReadonlyArray<Address.Address>
  readonly file: string | undefined
  /** `--cluster URL`: ask them through the runners of this clustered fleet. */
  readonly cluster?: Redacted.Redacted<string> | undefined
}

/** Parses a comma-separated list of `HOST[:PORT]`, or says which one is not an address. */
export const parseNodeList = (text: string): Result.Result<ReadonlyArray<Address.Address>, string> => {
  const addresses: Array<Address.Address> = []
  for (const item of text.split(",")) {
    const trimmed = item.trim()
    if (trimmed === "") continue
    const parsed = Address.parseAddress(trimmed)
    if (Result.isFailure(parsed)) return Result.fail(`"${trimmed}": ${parsed.failure}`)
    addresses.push(parsed.success)
  }
  return addresses.length === 0 ? Result.fail("no node given") : Result.succeed(addresses)
}

/**
 * Parses a nodes file: one `HOST[:PORT]` per line (or several, comma-separated); blank lines and
 * `#` comments are skipped. Says the line of an address that is not one.
 */
export const parseNodesFile = (text: string): Result.Result<ReadonlyArray<Address.Address>, string> => {
  const addresses: Array<Address.Address> = []
  const lines = text.split(/\r?\n/)
  for (let line = 0; line < lines.length; line++) {
    const content = (lines[line] ?? "").replace(/#.*$/, "").trim()
    if (content === "") continue
    const parsed = parseNodeList(content)
    if (Result.isFailure(parsed)) return Result.fail(`line ${line + 1}: ${parsed.failure}`)
    addresses.push(...parsed.success)
  }
  return Result.succeed(addresses)
}

/** The `--nodes` and `--nodes-file` flags. */
export const nodesFlags = {
  nodes: Flag.String("nodes").pipe(
    Flag.withMetavar("HOST[:PORT],..."),
    Flag.withDescription("Several nodes at once, comma-separated: a result per node"),
    Flag.mapTryCatch(
      (text) => {
        const parsed = parseNodeList(text)
        if (Result.isFailure(parsed)) throw new Error(parsed.failure)
        return parsed.success
      },
      (error) => (error instanceof Error ? error.message : String(error))
    ),
    Flag.optional
  ),
  nodesFile: Flag.File("nodes-file", { mustExist: true }).pipe(
    Flag.withMetavar("F"),
    Flag.withDescription("Several nodes at once, read from a file: one HOST[:PORT] per line, # comments"),
    Flag.optional
  ),
  cluster: Flag.Redacted("cluster").pipe(
    Flag.withMetavar("URL"),
    Flag.withDescription(
      "Ask the nodes through the runners of a clustered fleet (ncp runner), named by its Postgres URL"
    ),
    Flag.optional
  )
} as const

/** The nodes the flags name, or `undefined` when neither was given (one node, as before). */
export const toNodes = (flags: {
  readonly nodes: Option.Option<ReadonlyArray<Address.Address>>
  readonly nodesFile: Option.Option<string>
  readonly cluster?: Option.Option<Redacted.Redacted<string>> | undefined
}): Nodes | undefined => {
  const cluster = flags.cluster === undefined ? undefined : Option.getOrUndefined(flags.cluster)
  // --cluster alone is the several-nodes form too, so that resolveNodes asks for the nodes
  return Option.isNone(flags.nodes) && Option.isNone(flags.nodesFile) && cluster === undefined
    ? undefined
    : { listed: Option.getOrElse(flags.nodes, () => []), file: Option.getOrUndefined(flags.nodesFile), cluster }
}

/** A usage error of a command with `--nodes`. */
export const usage = (message: string) => Effect.fail(new CliError.ValidationError({ message }))

/** Every node the flags name, the file read; each once, in the order given. */
export const resolveNodes = (
  command: string,
  nodes: Nodes
): Effect.Effect<ReadonlyArray<Address.Address>, Reported, FileSystem.FileSystem> =>
  Effect.gen(function* () {
    const fromFile: ReadonlyArray<Address.Address> =
      nodes.file === undefined
        ? []
        : yield* Effect.flatMap(FileSystem.FileSystem, (fs) => fs.readFileString(nodes.file ?? "")).pipe(
            Effect.catch((error) => Session.fail(command, `cannot read --nodes-file ${nodes.file}: ${error.message}`)),
            Effect.flatMap((text) =>
              Result.match(parseNodesFile(text), {
                onSuccess: Effect.succeed,
                onFailure: (detail) => Session.fail(command, `--nodes-file ${nodes.file} ${detail}`)
              })
            )
          )
    const all = [...nodes.listed, ...fromFile]
    if (all.length === 0) {
      return yield* Session.fail(
        command,
        nodes.file === undefined
          ? "with --cluster, give the nodes to ask with --nodes or --nodes-file"
          : `--nodes-file ${nodes.file} names no node`
      )
    }
    const seen = new Set<string>()
    return all.filter((address) => {
      const key = Fleet.nodeKey(address)
      if (seen.has(key)) return false
      seen.add(key)
      return true
    })
  })

/**
 * A fleet of `addresses`, each node with the command-line connection options, in the current
 * scope, over Node's transport; built once every node's first attempt has ended. Each node's
 * deadline is `--timeout` (10 s by default). The library's connect and disconnect lines are
 * left out unless `--log-level` asks for them: the command reports each node itself.
 *
 * With `options.cluster`, a view of `addresses` on that clustered fleet instead
 * (`NodeCluster.layerClient`, `view: "nodes"`): nothing is connected from here, and the
 * cluster's fleet is left as it is.
 */
export const makeFleet = (
  addresses: ReadonlyArray<Address.Address>,
  connection: ConnectionOptions,
  options: Pick<Fleet.FleetOptions, "probe"> & { readonly cluster?: Redacted.Redacted<string> | undefined } = {}
): Effect.Effect<Fleet.FleetService, ConnectionError.NetworkError, Scope.Scope> => {
  const timeout = connection.timeoutSeconds === undefined ? undefined : Duration.seconds(connection.timeoutSeconds)
  if (options.cluster !== undefined) {
    const probe = options.probe
    const database = options.cluster
    // loaded when asked for: the cluster's code is not what the other commands start with
    return Effect.promise(() => import("@effect-ncp/node/cluster")).pipe(
      Effect.flatMap(({ NodeCluster }) =>
        Layer.build(NodeCluster.layerClient({ database, nodes: addresses, view: "nodes", timeout }))
      ),
      Effect.map((context) => Context.get(context, Fleet.Fleet)),
      // the runners do not probe for this command: its own STAT of every open node, as Fleet's probe
      Effect.tap((fleet) =>
        probe === undefined
          ? Effect.void
          : Effect.forkScoped(
              Effect.forever(
                Effect.flatMap(fleet.state, (states) =>
                  Stream.runDrain(
                    fleet.request(
                      { packetType: probe.packetType ?? "STAT", fieldName: probe.fieldName ?? "STAT" },
                      { nodes: states.filter((state) => state.link === "Open").map((state) => state.node) }
                    )
                  )
                ).pipe(Effect.andThen(Effect.sleep(probe.interval)))
              )
            )
      ),
      // told as the command's failure, as a node's network error would be
      Effect.mapError(
        (error) =>
          new ConnectionError.NetworkError({ detail: `cannot reach the cluster: ${error.message}`, cause: error })
      ),
      quietNodes
    )
  }
  const { host: _host, port: _port, ...defaults } = Session.clientOptions(connection)
  const make = Fleet.make({
    nodes: addresses,
    defaults,
    timeout,
    probe: options.probe
  }).pipe(Effect.provide(NodeTransport.layer))
  return quietNodes(make)
}

/**
 * The nodes' clients inherit the level they are started with: at the CLI's default (Warn), a
 * node that is down would log a retry line per node besides its result.
 */
const quietNodes = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.flatMap(References.MinimumLogLevel, (level) =>
    level === "Warn" ? Effect.provideService(effect, References.MinimumLogLevel, "Error") : effect
  )

/** What a node failed with, in one line (without the node's name when the message starts with it). */
export const describeNodeError = (
  node: string,
  error: ConnectionError.ConnectionError | { readonly message: string }
) => {
  const text = "_tag" in error ? Session.describeError(error) : error.message
  return text.startsWith(`${node}: `) ? text.slice(node.length + 2) : text.replace(`: ${node}: `, ": ")
}

/** A node's failure as a JSON line: `{"node","error":{"tag","message"}}`. */
export const errorJson = (node: string, error: { readonly _tag: string; readonly message: string }): string =>
  JSON.stringify({ node, error: { tag: error._tag, message: error.message } })

/** A JSON object's text with `"node"` first. */
export const tagged = (node: string, json: string): string =>
  json.startsWith("{}") ? JSON.stringify({ node }) : `{"node":${JSON.stringify(node)},${json.slice(1)}`

/** The line that ends a command some of whose nodes failed: exit code 1. */
export const failedNodes = (command: string, failed: number, total: number): Effect.Effect<void, Reported> =>
  failed === 0 ? Effect.void : Session.fail(command, `${failed} of ${total} node(s) failed`)

/**
 * Runs a command that talks to one node, or with `--nodes` to many: in its own scope, over
 * Node's transport, with its `--otlp` export, and its failure reported as the command's.
 */
export const runOneOrMany = <
  O extends { readonly nodes?: Nodes | undefined; readonly connection: Pick<ConnectionOptions, "otlp"> }
>(
  command: string,
  options: O,
  one: (options: O) => Effect.Effect<void, CommandFailure, CommandServices>,
  many: (options: O, nodes: Nodes) => Effect.Effect<void, CommandFailure, CommandServices>
) =>
  Effect.suspend(() => (options.nodes === undefined ? one(options) : many(options, options.nodes))).pipe(
    Effect.scoped,
    Session.reportFailure(command),
    Effect.provide(NodeTransport.layer),
    Effect.provide(otlpLayer(options.connection.otlp))
  )

type CommandFailure = ConnectionError.ConnectionError | Reported
type CommandServices = Scope.Scope | Transport.Transport | FileSystem.FileSystem
