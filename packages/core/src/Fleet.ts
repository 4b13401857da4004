/**
 * A fleet of nodes in one process: every node kept connected, commands fanned out to all of
 * them (or a chosen set), all of them watched. A monitoring backend that talks to tens or
 * thousands of RFeye nodes holds one `Fleet` instead of wiring a reconnecting client per node
 * and writing its own loops, deadlines and error bookkeeping.
 *
 * - **Nodes** are keyed by address, `host:port` as `Client.defaultRemote` names them (an IPv6
 *   address in brackets, `[::1]:9999`), each with its connection options. They are given at
 *   start (a list, or `effect/Config` with {@link layerConfig}) and added or removed while the
 *   fleet runs. Each is a reconnecting client (`Client.connectReconnecting`): it comes back
 *   when the node does, and a removed node's client is closed with everything it held.
 * - **State**: each node's link (`Connecting`, `Open`, `BackingOff`, `Closed`), last error,
 *   agreed timeout, round trip and connected-since, as plain data ({@link NodeState}): a
 *   snapshot (`state`) or a Stream of changes (`changes`).
 * - **Fan-out**: a command to every node (or `nodes`), at most `concurrency` at once, each node
 *   within its own deadline (`timeout`), answered with one {@link NodeResult} per node: the
 *   reply or the node's typed error, never one node's failure failing the whole. In the order
 *   they arrive (`request`, {@link call}) or all at once, in the nodes' order
 *   ({@link requestAll}, {@link callAll}).
 * - **Merged streams**: a streaming command (sweeps with `REPT`) on many nodes as one Stream of
 *   replies tagged with their node (`stream`, {@link stream}), backpressured per node: a slow
 *   consumer slows the nodes (their connections stop being read), not memory.
 * - **Schedules**: a command on every node on an `effect/Schedule` ({@link onSchedule}), a node
 *   that is down or still busy with the previous round skipped without stalling the rest.
 *
 * **Round trip.** NCP keep-alives carry no reply, so they measure nothing: a node's
 * `roundTrip` is that of its latest request made through the fleet (from sending to the first
 * reply, an error reply included). A fleet that makes no requests of its own can `probe`
 * every node with a light command (`STAT` by default) on an interval; it is off by default.
 *
 * **Bounds.** One connection per node, and nothing else per node but its state and one fiber
 * watching it: an idle node costs its reconnecting client (about 60 KB of live heap,
 * `npm run bench:fleet`). What a busy node may hold is its connection's limits (`Limits`,
 * client side: `maxBufferedBytes` of replies not yet taken, `maxWriteBufferBytes` of commands
 * not yet written), so the fleet in all holds at most the number of nodes times those, plus
 * one result per node for the all-at-once forms; set them in `defaults` for a large fleet
 * (the client's 64 MiB default is sized for one node's largest capture). A change subscriber
 * holds at most one pending state per node. A fan-out keeps at most `concurrency` requests in
 * flight; a merged stream `bufferSize` replies between the nodes and its consumer.
 *
 * The service's operations take and return plain data (a {@link Request}, {@link NodeResult}s
 * of {@link ReplyField}s and the library's tagged errors, {@link NodeState}s); typed commands
 * are layered on top with the command's Schemas ({@link call}, {@link stream},
 * {@link onSchedule}), so another implementation of the service (nodes spread over several
 * processes) needs only the primitives.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-ncp/core"
 * import { NodeTransport } from "@effect-ncp/node"
 * import { SimulatedNode } from "@effect-ncp/core/testing"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 * import * as Result from "effect/Result"
 *
 * const Nodes = Fleet.Fleet.layer({
 *   nodes: [{ host: "rfeye000123.local" }, { host: "rfeye000124.local" }],
 *   timeout: "5 seconds"
 * }).pipe(Layer.provide(NodeTransport.layer))
 *
 * const program = Effect.gen(function* () {
 *   for (const { node, result } of yield* Fleet.callAll(SimulatedNode.Status)) {
 *     console.log(node, Result.isSuccess(result) ? result.success.STAT : result.failure.message)
 *   }
 * }).pipe(Effect.provide(Nodes))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import type * as Config from "effect/Config"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import * as Layer from "effect/Layer"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import type * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Client from "./Client.js"
import * as CommandClient from "./CommandClient.js"
import type * as Connection from "./Connection.js"
import { type ConnectionError, NetworkTimeout, NotConnected } from "./ConnectionError.js"
import * as Field from "./Field.js"
import * as NcpCommand from "./NcpCommand.js"
import type * as Timestamp from "./Timestamp.js"
import { Transport } from "./Transport.js"

// ---------------------------------------------------------------------------------------------
// Nodes and their addresses
// ---------------------------------------------------------------------------------------------

/** A node of the fleet: where it is and how to connect to it, as for `Client.connectReconnecting`. */
export type NodeOptions = Client.ReconnectOptions

/** A node's address: a host, and a port unless the default (9999; 443 with TLS; 80 with credentials). */
export interface NodeAddress {
  readonly host: string
  readonly port?: number | undefined
}

