import { assert, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as TestRunner from "effect/cluster/TestRunner"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { ClusterFleet } from "../src/cluster.js"
import { Fleet, Transport } from "../src/index.js"
import { SimulatedFleet, SimulatedNode } from "../src/testing.js"

// The node entity and the clustered Fleet under the cluster's test runner (TestRunner: real
// sharding, mailboxes, keep-alive and message serialization, storage in memory), on a simulated
// fleet in memory, under TestClock: no process, no socket, no database.

/** The library's Info lines (a connect per node) are not what these tests are about. */
const quiet = Effect.provideService(References.MinimumLogLevel, "Error")

/** Lets the fibers run (messages take a few hops), without the clock moving. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})

/** `count` simulated nodes, a clustered fleet on them in the test's scope, and every node added. */
const clusterOf = (count: number, options: ClusterFleet.TestOptions = {}) =>
  Effect.gen(function* () {
    const simulated = yield* SimulatedFleet.make({ nodes: count })
    const context = yield* Layer.build(ClusterFleet.layerTest(options)).pipe(
      Effect.provideService(Transport.Transport, simulated.transport)
    )
    // the runner takes its shards on the clock: touch it once before the first message
    yield* TestClock.adjust(0)
    const fleet = Context.get(context, Fleet.Fleet)
    yield* Effect.forEach(simulated.addresses, fleet.add, { concurrency: "unbounded", discard: true })
    return { simulated, fleet, context }
  })

const names = (results: ReadonlyArray<Fleet.NodeResult<{ readonly SEID: string }, unknown>>) =>
  results.map(({ result }) => (Result.isSuccess(result) ? result.success.SEID : "failed"))

describe("ClusterFleet on the cluster's test runner", () => {
  it.effect("the same program on one process and on the cluster: every node answers with its own name", () =>
    Effect.gen(function* () {
      const program = Fleet.callAll(SimulatedNode.Status)
      const inProcess = yield* program.pipe(Effect.provide(SimulatedFleet.layerFleet({ nodes: 5 })))
      const { fleet } = yield* clusterOf(5)
      const clustered = yield* Effect.provideService(program, Fleet.Fleet, fleet)
      expect(names(clustered)).toEqual(names(inProcess))
      expect(names(clustered)).toEqual([0, 1, 2, 3, 4].map(SimulatedNode.fleetName))
      // each node's state, from its entity: open, with the round trip of that STAT
      const states = yield* fleet.state
      expect(states.map((state) => state.link)).toEqual(["Open", "Open", "Open", "Open", "Open"])
      expect(states.every((state) => state.roundTrip !== undefined)).toBe(true)
    }).pipe(Effect.scoped, quiet)
  )

  it.effect(
    "errors cross the cluster as the same classes: an error reply with its field, a node down, a node outside the fleet",
    () =>
      Effect.gen(function* () {
        const { simulated, fleet } = yield* clusterOf(3)
        const [first, second] = simulated.nodes
        assert(first !== undefined && second !== undefined)

        // an error reply: a CommandError with its field, as on one process
        const [inverted] = yield* Stream.runCollect(
          fleet.request(
            { packetType: "DSPC", fieldName: "SWEP", params: { FSTA: 108, FSTP: 88 } },
            { nodes: [first.key] }
          )
        )
        assert(inverted !== undefined && Result.isFailure(inverted.result))
        const error = inverted.result.failure
        assert(error._tag === "CommandError")
        expect(error.code).toBe(400)
        expect(error.field.name).toBe("SWEP")

        // a node that is down: NotConnected with why, from its entity's connection
        yield* second.stop
        yield* settle
        const [down] = yield* Effect.provideService(
          Fleet.callAll(SimulatedNode.Status, {}, { nodes: [second.key] }),
          Fleet.Fleet,
          fleet
        )
        assert(down !== undefined && Result.isFailure(down.result))
        expect(down.result.failure._tag).toBe("NotConnected")
        expect((yield* fleet.state).find((state) => state.node === second.key)?.link).not.toBe("Open")

        // a node that is not in the fleet: never connected, NotConnected naming why
        const outside = "simulated-9999:9999"
        const [stranger] = yield* Effect.provideService(
          Fleet.callAll(SimulatedNode.Status, {}, { nodes: [outside] }),
          Fleet.Fleet,
          fleet
        )
        assert(stranger !== undefined && Result.isFailure(stranger.result))
        const notConnected = stranger.result.failure
        assert(notConnected._tag === "NotConnected")
        expect(notConnected.lastError?.message).toContain(ClusterFleet.notInFleet)

        // bad params of a typed command: nothing is sent
        const invalid = yield* Effect.flip(
          Effect.provideService(
            Fleet.callAll(SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, BINS: 0 }, { nodes: [first.key] }),
            Fleet.Fleet,
            fleet
          )
        )
        expect(invalid._tag).toBe("InvalidParams")
      }).pipe(Effect.scoped, quiet)
  )

  it.effect("a streaming command: every reply of every node, through the cluster's streamed replies", () =>
    Effect.gen(function* () {
      const { fleet } = yield* clusterOf(3)
      const fiber = yield* Effect.forkChild(
        Stream.runCollect(
          Stream.provideService(
            Fleet.stream(SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, BINS: 64, REPT: 3 }, { replies: 3 }),
            Fleet.Fleet,
            fleet
          )
        )
      )
      // the node sends a sweep every 100 ms
      for (let i = 0; i < 10; i++) {
        yield* TestClock.adjust("100 millis")
        yield* settle
      }
      const replies = yield* Fiber.join(fiber)
      expect(replies).toHaveLength(9)
      for (const { result } of replies) {
        assert(Result.isSuccess(result))
        expect(result.success.PDAT).toHaveLength(64)
      }
      expect(new Set(replies.map(({ node }) => node)).size).toBe(3)
    }).pipe(Effect.scoped, quiet)
  )

  it.effect(
    "deadlines run on the clock: a silent node's command ends in NetworkTimeout at its deadline, the others answer",
    () =>
      Effect.gen(function* () {
        const { simulated, fleet } = yield* clusterOf(3)
        const silent = simulated.nodes[0]
        assert(silent !== undefined)
        yield* silent.silence
        const fiber = yield* Effect.forkChild(
          Effect.provideService(Fleet.callAll(SimulatedNode.Status, {}, { timeout: "2 seconds" }), Fleet.Fleet, fleet)
        )
        yield* settle
        yield* TestClock.adjust("1900 millis")
        yield* settle
        expect(fiber.pollUnsafe()).toBeUndefined()
        yield* TestClock.adjust("200 millis")
        const results = yield* Fiber.join(fiber)
        const timedOut = results.find(({ node }) => node === silent.key)
        assert(timedOut !== undefined && Result.isFailure(timedOut.result))
        const error = timedOut.result.failure
        assert(error._tag === "NetworkTimeout")
        expect(error.command).toBe("STAT STAT")
        expect(results.filter(({ result }) => Result.isSuccess(result))).toHaveLength(2)
      }).pipe(Effect.scoped, quiet)
  )

  it.effect(
    "a command delivered again after its runner was lost fails with ConnectionClosed and never reaches the node",
    () =>
      Effect.gen(function* () {
        const simulated = yield* SimulatedFleet.make({ nodes: 1 })
        // every command looks already claimed: as when its first runner died with it in flight
        const claimedBefore = Layer.effect(
          ClusterFleet.FleetStorage,
          Effect.gen(function* () {
            const storage = yield* ClusterFleet.FleetStorage
            return ClusterFleet.FleetStorage.of({ ...storage, claim: () => Effect.succeed(false) })
          })
        ).pipe(Layer.provide(ClusterFleet.FleetStorage.layerMemory))
        const context = yield* Layer.build(
          ClusterFleet.layer().pipe(
            Layer.provide(ClusterFleet.layerNodes()),
            Layer.provideMerge(TestRunner.layer),
            Layer.provide(claimedBefore)
          )
        ).pipe(Effect.provideService(Transport.Transport, simulated.transport))
        yield* TestClock.adjust(0)
        const fleet = Context.get(context, Fleet.Fleet)
        const node = simulated.nodes[0]
        assert(node !== undefined)
        yield* fleet.add(node.address)
        expect(node.open).toBe(1)

        const [result] = yield* Effect.provideService(Fleet.callAll(SimulatedNode.Status), Fleet.Fleet, fleet)
        assert(result !== undefined && Result.isFailure(result.result))
        const error = result.result.failure
        assert(error._tag === "ConnectionClosed")
        expect(error.detail).toBe(ClusterFleet.lostInFlight)
        // the node's connection never carried it: no request, so no round trip
        const [state] = yield* fleet.state
        expect(state?.roundTrip).toBeUndefined()

        const replies = yield* Stream.runCollect(
          fleet.stream({ packetType: "DSPC", fieldName: "SWEP", params: { FSTA: 88, FSTP: 108, REPT: 0 } })
        )
        expect(replies.map(({ result }) => (Result.isFailure(result) ? result.failure._tag : "reply"))).toEqual([
          "ConnectionClosed"
        ])
      }).pipe(Effect.scoped, quiet)
  )

  it.effect("the fleet's nodes stay connected past the entities' idle time; removing one closes its connection", () =>
    Effect.gen(function* () {
      const { simulated, fleet, context } = yield* clusterOf(3)
      const seen: Array<Fleet.NodeState> = []
      yield* Effect.forkScoped(Stream.runForEach(fleet.changes, (state) => Effect.sync(() => seen.push(state))))
      // far past the cluster's idle time (1 minute): kept alive, no reconnect
      for (let i = 0; i < 30; i++) {
        yield* TestClock.adjust("10 seconds")
        yield* settle
      }
      expect(simulated.nodes.map((node) => node.open)).toEqual([1, 1, 1])
      expect(simulated.nodes.map((node) => node.connects)).toEqual([1, 1, 1])

      const [gone] = simulated.nodes
      assert(gone !== undefined)
      expect(yield* fleet.remove(gone.key)).toBe(true)
      expect(gone.open).toBe(0)
      expect(yield* fleet.remove(gone.key)).toBe(false)
      expect((yield* fleet.state).map((state) => state.node)).toEqual(simulated.nodes.slice(1).map((node) => node.key))
      yield* TestClock.adjust("1 second")
      yield* settle
      expect(seen.some((state) => state.node === gone.key && state.link === "Removed")).toBe(true)

      // a view of some nodes sees those alone, and leaves the fleet as it is
      const view = yield* ClusterFleet.make({ view: "nodes", nodes: [gone.address] }).pipe(
        Effect.provideContext(context)
      )
      const [outside] = yield* view.state
      expect(outside?.link).toBe("Closed")
      expect(outside?.lastError?.message).toContain(ClusterFleet.notInFleet)
      expect(gone.open).toBe(0)
    }).pipe(Effect.scoped, quiet)
  )
})
