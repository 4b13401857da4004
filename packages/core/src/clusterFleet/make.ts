/**
 * The `Fleet` service on the node entities: the in-process fleet's operations, each node's a
 * message to its entity, the cluster's failures told to callers as the connection errors they
 * know, and `changes` by polling every node's state.
 *
 * @internal
 */
import * as Cause from "effect/Cause"
import type * as Sharding from "effect/cluster/Sharding"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { EncodeError } from "../CodecError.js"
import { ConnectionClosed, type ConnectionError, NetworkError, type NetworkTimeout } from "../ConnectionError.js"
import { timeoutError } from "../connection/deadline.js"
import * as Encoder from "../Encoder.js"
import * as Fleet from "../Fleet.js"
import { causeText, handedOver } from "./details.js"
import { NodeEntity } from "./entity.js"
import { FleetStorage } from "./storage.js"
import { isConnectionError } from "./wire.js"

/** Options of {@link make} and {@link layer}. */
export interface ClusterFleetOptions {
  /**
   * The nodes to start with. With `view: "cluster"` they are added to the cluster's fleet (if
   * not in it), and the service returns once each node's first attempt has ended; with
   * `view: "nodes"` they are the service's nodes, and the cluster's fleet is left as it is.
   */
  readonly nodes?: ReadonlyArray<Fleet.NodeAddress> | undefined
  /**
   * Which nodes the service's `state`, `changes` and fan-outs without `nodes` cover: every
   * node of the cluster's fleet (`"cluster"`, the default), or only `nodes` and those this
   * service adds (`"nodes"`). Either way, `add` and `remove` change the cluster's fleet.
   */
  readonly view?: "cluster" | "nodes" | undefined
  /** The most requests in flight at once in a fan-out, and states asked for at once. Default 256. */
  readonly concurrency?: number | undefined
  /**
   * Each node's deadline, from the moment its request starts (waiting for a runner
   * included). Default 10 seconds; `Duration.infinity` for none.
   */
  readonly timeout?: Duration.Input | undefined
  /**
   * How long `state` waits for a node's runner to answer; past it the node's state is
   * `Connecting` with a `NetworkTimeout` (its shard is moving to another runner). Default 5 seconds.
   */
  readonly stateTimeout?: Duration.Input | undefined
  /** How often `changes` asks for every node's state. Default 1 second. */
  readonly changesInterval?: Duration.Input | undefined
  /** How long `add` waits for the node's first attempt to connect, through the cluster. Default 60 seconds. */
  readonly addTimeout?: Duration.Input | undefined
}

const sameError = (a: ConnectionError | undefined, b: ConnectionError | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && a._tag === b._tag && a.message === b.message)

const sameState = (a: Fleet.NodeState, b: Fleet.NodeState): boolean =>
  a.link === b.link &&
  a.attempt === b.attempt &&
  a.timeout === b.timeout &&
  a.roundTrip === b.roundTrip &&
  a.connectedSince === b.connectedSince &&
  sameError(a.lastError, b.lastError)

/** What a failed or interrupted call through the cluster tells the caller: a connection's error. */
const errorOfCause = (node: string, cause: Cause.Cause<unknown>): ConnectionError => {
  const failure = Cause.findErrorOption(cause)
  if (Option.isSome(failure)) {
    const error = failure.value
    return isConnectionError(error)
      ? error
      : new NetworkError({ detail: `cluster: ${causeText(error)}`, remote: node, cause: error })
  }
  // an interrupt that is not the caller's own: the runner stopped and gave the node up
  if (Cause.hasInterruptsOnly(cause)) return new ConnectionClosed({ detail: handedOver, remote: node })
  const defect = Cause.squash(cause)
  return new NetworkError({ detail: `cluster: ${causeText(defect)}`, remote: node, cause: defect })
}

/** Past `deadline`, a `NetworkTimeout` naming the command, as the in-process fleet words it. */
const timedOut = (node: string, deadline: Duration.Duration, request: Fleet.Request | undefined): NetworkTimeout => {
  const command = request === undefined ? undefined : `${request.packetType} ${request.fieldName}`
  const during = command === undefined ? "waiting for the node's runner" : `waiting for a reply to ${command}`
  return timeoutError(deadline, node, during, command)
}

/**
 * A `Fleet` service on the cluster in context, in the current scope: the same operations as
 * the in-process fleet, each node's handled by its entity on the runner that owns its shard.
 * Needs `Sharding` (a runner's, or a client-only member's) and the cluster's
 * {@link FleetStorage}.
 */