/**
 * A node's key in the fleet: `host:port` as `Client.defaultRemote` names it, the port filled
 * in (`rfeye000123.local:9999`, `[fe80::1]:9999`).
 */
export const nodeKey = (node: Pick<NodeOptions, "host" | "port" | "tls" | "username" | "password">): string =>
  Client.defaultRemote(node)

/**
 * Parses `HOST[:PORT]`, with an IPv6 host in brackets when a port follows (`[::1]:9999`); a bare
 * IPv6 address (`::1`) has no port. Fails with a sentence saying what is wrong.
 *
 * @example
 * ```ts
 * Fleet.parseAddress("rfeye002301:9999") // Success({ host: "rfeye002301", port: 9999 })
 * Fleet.parseAddress("[fe80::1]")        // Success({ host: "fe80::1", port: undefined })
 * ```
 */
export const parseAddress = (text: string): Result.Result<NodeAddress, string> => {
  if (text.startsWith("[")) {
    const close = text.indexOf("]")
    if (close < 0) return Result.fail(`missing "]" after the IPv6 address in "${text}"`)
    const host = text.slice(1, close)
    const rest = text.slice(close + 1)
    if (host === "") return Result.fail(`empty host in "${text}"`)
    if (rest === "") return Result.succeed({ host, port: undefined })
    if (!rest.startsWith(":")) return Result.fail(`expected ":PORT" after "]" in "${text}"`)
    return withPort(host, rest.slice(1))
  }
  const colon = text.indexOf(":")
  // Several colons without brackets: an IPv6 address, no port.
  if (colon < 0 || text.indexOf(":", colon + 1) >= 0) {
    return text === "" ? Result.fail("empty host") : Result.succeed({ host: text, port: undefined })
  }
  const host = text.slice(0, colon)
  if (host === "") return Result.fail(`empty host in "${text}"`)
  return withPort(host, text.slice(colon + 1))
}

const withPort = (host: string, port: string): Result.Result<NodeAddress, string> => {
  const parsed = parsePort(port)
  return typeof parsed === "string" ? Result.fail(parsed) : Result.succeed({ host, port: parsed })
}

/** A TCP port 1-65535 from its decimal text, or why not. */
export const parsePort = (text: string): number | string => {
  if (!/^\d{1,5}$/.test(text)) return `port "${text}" is not a number 1-65535`
  const port = Number(text)
  return port >= 1 && port <= 65535 ? port : `port ${port} is outside 1-65535`
}

/**
 * A node's address from its `HOST[:PORT]` text ({@link parseAddress}), for reading the nodes
 * from configuration.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-ncp/core"
 * import * as Config from "effect/Config"
 *
 * // NCP_NODES=rfeye1:9999,rfeye2:9999,[fe80::1]:9999
 * const nodes = Config.Array(Fleet.NodeAddressFromString, "NCP_NODES")
 * ```
 */
export const NodeAddressFromString: Schema.Codec<NodeAddress, string> = Schema.String.pipe(
  Schema.decodeTo(
    Schema.Struct({ host: Schema.String, port: Schema.optional(Schema.Number) }),
    SchemaTransformation.transformEffect({
      decode: (text: string, options) => {
        const parsed = parseAddress(text.trim())
        return Result.isSuccess(parsed)
          ? Effect.succeed(parsed.success)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: parsed.failure }, text, options))
      },
      encode: (address: NodeAddress) =>
        Effect.succeed(
          address.port === undefined
            ? address.host.includes(":")
              ? `[${address.host}]`
              : address.host
            : nodeKey({ host: address.host, port: address.port })
        )
    })
  )
).annotate({ identifier: "NodeAddressFromString" })

// ---------------------------------------------------------------------------------------------
// Plain data: state, requests, replies, results
// ---------------------------------------------------------------------------------------------

/** How a node's link stands: its reconnecting client's state, or `Removed` once it left the fleet. */
export type Link = Connection.ClientState["_tag"] | "Removed"

/**
 * A node's state, as plain data.
 *
 * - `link`: `Connecting` (an attempt is under way), `Open`, `BackingOff` (waiting before the
 *   next attempt), `Closed` (its reconnect schedule gave up), or `Removed` (the last state
 *   `changes` gives of a node removed from the fleet).
 * - `attempt`: the attempt made or waited for, while `Connecting` or `BackingOff`.
 * - `lastError`: the latest error of the node: why its last attempt failed or its last
 *   connection ended, or what the latest of its requests through the fleet failed with (a
 *   deadline passed, an error reply). Kept when the link opens again, until a newer one.
 * - `timeout`: the timeout agreed in the open connection's handshake, else the one asked for
 *   (seconds; 0 for none, and until the node's first attempt has ended).
 * - `roundTrip`: milliseconds from sending the node's latest request through the fleet to its
 *   first reply (keep-alives have no reply to time); `undefined` before the first.
 * - `connectedSince`: when the open connection opened (epoch millis, from the `Clock`);
 *   `undefined` while none is open.
 */
