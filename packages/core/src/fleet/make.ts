/**
 * The fleet in one process: each node a reconnecting client in a scope of its own, its state
 * followed and handed to the subscribers of `changes`, and the fan-outs and merged streams
 * over those clients, each node's part within its deadline.
 *
 * @internal
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Latch from "effect/Latch"
import type * as Pull from "effect/Pull"
import * as Result from "effect/Result"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Client from "../Client.js"
import type * as Connection from "../Connection.js"
import { type ConnectionError, NotConnected } from "../ConnectionError.js"
import { withDeadline } from "../connection/deadline.js"
import * as Field from "../Field.js"
import { Transport } from "../Transport.js"
import { type NodeOptions, nodeKey } from "./address.js"
import { fromClient } from "./nodeState.js"
import {
  defaultBufferSize,
  defaultConcurrency,
  defaultTimeout,
  type FanOutOptions,
  type FleetOptions,
  type FleetService,
  type NodeResult,
  type NodeState,
  type ReplyField,
  type Request,
  type StreamOptions
} from "./service.js"

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
  return withDeadline(effect, deadline, node, `waiting for a reply to ${command}`, command)
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