export const make = Effect.fnUntraced(function* (
  options: ClusterFleetOptions = {}
): Effect.fn.Return<Fleet.FleetService, never, Sharding.Sharding | FleetStorage | Scope.Scope> {
  const clientFor = yield* NodeEntity.client
  const storage = yield* FleetStorage
  const view = options.view ?? "cluster"
  const concurrency = options.concurrency ?? Fleet.defaultConcurrency
  const defaultDeadline =
    options.timeout === undefined ? Fleet.defaultTimeout : Duration.fromInputUnsafe(options.timeout)
  const stateTimeout = Duration.fromInputUnsafe(options.stateTimeout ?? "5 seconds")
  const addTimeout = Duration.fromInputUnsafe(options.addTimeout ?? "60 seconds")
  const changesInterval = Duration.fromInputUnsafe(options.changesInterval ?? "1 second")
  // the service's own nodes (view "nodes"), in the order given
  const own = new Set<string>()
  // the cluster's fleet as last read: what the service goes on with while the database is away
  let lastKnown: ReadonlyArray<string> = []
  const closed = yield* Deferred.make<void>()
  yield* Effect.addFinalizer(() => Deferred.succeed(closed, undefined))

  const keys: Effect.Effect<ReadonlyArray<string>> =
    view === "nodes"
      ? Effect.sync(() => Array.from(own))
      : storage.nodes.pipe(
          Effect.tap((nodes) =>
            Effect.sync(() => {
              lastKnown = nodes
            })
          ),
          Effect.catch((error) =>
            Effect.as(Effect.logWarning(`ClusterFleet: ${error.message}; going on with the nodes last read`), lastKnown)
          )
        )

  const unknownState = (node: string, lastError: ConnectionError): Fleet.NodeState => ({
    node,
    link: "Connecting",
    attempt: undefined,
    lastError,
    timeout: 0,
    roundTrip: undefined,
    connectedSince: undefined
  })

  const stateOf = (node: string): Effect.Effect<Fleet.NodeState> =>
    clientFor(node)
      .State()
      .pipe(
        Effect.map((placement) => placement.state),
        Effect.catchCause((cause) => Effect.succeed(unknownState(node, errorOfCause(node, cause)))),
        Effect.timeoutOrElse({
          duration: stateTimeout,
          orElse: () => Effect.succeed(unknownState(node, timedOut(node, stateTimeout, undefined)))
        })
      )

  const state: Effect.Effect<ReadonlyArray<Fleet.NodeState>> = Effect.flatMap(keys, (nodes) =>
    Effect.forEach(nodes, stateOf, { concurrency })
  )

  const add = (node: Fleet.NodeOptions): Effect.Effect<string> =>
    Effect.suspend(() => {
      const key = Fleet.nodeKey(node)
      if (view === "nodes") own.add(key)
      return storage.add(key).pipe(
        Effect.retry({ times: 3, schedule: Schedule.exponential("200 millis") }),
        Effect.andThen(
          clientFor(key)
            .Connect()
            .pipe(
              Effect.timeout(addTimeout),
              Effect.catchCause((cause) =>
                Effect.logWarning(`ClusterFleet: ${key} joined the fleet, but its first attempt was not seen`, cause)
              )
            )
        ),
        Effect.catch((error) => Effect.logError(`ClusterFleet: ${error.message}`)),
        Effect.as(key)
      )
    })

  const remove = (node: string): Effect.Effect<boolean> =>
    Effect.suspend(() => {
      const wasOwn = own.delete(node)
      return storage.remove(node).pipe(
        Effect.retry({ times: 3, schedule: Schedule.exponential("200 millis") }),
        Effect.tap(() =>
          clientFor(node)
            .Disconnect()
            .pipe(
              Effect.timeout(addTimeout),
              Effect.catchCause((cause) =>
                Effect.logWarning(`ClusterFleet: ${node} left the fleet, but its runner did not answer`, cause)
              )
            )
        ),
        Effect.map((removed) => removed || wasOwn),
        Effect.catch((error) => Effect.as(Effect.logError(`ClusterFleet: ${error.message}`), false))
      )
    })

  const deadlineOfOptions = (timeout: Duration.Input | undefined): Duration.Duration =>
    timeout === undefined ? defaultDeadline : Duration.fromInputUnsafe(timeout)

  const millisOf = (deadline: Duration.Duration): number | undefined =>
    Duration.isFinite(deadline) ? Duration.toMillis(deadline) : undefined

  /** The request as the packet the entity's messages carry, or the error every node answers. */
  const encode = (request: Fleet.Request): Result.Result<Uint8Array, EncodeError> =>
    Encoder.encodePacket({
      type: request.packetType,
      fields: [{ name: request.fieldName, id: 0, params: request.params ?? [] }]
    })

  const fanOut = (
    request: Fleet.Request,
    nodes: ReadonlyArray<string> | undefined,
    each: (node: string, command: Uint8Array) => Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>>,
    merge: (
      parts: Stream.Stream<Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>>>
    ) => Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>>
  ): Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>> =>
    Stream.unwrap(
      Effect.map(nodes === undefined ? keys : Effect.succeed(nodes), (nodes) => {
        const encoded = encode(request)
        if (Result.isFailure(encoded)) {
          return Stream.fromIterable(nodes.map((node) => ({ node, result: Result.fail(encoded.failure) })))
        }
        return merge(Stream.fromIterable(nodes.map((node) => each(node, encoded.success))))
      })
    )

  const request = (
    request: Fleet.Request,
    fanOutOptions: Fleet.FanOutOptions = {}
  ): Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>> => {
    const deadline = deadlineOfOptions(fanOutOptions.timeout)
    return fanOut(
      request,
      fanOutOptions.nodes,
      (node, command) =>
        Stream.fromEffect(
          clientFor(node)
            .Request({ command, timeoutMillis: millisOf(deadline) })
            .pipe(
              Effect.map((reply) => Result.succeed(reply)),
              Effect.catchCause((cause) => Effect.succeed(Result.fail(errorOfCause(node, cause)))),
              Effect.timeoutOrElse({
                duration: deadline,
                orElse: () => Effect.succeed(Result.fail(timedOut(node, deadline, request)))
              }),
              Effect.map((result) => ({ node, result }))
            )
        ),
      (parts) =>
        Stream.flatMap(parts, (part) => part, {
          concurrency: fanOutOptions.concurrency ?? concurrency
        })
    )
  }

  const stream = (
    request: Fleet.Request,
    merge: Fleet.StreamOptions = {}
  ): Stream.Stream<Fleet.NodeResult<Fleet.ReplyField, ConnectionError>> => {
    const deadline = deadlineOfOptions(merge.timeout)
    return fanOut(
      request,
      merge.nodes,
      (node, command) =>
        clientFor(node)
          .Stream({ command, timeoutMillis: millisOf(deadline), replies: merge.replies })
          .pipe(
            Stream.map(
              (reply): Fleet.NodeResult<Fleet.ReplyField, ConnectionError> => ({
                node,
                result: Result.succeed(reply)
              })
            ),
            Stream.catchCause((cause) => Stream.succeed({ node, result: Result.fail(errorOfCause(node, cause)) })),
            // the runner keeps each reply's deadline; this one also covers waiting for a runner
            Stream.timeoutOrElse({
              duration: deadline,
              orElse: () => Stream.succeed({ node, result: Result.fail(timedOut(node, deadline, request)) })
            })
          ),
      (parts) =>
        Stream.flatMap(parts, (part) => part, {
          concurrency: merge.concurrency ?? "unbounded",
          bufferSize: merge.bufferSize ?? Fleet.defaultBufferSize
        })
    )
  }

  const changes: Stream.Stream<Fleet.NodeState> = Stream.unwrap(
    Effect.sync(() => {
      const last = new Map<string, Fleet.NodeState>()
      const poll = Effect.map(state, (states) => {
        const changed: Array<Fleet.NodeState> = []
        const seen = new Set<string>()
        for (const now of states) {
          seen.add(now.node)
          const before = last.get(now.node)
          if (before === undefined || !sameState(before, now)) changed.push(now)
          last.set(now.node, now)
        }
        for (const [node, before] of last) {
          if (seen.has(node)) continue
          last.delete(node)
          changed.push({ ...before, link: "Removed", attempt: undefined, connectedSince: undefined })
        }
        return changed
      })
      return Stream.fromEffectSchedule(poll, Schedule.spaced(changesInterval)).pipe(
        Stream.flattenIterable,
        Stream.haltWhen(Deferred.await(closed))
      )
    })
  )

  const service: Fleet.FleetService = { state, changes, add, remove, request, stream }

  if (view === "nodes") {
    for (const node of options.nodes ?? []) own.add(Fleet.nodeKey(node))
  } else {
    yield* Effect.forEach(options.nodes ?? [], add, { concurrency: "unbounded", discard: true })
  }
  return service
})

/**
 * A `Fleet.Fleet` on the cluster in context ({@link make}): provide `Sharding` (from
 * `@effect-ncp/node/cluster`, a runner's or a client's) and {@link FleetStorage}.
 *
 * @example
 * ```ts
 * const Nodes = ClusterFleet.layer({ nodes: [{ host: "rfeye000123.local" }], timeout: "5 seconds" })
 * ```
 */
export const layer = (
  options: ClusterFleetOptions = {}
): Layer.Layer<Fleet.Fleet, never, Sharding.Sharding | FleetStorage> => Layer.effect(Fleet.Fleet, make(options))