export interface NodeState {
  readonly node: string
  readonly link: Link
  readonly attempt: number | undefined
  readonly lastError: ConnectionError | undefined
  readonly timeout: number
  readonly roundTrip: number | undefined
  readonly connectedSince: number | undefined
}

/** An untyped command for every node: a packet type, a field name and its params. */
export interface Request {
  readonly packetType: string
  readonly fieldName: string
  readonly params?: Field.ParamsInput | undefined
}

/** A reply as plain data: the field, with its packet's type, id and timestamp. */
export interface ReplyField extends Field.Field {
  readonly packetType: string
  readonly packetId: number
  readonly packetTimestamp: Timestamp.Timestamp
}

/**
 * What one node answered: its reply (`Result.Success`), or the error it failed with
 * (`Result.Failure`): the node's `CommandError`, a `NetworkTimeout` past the deadline,
 * `NotConnected` while its link is down, a reply the command's Schema refuses, ...
 */
export interface NodeResult<A, E> {
  readonly node: string
  readonly result: Result.Result<A, E>
}

/** What one node's typed call fails with: the connection's errors and a reply the Schema refuses. */
export type NodeError = ConnectionError | NcpCommand.InvalidReply

/** Options of a fan-out (`request`, {@link call}, {@link requestAll}, {@link callAll}). */
export interface FanOutOptions {
  /** The nodes to ask, by key. Default: every node of the fleet. A key not in the fleet answers `NotConnected`. */
  readonly nodes?: ReadonlyArray<string> | undefined
  /** The most requests in flight at once. Default: the fleet's `concurrency` (256). */
  readonly concurrency?: number | undefined
  /**
   * Each node's deadline, from the moment its request starts (waiting for a connection and
   * sending included): past it, that node's result is a `NetworkTimeout` naming the command.
   * Default: the fleet's `timeout` (10 seconds); `Duration.infinity` for none.
   */
  readonly timeout?: Duration.Input | undefined
}

/** Options of a merged stream (`stream`, {@link stream}). */
export interface StreamOptions {
  /** The nodes to ask, by key. Default: every node of the fleet. */
  readonly nodes?: ReadonlyArray<string> | undefined
  /** The most nodes streaming at once; the others start as those end. Default: all of them. */
  readonly concurrency?: number | undefined
  /**
   * Each node's deadline for each reply (for the first, from the moment its command starts):
   * past it, that node's part ends with a `NetworkTimeout`. Default: the fleet's `timeout`
   * (10 seconds); `Duration.infinity` for none.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * The replies each node's part takes, then it ends (its command's Response is released).
   * Default: every reply, until the node's connection ends or the stream is interrupted (NCP
   * has no end-of-replies marker).
   */
  readonly replies?: number | undefined
  /** Replies held between the nodes and the consumer, in all. Default 16. */
  readonly bufferSize?: number | undefined
}

/** Options of the fleet's probe: a light command every `interval` to each open node, for its round trip. */
export interface ProbeOptions {
  /** How often, e.g. `"30 seconds"`. */
  readonly interval: Duration.Input
  /** The command, `STAT STAT` by default (every RFeye node answers it). */
  readonly packetType?: string | undefined
  readonly fieldName?: string | undefined
}

/** Options of {@link make} and {@link Fleet.layer}. */
export interface FleetOptions {
  /** The nodes to start with. */
  readonly nodes?: ReadonlyArray<NodeOptions> | undefined
  /**
   * Options every node starts from (credentials, TLS, `timeout`, limits, reconnect schedule,
   * ...); each node's own options win. For a large fleet, set the limits here.
   */
  readonly defaults?: Partial<NodeOptions> | undefined
  /** A fan-out's default concurrency. Default 256. */
  readonly concurrency?: number | undefined
  /** A fan-out's default per-node deadline, e.g. `"5 seconds"`. Default 10 seconds. */
  readonly timeout?: Duration.Input | undefined
  /** Probe every open node on an interval for its round trip. Default: off. */
  readonly probe?: ProbeOptions | undefined
}

/** A fan-out's default concurrency. */
export const defaultConcurrency = 256

/** A fan-out's default per-node deadline. */
export const defaultTimeout: Duration.Duration = Duration.seconds(10)

/** Replies a merged stream holds between the nodes and its consumer, by default. */
export const defaultBufferSize = 16

// ---------------------------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------------------------

/**
 * The fleet's primitive operations, on plain data; the typed commands ({@link call},
 * {@link stream}, {@link onSchedule}) are built on them.
 */
