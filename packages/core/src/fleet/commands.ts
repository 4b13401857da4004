/**
 * Typed commands on a fleet's primitives: a command's params encoded once, where it is called,
 * and each node's reply decoded with its Schema, as they arrive (`call`, `stream`), all at once
 * in the nodes' order (`callAll`), or round after round on a schedule (`onSchedule`).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import type * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as CommandClient from "../CommandClient.js"
import type { ConnectionError } from "../ConnectionError.js"
import * as NcpCommand from "../NcpCommand.js"
import { Fleet } from "./layer.js"
import type {
  FanOutOptions,
  FleetService,
  NodeError,
  NodeResult,
  ReplyField,
  Request,
  StreamOptions
} from "./service.js"

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
