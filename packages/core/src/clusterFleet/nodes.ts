/**
 * The node entity's behaviour on a runner: each node's entity holds its connection (a one-node
 * fleet on the runner) while the node is in the fleet, and answers its messages, claiming each
 * command before it is sent so that one delivered again is never sent twice.
 *
 * @internal
 */
import * as Entity from "effect/cluster/Entity"
import type * as Sharding from "effect/cluster/Sharding"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Result from "effect/Result"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import { ConnectionClosed, type ConnectionError, NetworkError, NotConnected } from "../ConnectionError.js"
import * as Decoder from "../Decoder.js"
import * as Fleet from "../Fleet.js"
import type { Transport } from "../Transport.js"
import { lostInFlight, notInFleet } from "./details.js"
import { NodeEntity } from "./entity.js"
import { FleetStorage } from "./storage.js"
import type { Placement } from "./wire.js"

/** Options of {@link layerNodes}: how runners connect to nodes. */
export interface NodeOptions {
  /**
   * Every node's connection options on this runner (credentials, TLS, `timeout`, limits,
   * reconnect schedule, ...), as `Fleet`'s `defaults`: a node is its address in the cluster,
   * and the rest is the runners' configuration, the same on each runner.
   */
  readonly defaults?: Partial<Fleet.NodeOptions> | undefined
  /** Probe each connected node for its round trip, as `Fleet`'s `probe`. Default: off. */
  readonly probe?: Fleet.ProbeOptions | undefined
  /**
   * How long the entity of a node that is not in the fleet lives without messages. Nodes of the
   * fleet are kept alive. Default: the cluster's `entityMaxIdleTime` (1 minute).
   */
  readonly maxIdleTime?: Duration.Input | undefined
}

/** The state of a node whose entity holds no connection: not in the fleet. */
const outsideState = (node: string): Fleet.NodeState => ({
  node,
  link: "Closed",
  attempt: undefined,
  lastError: new NetworkError({ detail: notInFleet, remote: node }),
  timeout: 0,
  roundTrip: undefined,
  connectedSince: undefined
})

const notConnectedOutside = (node: string): NotConnected =>
  new NotConnected({ state: "Closed", remote: node, lastError: new NetworkError({ detail: notInFleet, remote: node }) })

/** A deadline of milliseconds on the wire, as a Duration; `undefined` is none. */
const deadlineOf = (millis: number | undefined): Duration.Duration =>
  millis === undefined ? Duration.infinity : Duration.millis(millis)

/** The command a `Request` or `Stream` message carries, as the fleet's request. */
const commandOf = (bytes: Uint8Array): Result.Result<Fleet.Request, ConnectionError> => {
  const decoded = Decoder.decodePacket(bytes)
  if (Result.isFailure(decoded)) return Result.fail(decoded.failure)
  const field = decoded.success.packet.fields[0]
  return field === undefined
    ? Result.fail(new NetworkError({ detail: "cluster: a command without a field" }))
    : Result.succeed({ packetType: decoded.success.packet.type, fieldName: field.name, params: field.params })
}

/**
 * The entity's behaviour, registered with the runner's `Sharding`: each node's entity holds
 * its connection (a one-node `Fleet` over the runner's `Transport`) while the node is in the
 * fleet, and answers its messages. Provide it on every runner, with the same `defaults`.
 *
 * @example
 * ```ts
 * const Nodes = ClusterFleet.layerNodes({ defaults: { requestTimeout: "10 seconds" } })
 * ```
 */