export interface FleetService {
  /** Every node's state now, in the order the nodes were added. */
  readonly state: Effect.Effect<ReadonlyArray<NodeState>>
  /**
   * Every node's state now, then each change (a removed node's last change is a `Removed`
   * state), until the fleet closes. A subscriber that falls behind misses intermediate states,
   * never a node's latest: it holds at most one pending state per node.
   */
  readonly changes: Stream.Stream<NodeState>
  /**
   * Adds a node (its options over the fleet's `defaults`) and returns its key once its first
   * attempt to connect has ended, open or not. A node already in the fleet is left as it is: to
   * change its options, remove it and add it again.
   */
  readonly add: (node: NodeOptions) => Effect.Effect<string>
  /**
   * Removes a node: its client is closed (connection, fibers, timers; an attempt under way is
   * stopped), its requests in flight fail with `ConnectionClosed`, and `changes` gives its
   * `Removed` state. `false` when it was not in the fleet.
   */
  readonly remove: (node: string) => Effect.Effect<boolean>
  /**
   * Sends `request` to every node (or `options.nodes`) and gives each node's first reply
   * (acknowledgements skipped, unless a node's `autoAckn` is off) or error, as they arrive.
   */
  readonly request: (
    request: Request,
    options?: FanOutOptions
  ) => Stream.Stream<NodeResult<ReplyField, ConnectionError>>
  /**
   * Sends `request` to every node (or `options.nodes`) and gives every reply of every node,
   * acknowledgements skipped, as they arrive: each node's part ends after `options.replies`
   * replies, or with its error (one `Failure`), or when its connection closes.
   */
  readonly stream: (request: Request, options?: StreamOptions) => Stream.Stream<NodeResult<ReplyField, ConnectionError>>
}

/**
 * A fleet of nodes as a service: provide {@link Fleet.layer} (plus a `Transport`) and
 * `yield* Fleet.Fleet`, or use {@link call}, {@link callAll}, {@link stream} and
 * {@link onSchedule}, which find it in context.
 */
export class Fleet extends Context.Service<Fleet, FleetService>()("@effect-ncp/core/Fleet") {
  /** A fleet for the life of the layer, starting with `options.nodes`, built once each node's first attempt has ended. */
  static readonly layer = (options: FleetOptions = {}): Layer.Layer<Fleet, never, Transport> =>
    Layer.effect(Fleet, make(options))
}

/**
 * A fleet whose nodes come from configuration (`effect/Config`), e.g. a comma-separated list
 * of addresses in an environment variable.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-ncp/core"
 * import { NodeTransport } from "@effect-ncp/node"
 * import * as Config from "effect/Config"
 * import * as Layer from "effect/Layer"
 *
 * // NCP_NODES=rfeye1:9999,rfeye2:9999
 * const Nodes = Fleet.layerConfig(Config.Array(Fleet.NodeAddressFromString, "NCP_NODES"), {
 *   defaults: { requestTimeout: "10 seconds" }
 * }).pipe(Layer.provide(NodeTransport.layer))
 * ```
 */
export const layerConfig = (
  nodes: Config.Config<ReadonlyArray<NodeOptions>>,
  options: Omit<FleetOptions, "nodes"> = {}
): Layer.Layer<Fleet, Config.ConfigError, Transport> =>
  Layer.unwrap(Effect.map(nodes, (list) => Fleet.layer({ ...options, nodes: list })))

/** A node of the fleet, as the fleet holds it. */
interface Member {
  readonly key: string
  /** The node's own scope: its client and the fiber watching it; closed when it is removed. */
  readonly scope: Scope.Closeable
  /** The node's client, once its first attempt has ended. */
  client: Connection.ReconnectingConnection | undefined
  state: NodeState
  removed: boolean
}

/** A subscriber of `changes`: the latest state of each node that changed since it last pulled. */
interface Subscriber {
  readonly pending: Map<string, NodeState>
  readonly wake: Latch.Latch
}

/** Each node's options over the defaults: a node's `undefined` leaves the default in place. */
const withDefaults = (defaults: Partial<NodeOptions> | undefined, node: NodeOptions): NodeOptions => {
  if (defaults === undefined) return node
  const merged: Record<string, unknown> = { ...defaults }
  for (const [name, value] of Object.entries(node)) if (value !== undefined) merged[name] = value
  return merged as unknown as NodeOptions
}

/** The fields of a reply without the connection's handles: plain data. */
const replyFieldOf = (field: Connection.IncomingField): ReplyField => ({
  packetType: field.packetType,
  packetId: field.packetId,
  packetTimestamp: field.packetTimestamp,
  name: field.name,
  id: field.id,
  params: field.params
})

const isAcknowledgement = (field: Field.Field) => Field.has(field, "ACKN")

/**
 * `effect` within `deadline` (none when infinite), else a `NetworkTimeout` naming the command,
 * as a request's own reply deadline words it. A hard bound on the whole per-node operation: the
 * request's own deadline starts only once its command is written.
 */
const withinDeadline = <A, R>(
  effect: Effect.Effect<A, ConnectionError, R>,
  deadline: Duration.Duration,
  node: string,
  request: Request
): Effect.Effect<A, ConnectionError, R> => {
  if (!Duration.isFinite(deadline)) return effect
  const command = `${request.packetType} ${request.fieldName}`
  return Effect.timeoutOrElse(effect, {
    duration: deadline,
    orElse: () =>
      Effect.fail(
        new NetworkTimeout({
          seconds: Duration.toMillis(deadline) / 1000,
          during: `waiting for a reply to ${command}`,
          remote: node,
          command
        })
      )
  })
}

/**
 * Starts a fleet in the current scope with `options.nodes`, and returns once each node's first
 * attempt to connect has ended (all at once: the nodes that are up are open, the others backing
 * off). Closing the scope closes every node's client.
 */
export const make = Effect.fnUntraced(function* (
  options: FleetOptions = {}
): Effect.fn.Return<FleetService, never, Transport | Scope.Scope> {
  const transport = yield* Transport
  const clock = yield* Effect.clockWith(Effect.succeed<Clock.Clock>)
  // Every node's scope is a child of this one, closed in parallel when the fleet closes.
  const nodesScope = yield* Scope.fork(yield* Effect.scope, "parallel")
  const fanOutConcurrency = options.concurrency ?? defaultConcurrency
  const defaultDeadline = options.timeout === undefined ? defaultTimeout : Duration.fromInputUnsafe(options.timeout)
  const members = new Map<string, Member>()
  const subscribers = new Set<Subscriber>()
  let closed = false

  const publish = (member: Member, state: NodeState): void => {
    if (member.removed) return
    member.state = state
    for (const subscriber of subscribers) {
      subscriber.pending.set(member.key, state)
      subscriber.wake.openUnsafe()
    }
  }

  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      closed = true
      for (const subscriber of subscribers) subscriber.wake.openUnsafe()
    })
  )

  /** The state a client's state stands for, from the node's previous one. */
  const fromClient = (previous: NodeState, state: Connection.ClientState, timeout: number, now: number): NodeState => {
    switch (state._tag) {
      case "Open":
        return {
          ...previous,
          link: "Open",
          attempt: undefined,
          timeout,
          connectedSince: previous.link === "Open" ? previous.connectedSince : now
        }
      case "Connecting":
        return {
          ...previous,
          link: "Connecting",
          attempt: state.attempt,
          lastError: state.lastError ?? previous.lastError,
          timeout,
          connectedSince: undefined
        }
      case "BackingOff":
        return {
          ...previous,
          link: "BackingOff",
          attempt: state.attempt,
          lastError: state.lastError,
          timeout,
          connectedSince: undefined
        }
      case "Closed":
        return {
          ...previous,
          link: "Closed",
          attempt: undefined,
          lastError: state.lastError ?? previous.lastError,
          timeout,
          connectedSince: undefined
        }
    }
  }

  const add = (node: NodeOptions): Effect.Effect<string> =>
    Effect.suspend(() => {
      const nodeOptions = withDefaults(options.defaults, node)
      const key = nodeKey(nodeOptions)
      if (closed || members.has(key)) return Effect.succeed(key)
      const member: Member = {
        key,
        scope: Scope.forkUnsafe(nodesScope),
        client: undefined,
        state: {
          node: key,
          link: "Connecting",
          attempt: 1,
          lastError: undefined,
          timeout: 0,
          roundTrip: undefined,
          connectedSince: undefined
        },
        removed: false
      }
      members.set(key, member)
      publish(member, member.state)
      return Client.connectReconnecting(nodeOptions).pipe(
        Effect.provideService(Transport, transport),
        Scope.provide(member.scope),
        Effect.flatMap((client) => {
          member.client = client
          const follow = (state: Connection.ClientState) =>
            publish(member, fromClient(member.state, state, client.timeout, clock.currentTimeMillisUnsafe()))
          // The state as the first attempt left it, now: the node is open when `add` returns.
          // Then it follows its client's until it is removed (its scope closes).
          const watch = Stream.runForEach(client.changes, (state) => Effect.sync(() => follow(state)))
          return Effect.andThen(Effect.map(client.state, follow), Effect.forkIn(watch, member.scope))
        }),
        Effect.as(key)
      )
    })

  const remove = (node: string): Effect.Effect<boolean> =>
    Effect.suspend(() => {
      const member = members.get(node)
      if (member === undefined) return Effect.succeed(false)
      members.delete(node)
      const last: NodeState = { ...member.state, link: "Removed", attempt: undefined, connectedSince: undefined }
      member.removed = true
      return Scope.close(member.scope, Exit.void).pipe(
        Effect.andThen(
          Effect.sync(() => {
            for (const subscriber of subscribers) {
              subscriber.pending.set(node, last)
              subscriber.wake.openUnsafe()
            }
            return true
          })
        )
      )
    })

  /** Why a node cannot be asked right now: its first attempt is under way, or it is not in the fleet. */
  const unreachable = (node: string, member: Member | undefined): NotConnected =>
    member === undefined
      ? new NotConnected({ state: "Closed", remote: node })
      : new NotConnected({ state: "Connecting", remote: node, attempt: 1 })

  /** Records what a request of the fleet's tells about its node: a round trip, or an error. */
  const settle = (member: Member, result: Result.Result<unknown, ConnectionError>, elapsed: number): void => {
    if (member.removed) return
    const error = Result.isFailure(result) ? result.failure : undefined
    // the node answered (an error reply is an answer): a round trip
    const answered = error === undefined || error._tag === "CommandError"
    // NotConnected says what the link's state already says
    const failed = error !== undefined && error._tag !== "NotConnected" ? error : undefined
    if (!answered && failed === undefined) return
    publish(member, {
      ...member.state,
      roundTrip: answered ? elapsed : member.state.roundTrip,
      lastError: failed ?? member.state.lastError
    })
  }

  const requestOne = (
    node: string,
    request: Request,
    deadline: Duration.Duration
  ): Effect.Effect<NodeResult<ReplyField, ConnectionError>> =>
    Effect.suspend(() => {
      const member = members.get(node)
      const client = member?.client
      if (member === undefined || client === undefined) {
        return Effect.succeed({ node, result: Result.fail(unreachable(node, member)) })
      }
      const started = clock.currentTimeMillisUnsafe()
      const timeout = Duration.isFinite(deadline) ? deadline : undefined
      return withinDeadline(
        client.request(request.packetType, request.fieldName, request.params, { timeout }),
        deadline,
        node,
        request
      ).pipe(
        Effect.result,
        Effect.map((result) => {
          settle(member, result, clock.currentTimeMillisUnsafe() - started)
          return { node, result: Result.map(result, replyFieldOf) }
        })
      )
    })

  const deadlineOf = (timeout: Duration.Input | undefined): Duration.Duration =>
    timeout === undefined ? defaultDeadline : Duration.fromInputUnsafe(timeout)

  const keysOf = (nodes: ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
    nodes ?? Array.from(members.keys())

  const request = (
    request: Request,
    fanOut: FanOutOptions = {}
  ): Stream.Stream<NodeResult<ReplyField, ConnectionError>> =>
    Stream.suspend(() => {
      const deadline = deadlineOf(fanOut.timeout)
      return Stream.fromIterable(keysOf(fanOut.nodes)).pipe(
        Stream.mapEffect((node) => requestOne(node, request, deadline), {
          concurrency: fanOut.concurrency ?? fanOutConcurrency,
          unordered: true
        })
      )
    })

  const streamOne = (
    node: string,
    request: Request,
    deadline: Duration.Duration,
    replies: number | undefined
  ): Stream.Stream<NodeResult<ReplyField, ConnectionError>> => {
    const member = members.get(node)
    const client = member?.client
    if (member === undefined || client === undefined) {
      return Stream.succeed({ node, result: Result.fail(unreachable(node, member)) })
    }
    const timeout = Duration.isFinite(deadline) ? deadline : undefined
    // when the node's command starts: with a bounded concurrency, maybe after others' end
    let started = 0
    let first = true
    const fields = Stream.unwrap(
      Effect.suspend(() => {
        started = clock.currentTimeMillisUnsafe()
        return Effect.map(
          withinDeadline(
            client.send(request.packetType, request.fieldName, request.params, { timeout }),
            deadline,
            node,
            request
          ),
          (response) => response.fields
        )
      })
    ).pipe(Stream.filter((field) => !isAcknowledgement(field)))
    return (replies === undefined ? fields : Stream.take(fields, replies)).pipe(
      Stream.map(replyFieldOf),
      Stream.result,
      Stream.map((result): NodeResult<ReplyField, ConnectionError> => {
        if (first || Result.isFailure(result)) {
          settle(member, result, clock.currentTimeMillisUnsafe() - started)
          first = false
        }
        return { node, result }
      })
    )
  }

  const stream = (
    request: Request,
    merge: StreamOptions = {}
  ): Stream.Stream<NodeResult<ReplyField, ConnectionError>> =>
    Stream.suspend(() => {
      const deadline = deadlineOf(merge.timeout)
      return Stream.mergeAll(
        keysOf(merge.nodes).map((node) => streamOne(node, request, deadline, merge.replies)),
        { concurrency: merge.concurrency ?? "unbounded", bufferSize: merge.bufferSize ?? defaultBufferSize }
      )
    })

  const changes: Stream.Stream<NodeState> = Stream.unwrap(
    Effect.map(
      Effect.acquireRelease(
        Effect.sync(() => {
          const subscriber: Subscriber = { pending: new Map(), wake: Latch.makeUnsafe(false) }
          for (const member of members.values()) subscriber.pending.set(member.key, member.state)
          subscribers.add(subscriber)
          return subscriber
        }),
        (subscriber) => Effect.sync(() => subscribers.delete(subscriber))
      ),
      (subscriber) => {
        const pull: Pull.Pull<NonEmptyReadonlyArray<NodeState>> = Effect.suspend(() => {
          if (subscriber.pending.size > 0) {
            const states = Array.from(subscriber.pending.values()) as unknown as NonEmptyReadonlyArray<NodeState>
            subscriber.pending.clear()
            return Effect.succeed(states)
          }
          if (closed) return Cause.done()
          subscriber.wake.closeUnsafe()
          return Effect.andThen(subscriber.wake.await, pull)
        })
        return Stream.fromPull(Effect.succeed(pull))
      }
    )
  )

  const service: FleetService = {
    state: Effect.sync(() => Array.from(members.values(), (member) => member.state)),
    changes,
    add,
    remove,
    request,
    stream
  }

  yield* Effect.forEach(options.nodes ?? [], add, { concurrency: "unbounded", discard: true })

  const probe = options.probe
  if (probe !== undefined) {
    const probeRequest: Request = { packetType: probe.packetType ?? "STAT", fieldName: probe.fieldName ?? "STAT" }
    const once = Stream.runDrain(
      Stream.suspend(() =>
        request(probeRequest, {
          nodes: Array.from(members.values())
            .filter((member) => member.state.link === "Open")
            .map((member) => member.key)
        })
      )
    )
    yield* Effect.forkScoped(Effect.forever(Effect.andThen(once, Effect.sleep(probe.interval))))
  }

  return service
})