export const layerNodes = (
  options: NodeOptions = {}
): Layer.Layer<never, never, Sharding.Sharding | FleetStorage | Transport> =>
  NodeEntity.toLayer(
    Effect.gen(function* () {
      const address = yield* Entity.CurrentAddress
      const runnerAddress = yield* Entity.CurrentRunnerAddress
      const storage = yield* FleetStorage
      const scope = yield* Effect.scope
      // keepAlive needs the entity's own services: run it with the build's context from handlers
      const context = yield* Effect.context<Sharding.Sharding | Entity.CurrentAddress>()
      const keepAlive = (enabled: boolean) => Effect.provideContext(Entity.keepAlive(enabled), context)
      const node: string = address.entityId
      const runner = `${runnerAddress.host}:${runnerAddress.port}`
      const parsed = Fleet.parseAddress(node)
      const fleet = yield* Fleet.make({ defaults: options.defaults, probe: options.probe })
      const lock = yield* Semaphore.make(1)
      // the node's first attempt to connect, once it joined; `undefined` while it is outside
      let joined: Fiber.Fiber<string> | undefined

      const join = lock.withPermits(1)(
        Effect.suspend(() => {
          if (joined !== undefined || Result.isFailure(parsed)) return Effect.succeed(joined)
          const { host, port } = parsed.success
          return Effect.forkIn(fleet.add({ host, port }), scope).pipe(
            Effect.tap((fiber) =>
              Effect.sync(() => {
                joined = fiber
              })
            ),
            Effect.tap(() => keepAlive(true))
          )
        })
      )

      const leave = lock.withPermits(1)(
        Effect.suspend(() => {
          const was = joined !== undefined
          joined = undefined
          return fleet.remove(node).pipe(Effect.andThen(keepAlive(false)), Effect.as(was))
        })
      )

      const stateNow = Effect.map(fleet.state, (states) => states[0] ?? outsideState(node))
      const placement = Effect.map(stateNow, (state): Placement => ({ state, runner }))

      // a node of the fleet starts connecting with its entity: after a failover, at once
      const member = yield* Effect.orDie(storage.has(node))
      if (member) yield* join

      /** The command, if it is the first delivery of this request: else it ran on a lost runner. */
      const claimed = (requestId: string, bytes: Uint8Array): Effect.Effect<Fleet.Request, ConnectionError> =>
        Effect.gen(function* () {
          if (joined === undefined) return yield* notConnectedOutside(node)
          const command = yield* Effect.fromResult(commandOf(bytes))
          const first = yield* storage
            .claim(requestId, node)
            .pipe(
              Effect.mapError(
                (error) => new NetworkError({ detail: `cluster: ${error.message}`, remote: node, cause: error })
              )
            )
          if (!first) return yield* new ConnectionClosed({ detail: lostInFlight, remote: node })
          return command
        })

      return NodeEntity.of({
        Connect: () =>
          join.pipe(
            Effect.flatMap((fiber) => (fiber === undefined ? Effect.void : Fiber.join(fiber))),
            Effect.andThen(placement)
          ),
        Disconnect: () => leave,
        State: () =>
          // a node added while its entity ran outside the fleet (a race with another process)
          (joined === undefined
            ? Effect.flatMap(
                Effect.orElseSucceed(storage.has(node), () => false),
                (now) => (now ? Effect.asVoid(join) : Effect.void)
              )
            : Effect.void
          ).pipe(Effect.andThen(placement)),
        Request: (request) =>
          Effect.gen(function* () {
            const command = yield* claimed(String(request.requestId), request.payload.command)
            const answer = yield* Stream.runHead(
              fleet.request(command, { nodes: [node], timeout: deadlineOf(request.payload.timeoutMillis) })
            )
            if (Option.isNone(answer)) return yield* notConnectedOutside(node)
            return yield* Effect.fromResult(answer.value.result)
          }),
        Stream: (request) =>
          Stream.unwrap(
            Effect.map(claimed(String(request.requestId), request.payload.command), (command) =>
              fleet
                .stream(command, {
                  nodes: [node],
                  timeout: deadlineOf(request.payload.timeoutMillis),
                  replies: request.payload.replies
                })
                .pipe(Stream.mapEffect(({ result }) => Effect.fromResult(result)))
            )
          )
      })
    }),
    // a streaming command must not hold up the node's other commands: its connection multiplexes them
    { concurrency: "unbounded", maxIdleTime: options.maxIdleTime }
  )