// ---------------------------------------------------------------------------------------------
// Typed commands, on the primitives
// ---------------------------------------------------------------------------------------------

/** The params argument, which a command without required params lets you leave out. */
type ParamsArgs<C extends NcpCommand.Any, Rest extends ReadonlyArray<unknown>> =
  {} extends NcpCommand.Params<C>
    ? [params?: NcpCommand.Params<C>, ...rest: Rest]
    : [params: NcpCommand.Params<C>, ...rest: Rest]

/** A typed command and its params as the fleet's {@link Request}, or `InvalidParams`: nothing was sent. */
export const toRequest = <C extends NcpCommand.Any>(
  command: C,
  params: NcpCommand.Params<C> | undefined
): Result.Result<Request, NcpCommand.InvalidParams> =>
  Result.map(NcpCommand.encodeParams(command, (params ?? {}) as NcpCommand.Params<C>), (encoded) => ({
    packetType: command.packetType,
    fieldName: command.fieldName,
    params: encoded
  }))

/** A node's reply decoded with the command's Schema (see `CommandClient.decodeReplyField`). */
export const decodeResult =
  <C extends NcpCommand.Any>(command: C) =>
  (answer: NodeResult<ReplyField, ConnectionError>): NodeResult<NcpCommand.Reply<C>, NodeError> => ({
    node: answer.node,
    result: Result.isSuccess(answer.result)
      ? CommandClient.decodeReplyField(command, answer.result.success)
      : Result.fail(answer.result.failure)
  })

/** The typed stream a request of the fleet in context gives, once the params are encoded. */
const typed = <C extends NcpCommand.Any, E, R>(
  command: C,
  params: NcpCommand.Params<C> | undefined,
  run: (fleet: FleetService, request: Request) => Stream.Stream<NodeResult<NcpCommand.Reply<C>, NodeError>, E, R>
): Stream.Stream<NodeResult<NcpCommand.Reply<C>, NodeError>, NcpCommand.InvalidParams | E, Fleet | R> =>
  Stream.unwrap(
    Effect.gen(function* () {
      const fleet = yield* Fleet
      const request = yield* Effect.fromResult(toRequest(command, params))
      return run(fleet, request)
    })
  )

/**
 * Calls a typed command on every node of the fleet in context (or `options.nodes`), and gives
 * each node's first reply, decoded, or its error, as they arrive. Params are checked once,
 * before anything is sent: bad params fail the Stream with `InvalidParams`.
 *
 * @example
 * ```ts
 * const statuses = Fleet.call(SimulatedNode.Status, {}, { timeout: "2 seconds" }).pipe(
 *   Stream.runForEach(({ node, result }) => Effect.log(node, Result.isSuccess(result) ? "OK" : result.failure._tag))
 * )
 * ```
 */
export const call = <C extends NcpCommand.Any>(
  command: C,
  ...[params, options]: ParamsArgs<C, [options?: FanOutOptions]>
): Stream.Stream<NodeResult<NcpCommand.Reply<C>, NodeError>, NcpCommand.InvalidParams, Fleet> =>
  typed(command, params, (fleet, request) => Stream.map(fleet.request(request, options), decodeResult(command)))

/** Results in the order of `nodes`; those of nodes not in it after, as they came. */
const inOrder = <A>(
  nodes: ReadonlyArray<string>,
  results: ReadonlyArray<NodeResult<A, unknown>>
): Array<NodeResult<A, never>> => {
  const position = new Map(nodes.map((node, index) => [node, index]))
  return results
    .map((result, arrival) => ({ result, rank: position.get(result.node) ?? nodes.length + arrival }))
    .sort((a, b) => a.rank - b.rank)
    .map(({ result }) => result as NodeResult<A, never>)
}

/** The nodes a fan-out asks: `nodes`, or every node of the fleet now. */
const nodesOf = (fleet: FleetService, nodes: ReadonlyArray<string> | undefined) =>
  nodes === undefined ? Effect.map(fleet.state, (states) => states.map((state) => state.node)) : Effect.succeed(nodes)

/**
 * Sends an untyped request to every node of the fleet in context (or `options.nodes`) and
 * gives all the results at once, in the nodes' order.
 */
export const requestAll = (
  request: Request,
  options: FanOutOptions = {}
): Effect.Effect<ReadonlyArray<NodeResult<ReplyField, ConnectionError>>, never, Fleet> =>
  Effect.gen(function* () {
    const fleet = yield* Fleet
    const nodes = yield* nodesOf(fleet, options.nodes)
    const results = yield* Stream.runCollect(fleet.request(request, { ...options, nodes }))
    return inOrder(nodes, results) as ReadonlyArray<NodeResult<ReplyField, ConnectionError>>
  })

/**
 * Calls a typed command on every node of the fleet in context (or `options.nodes`) and gives
 * all the results at once, in the nodes' order: {@link call}, collected.
 *
 * @example
 * ```ts
 * const results = yield* Fleet.callAll(SimulatedNode.Status)
 * const up = results.filter(({ result }) => Result.isSuccess(result)).length
 * ```
 */
export const callAll = <C extends NcpCommand.Any>(
  command: C,
  ...[params, options]: ParamsArgs<C, [options?: FanOutOptions]>
): Effect.Effect<ReadonlyArray<NodeResult<NcpCommand.Reply<C>, NodeError>>, NcpCommand.InvalidParams, Fleet> =>
  Effect.gen(function* () {
    const fleet = yield* Fleet
    const nodes = yield* nodesOf(fleet, options?.nodes)
    const request = yield* Effect.fromResult(toRequest(command, params))
    const results = yield* Stream.runCollect(
      Stream.map(fleet.request(request, { ...options, nodes }), decodeResult(command))
    )
    return inOrder(nodes, results) as ReadonlyArray<NodeResult<NcpCommand.Reply<C>, NodeError>>
  })

/**
 * Sends a streaming command to every node of the fleet in context (or `options.nodes`) and
 * gives every reply of every node, decoded and tagged with its node, as they arrive; each
 * node's part ends after `options.replies` replies, or with its error. Backpressured per node:
 * while the consumer does not pull, each node's connection stops being read once its
 * Response's buffer is full, so a slow consumer slows the nodes, and memory stays bounded.
 *
 * A reply the Schema refuses is that node's `InvalidReply`, and its later replies still come; an
 * error of the connection (or an error reply) ends that node's part.
 *
 * @example
 * ```ts
 * // five sweeps from every node, as they come
 * const sweeps = Fleet.stream(SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, REPT: 5 }, { replies: 5 })
 * ```
 */
export const stream = <C extends NcpCommand.AnyStream>(
  command: C,
  ...[params, options]: ParamsArgs<C, [options?: StreamOptions]>
): Stream.Stream<NodeResult<NcpCommand.Reply<C>, NodeError>, NcpCommand.InvalidParams, Fleet> =>
  typed(command, params, (fleet, request) => Stream.map(fleet.stream(request, options), decodeResult(command)))

/**
 * Calls a typed command on every open node of the fleet in context (or of `options.nodes`) now,
 * then at each recurrence of `schedule`, giving every node's result as it arrives. Each round
 * asks only the nodes that are open and done with the previous round: a node that is down, or
 * still waiting for its previous reply, is skipped for that round (no request, no result; its
 * state says why), and no node waits for another. Runs until the schedule ends, or for ever.
 *
 * @example
 * ```ts
 * // a sweep of every node every 10 s, into a sink of yours
 * yield* Fleet.onSchedule(Schedule.spaced("10 seconds"), SimulatedNode.Sweep, { FSTA: 88, FSTP: 108 }).pipe(
 *   Stream.run(sink)
 * )
 * ```
 */
export const onSchedule = <C extends NcpCommand.Any, X, R>(
  schedule: Schedule.Schedule<X, unknown, never, R>,
  command: C,
  ...[params, options]: ParamsArgs<C, [options?: FanOutOptions]>
): Stream.Stream<NodeResult<NcpCommand.Reply<C>, NodeError>, NcpCommand.InvalidParams, Fleet | R> =>
  typed(command, params, (fleet, request) => {
    const wanted = options?.nodes === undefined ? undefined : new Set(options.nodes)
    // nodes whose request of an earlier round is still in flight
    const busy = new Set<string>()
    const round = Stream.unwrap(
      Effect.map(fleet.state, (states) => {
        const ready = states
          .filter(
            (state) =>
              state.link === "Open" && !busy.has(state.node) && (wanted === undefined || wanted.has(state.node))
          )
          .map((state) => state.node)
        for (const node of ready) busy.add(node)
        return fleet.request(request, { ...options, nodes: ready }).pipe(
          Stream.map((answer) => {
            busy.delete(answer.node)
            return decodeResult(command)(answer)
          }),
          Stream.ensuring(
            Effect.sync(() => {
              for (const node of ready) busy.delete(node)
            })
          )
        )
      })
    )
    return Stream.concat(Stream.succeed(undefined), Stream.fromSchedule(schedule)).pipe(
      Stream.flatMap(() => round, { concurrency: "unbounded" })
    )
  })
