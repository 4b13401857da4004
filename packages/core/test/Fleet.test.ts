import { assert, describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { type Connection, Field, Fleet, SweepLevel, Transport } from "../src/index.js"
import { SimulatedFleet, SimulatedNode } from "../src/testing.js"

// A Fleet over a simulated fleet in memory (SimulatedFleet), under TestClock: every node its own
// in-memory server, each of them able to go quiet, drop its connections, go down and come back.

/** The library's Info lines (a connect per node) are not what these tests are about. */
const quiet = Effect.provideService(References.MinimumLogLevel, "Error")

const until = (what: string, condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 5000 && !condition(); i++) yield* Effect.yieldNow
    assert(condition(), `expected ${what}`)
  })

/** Lets the fibers run (in-memory replies take a few hops), without the clock moving. */
const settle = Effect.gen(function* () {
  for (let i = 0; i < 200; i++) yield* Effect.yieldNow
})

/** Moves the TestClock by `millis` in steps of `step`, letting the fibers run after each. */
const advance = (millis: number, step = 100) =>
  Effect.gen(function* () {
    for (let t = 0; t < millis; t += step) {
      yield* TestClock.adjust(step)
      yield* settle
    }
  })

/** The simulated fleet and a Fleet of all its nodes, in the test's scope. */
const fleetOf = (nodes: number, options: Omit<Fleet.FleetOptions, "nodes"> = {}) =>
  Effect.gen(function* () {
    const simulated = yield* SimulatedFleet.make({ nodes })
    const fleet = yield* Fleet.make({ ...options, nodes: simulated.addresses }).pipe(
      Effect.provideService(Transport.Transport, simulated.transport)
    )
    return { simulated, fleet }
  })

const successes = <A, E>(results: ReadonlyArray<Fleet.NodeResult<A, E>>) =>
  results.flatMap(({ node, result }) => (Result.isSuccess(result) ? [{ node, reply: result.success }] : []))
const failures = <A, E>(results: ReadonlyArray<Fleet.NodeResult<A, E>>) =>
  results.flatMap(({ node, result }) => (Result.isFailure(result) ? [{ node, error: result.failure }] : []))

describe("Fleet", () => {
  it.effect(
    "100 nodes, 10 silenced and 10 reset during a fan-out: 80 typed replies and 20 typed errors within the deadline, none late, none lost; the reset nodes answer the next fan-out",
    () =>
      Effect.gen(function* () {
        const simulated = yield* SimulatedFleet.TestFleet
        const fleet = yield* Fleet.Fleet
        expect((yield* fleet.state).every((state) => state.link === "Open")).toBe(true)
        const silenced = simulated.nodes.slice(0, 10)
        const reset = simulated.nodes.slice(10, 20)

        yield* Effect.forEach(silenced, (node) => node.silence, { discard: true })
        const started = yield* Clock.currentTimeMillis
        const fanOut = yield* Effect.forkChild(
          Effect.flatMap(Fleet.callAll(SimulatedNode.Status), (results) =>
            Effect.map(Clock.currentTimeMillis, (at) => ({ results, at }))
          )
        )
        yield* Effect.yieldNow
        yield* Effect.forEach(reset, (node) => node.reset, { discard: true })
        yield* TestClock.adjust("5 seconds")
        const { results, at } = yield* Fiber.join(fanOut)

        // none late: the last result came at the deadline
        expect(at - started).toBeLessThanOrEqual(5000)
        // none lost: one result per node, in the nodes' order
        expect(results.map((r) => r.node)).toEqual(simulated.nodes.map((node) => node.key))
        const replies = successes(results)
        expect(replies).toHaveLength(80)
        for (const { node, reply } of replies) {
          expect(reply.STAT).toBe("OK")
          expect(reply.SEID).toBe(simulated.node(node)?.name)
        }
        const errors = failures(results)
        expect(errors).toHaveLength(20)
        for (const { node, error } of errors.slice(0, 10)) {
          expect(silenced.map((n) => n.key)).toContain(node)
          assert(error._tag === "NetworkTimeout")
          expect(error.command).toBe("STAT STAT")
          expect(error.remote).toBe(node)
        }
        for (const { node, error } of errors.slice(10)) {
          expect(reset.map((n) => n.key)).toContain(node)
          expect(["NetworkError", "NotConnected", "ConnectionClosed"]).toContain(error._tag)
        }

        // the reset nodes reconnect (within the default schedule's first delay) and answer
        yield* Effect.forEach(silenced, (node) => node.resume, { discard: true })
        yield* TestClock.adjust("1 second")
        yield* until("every node open again", () => reset.every((node) => node.open === 1))
        const again = yield* Fleet.callAll(SimulatedNode.Status)
        expect(successes(again)).toHaveLength(100)
        const states = yield* fleet.state
        expect(states.every((state) => state.link === "Open")).toBe(true)
        // the errors stay as each node's last error
        expect(states[0]?.lastError?._tag).toBe("NetworkTimeout")
      }).pipe(Effect.provide(SimulatedFleet.layerFleet({ nodes: 100 }, { timeout: "5 seconds" })), quiet),
    60_000
  )

  it.effect(
    "a removed node's client is closed: no connection left, no more connects, a Removed change",
    () =>
      Effect.gen(function* () {
        const { simulated, fleet } = yield* fleetOf(3)
        const [up, down, other] = simulated.nodes
        assert(up !== undefined && down !== undefined && other !== undefined)
        const seen: Array<Fleet.NodeState> = []
        yield* Effect.forkScoped(Stream.runForEach(fleet.changes, (state) => Effect.sync(() => seen.push(state))))
        yield* until("the first changes", () => seen.length >= 3)

        // an open node: removing it closes its connection at once
        expect(up.open).toBe(1)
        expect(yield* fleet.remove(up.key)).toBe(true)
        expect(up.open).toBe(0)
        expect(yield* fleet.remove(up.key)).toBe(false)

        // a node that is down: its client retries on its schedule until it is removed
        yield* down.stop
        yield* TestClock.adjust("1 minute")
        const retries = down.connects
        expect(retries).toBeGreaterThan(2)
        yield* fleet.remove(down.key)
        yield* TestClock.adjust("10 minutes")
        expect(down.connects).toBe(retries)
        yield* down.start
        yield* TestClock.adjust("10 minutes")
        expect(down.connects).toBe(retries)
        expect(down.open).toBe(0)
        expect(up.connects).toBe(1)

        yield* until("the Removed changes", () => seen.filter((state) => state.link === "Removed").length === 2)
        expect(seen.filter((state) => state.link === "Removed").map((state) => state.node)).toEqual([up.key, down.key])
        expect((yield* fleet.state).map((state) => state.node)).toEqual([other.key])
        // a removed node is no longer asked; asked by name, it is not connected
        const results = yield* Stream.runCollect(
          fleet.request({ packetType: "STAT", fieldName: "STAT" }, { nodes: [up.key, other.key] })
        )
        const byNode = new Map(results.map((r) => [r.node, r.result]))
        expect(Result.isSuccess(byNode.get(other.key) ?? Result.fail(undefined))).toBe(true)
        const removed = byNode.get(up.key)
        assert(removed !== undefined && Result.isFailure(removed))
        expect(removed.failure).toMatchObject({ _tag: "NotConnected", state: "Closed", remote: up.key })
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.effect(
    "a node removed with a request in flight, or during its first attempt: the request fails, add returns",
    () =>
      Effect.gen(function* () {
        const { simulated, fleet } = yield* fleetOf(2, { timeout: "1 minute" })
        const [a, b] = simulated.nodes
        assert(a !== undefined && b !== undefined)
        yield* a.silence
        const asked = yield* Effect.forkChild(
          Stream.runCollect(fleet.request({ packetType: "STAT", fieldName: "STAT" }, { nodes: [a.key] }))
        )
        yield* settle
        yield* fleet.remove(a.key)
        const [answer] = yield* Fiber.join(asked)
        assert(answer !== undefined && Result.isFailure(answer.result))
        expect(answer.result.failure._tag).toBe("ConnectionClosed")

        // its first attempt hangs (the node is silent): removed meanwhile, add returns at once
        yield* fleet.remove(b.key)
        yield* b.silence
        const adding = yield* Effect.forkChild(fleet.add(b.address))
        yield* settle
        expect(adding.pollUnsafe()).toBeUndefined()
        expect(yield* fleet.remove(b.key)).toBe(true)
        expect(yield* Fiber.join(adding)).toBe(b.key)
        const connects = b.connects
        yield* TestClock.adjust("10 minutes")
        expect(b.connects).toBe(connects)
        expect(b.open).toBe(0)
        expect(yield* fleet.state).toEqual([])
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.effect(
    "nodes are added and removed while it runs; an added node answers the next fan-out",
    () =>
      Effect.gen(function* () {
        const simulated = yield* SimulatedFleet.make({ nodes: 4 })
        const fleet = yield* Fleet.make({ nodes: simulated.addresses.slice(0, 2) }).pipe(
          Effect.provideService(Transport.Transport, simulated.transport)
        )
        const [, , third, fourth] = simulated.nodes
        assert(third !== undefined && fourth !== undefined)
        expect(yield* fleet.add(third.address)).toBe(third.key)
        // the same node again is left as it is
        expect(yield* fleet.add({ host: third.address.host, port: 9999 })).toBe(third.key)
        expect(third.connects).toBe(1)
        const first = yield* Effect.provideService(Fleet.callAll(SimulatedNode.Status), Fleet.Fleet, fleet)
        expect(first.map(({ result }) => Result.getOrUndefined(result)?.SEID)).toEqual([
          "simulated-0000",
          "simulated-0001",
          "simulated-0002"
        ])
        yield* fleet.remove(simulated.nodes[0]?.key ?? "")
        yield* fleet.add(fourth.address)
        const second = yield* Effect.provideService(Fleet.callAll(SimulatedNode.Status), Fleet.Fleet, fleet)
        expect(second.map(({ node }) => node)).toEqual([
          "simulated-0001:9999",
          "simulated-0002:9999",
          "simulated-0003:9999"
        ])
        expect(successes(second)).toHaveLength(3)
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.effect(
    "state: each node's link, agreed timeout, connected-since, round trip and last error",
    () =>
      Effect.gen(function* () {
        yield* TestClock.setTime(1_700_000_000_000)
        const { simulated, fleet } = yield* fleetOf(2, { defaults: { timeout: "30 seconds" } })
        const [a, b] = simulated.nodes
        assert(a !== undefined && b !== undefined)
        const [first] = yield* fleet.state
        expect(first).toEqual({
          node: a.key,
          link: "Open",
          attempt: undefined,
          lastError: undefined,
          timeout: 30,
          roundTrip: undefined,
          connectedSince: 1_700_000_000_000
        })
        // a node that takes 250 ms to answer: its round trip
        yield* a.silence
        const asked = yield* Effect.forkChild(
          Effect.provideService(Fleet.callAll(SimulatedNode.Status, {}, { nodes: [a.key] }), Fleet.Fleet, fleet)
        )
        yield* TestClock.adjust("250 millis")
        yield* a.resume
        yield* Fiber.join(asked)
        expect((yield* fleet.state)[0]?.roundTrip).toBe(250)

        // a node going down: BackingOff, with the reason
        yield* b.stop
        yield* settle
        const down = (yield* fleet.state)[1]
        expect(down?.link === "BackingOff" || down?.link === "Connecting").toBe(true)
        expect(down?.connectedSince).toBeUndefined()
        expect(down?.lastError?._tag).toBeDefined()
        yield* b.start
        yield* TestClock.adjust("1 minute")
        const back = (yield* fleet.state)[1]
        expect(back?.link).toBe("Open")
        expect(back?.connectedSince).toBeGreaterThan(1_700_000_000_000)
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.effect(
    "probe: an open node's round trip without requests of one's own",
    () =>
      Effect.gen(function* () {
        const { simulated, fleet } = yield* fleetOf(2, { probe: { interval: "30 seconds" } })
        expect(simulated.nodes.every((node) => node.open === 1)).toBe(true)
        yield* settle
        expect((yield* fleet.state).map((state) => state.roundTrip)).toEqual([0, 0])
        // the next probe, 30 s later, of a node that takes 2 s to answer
        yield* simulated.nodes[1]?.silence ?? Effect.void
        yield* advance(30_000, 1000)
        yield* advance(2000)
        yield* simulated.nodes[1]?.resume ?? Effect.void
        yield* settle
        expect((yield* fleet.state).map((state) => state.roundTrip)).toEqual([0, 2000])
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.effect(
    "bad params fail the fan-out before anything is sent",
    () =>
      Effect.gen(function* () {
        const { fleet } = yield* fleetOf(2)
        const exit = yield* Effect.exit(
          Effect.provideService(Fleet.callAll(SimulatedNode.Sweep, { FSTA: 500, FSTP: 400 }), Fleet.Fleet, fleet)
        )
        assert(Exit.isFailure(exit))
        expect(exit.cause.reasons[0]).toMatchObject({ _tag: "Fail", error: { _tag: "InvalidParams", param: "FSTP" } })
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.effect(
    "a typed stream of every node: REPT sweeps tagged with their node, each node its own spectrum",
    () =>
      Effect.gen(function* () {
        const { simulated, fleet } = yield* fleetOf(10)
        const collected = yield* Effect.forkChild(
          Effect.provideService(
            Stream.runCollect(
              Fleet.stream(SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, BINS: 256, REPT: 5 }, { replies: 5 })
            ),
            Fleet.Fleet,
            fleet
          )
        )
        yield* advance(1000)
        const replies = yield* Fiber.join(collected)
        expect(replies).toHaveLength(50)
        const peaks = new Map<string, number>()
        for (const node of simulated.nodes) {
          const own = successes(replies.filter((r) => r.node === node.key))
          expect(own).toHaveLength(5)
          const levels = own[0]?.reply.PDAT.subarray(0, 256) ?? new Uint8Array()
          peaks.set(node.key, levels.indexOf(Math.max(...levels)))
        }
        // seeds differ: the strongest carrier is not in the same bin on every node
        expect(new Set(peaks.values()).size).toBeGreaterThan(1)
        expect(SweepLevel.toDbm(0)).toBeLessThan(-100)
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.live(
    "a merged stream from nodes of different speeds, read slowly, delivers every reply of every node",
    () =>
      Effect.gen(function* () {
        const perNode = 20
        // node i answers with `perNode` replies numbered 1.., (i + 1) ms apart
        const simulated = yield* SimulatedFleet.make({
          nodes: 8,
          handler:
            ({ index }) =>
            (connection: Connection.Connection) =>
              connection.fields.pipe(
                Stream.runForEach((field) =>
                  field.packetType === "LINK"
                    ? Effect.void
                    : Effect.forEach(
                        Array.from({ length: perNode }, (_, n) => n + 1),
                        (n) => Effect.andThen(Effect.sleep(index + 1), field.reply({ SEQN: n, NODE: index })),
                        { discard: true }
                      )
                )
              )
        })
        const fleet = yield* Fleet.make({ nodes: simulated.addresses }).pipe(
          Effect.provideService(Transport.Transport, simulated.transport)
        )
        const received = yield* fleet
          .stream({ packetType: "DATA", fieldName: "SEND" }, { replies: perNode, bufferSize: 2 })
          .pipe(
            // a consumer slower than the fastest node
            Stream.tap(() => Effect.sleep(1)),
            Stream.runCollect
          )
        expect(failures(received)).toEqual([])
        for (const node of simulated.nodes) {
          const own = successes(received.filter((r) => r.node === node.key))
          expect(own.map(({ reply }) => Field.get(reply, "SEQN"))).toEqual(
            Array.from({ length: perNode }, (_, n) => n + 1)
          )
          expect(own.every(({ reply }) => Field.get(reply, "NODE") === node.index)).toBe(true)
        }
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.live(
    "a consumer that stops pulling stops the nodes: what each produces stays bounded",
    () =>
      Effect.gen(function* () {
        const produced = [0, 0, 0]
        // each node answers every command with replies of 1 KiB for ever, as fast as it may
        const simulated = yield* SimulatedFleet.make({
          nodes: 3,
          capacity: 4,
          handler:
            ({ index }) =>
            (connection: Connection.Connection) =>
              connection.fields.pipe(
                Stream.runForEach((field) =>
                  field.packetType === "LINK"
                    ? Effect.void
                    : Effect.forever(
                        Effect.andThen(
                          field.reply({ DATA: new Uint8Array(1024) }),
                          Effect.sync(() => {
                            produced[index] = (produced[index] ?? 0) + 1
                          })
                        )
                      )
                )
              )
        })
        const fleet = yield* Fleet.make({ nodes: simulated.addresses }).pipe(
          Effect.provideService(Transport.Transport, simulated.transport)
        )
        // a consumer that takes ten replies, then stops pulling (the stream, its Responses, open)
        let taken = 0
        const consumer = yield* fleet.stream({ packetType: "DATA", fieldName: "SEND" }, { timeout: "1 hour" }).pipe(
          Stream.runForEach(() => (++taken === 10 ? Effect.never : Effect.void)),
          Effect.forkChild
        )
        // the nodes stop: what they produced no longer grows
        let before = [-1]
        for (let i = 0; i < 50 && produced.join() !== before.join(); i++) {
          before = [...produced]
          yield* Effect.sleep("200 millis")
        }
        expect(produced).toEqual(before)
        // bounded by the Response's buffer (64 fields), the merge's (16), the socket's (4 chunks)
        // and the node's own write buffer (256 KiB, a server's default)
        for (const count of produced) expect(count).toBeLessThan(400)
        expect(taken).toBe(10)
        yield* Fiber.interrupt(consumer)
      }).pipe(Effect.scoped, quiet),
    60_000
  )

  it.effect(
    "on a schedule: every open node each round, a node that is down skipped, a silent one not stalling the rest",
    () =>
      Effect.gen(function* () {
        const { simulated, fleet } = yield* fleetOf(4, { timeout: "25 seconds" })
        const [a, b, c, d] = simulated.nodes
        assert(a !== undefined && b !== undefined && c !== undefined && d !== undefined)
        yield* c.stop
        yield* d.silence
        yield* settle
        const start = yield* Clock.currentTimeMillis
        const rounds: Array<{ readonly at: number; readonly node: string; readonly ok: boolean }> = []
        yield* Effect.forkScoped(
          Fleet.onSchedule(Schedule.spaced("10 seconds"), SimulatedNode.Status).pipe(
            Stream.runForEach(({ node, result }) =>
              Effect.map(Clock.currentTimeMillis, (at) => {
                rounds.push({ at, node, ok: Result.isSuccess(result) })
              })
            ),
            Effect.provideService(Fleet.Fleet, fleet)
          )
        )
        yield* settle
        yield* advance(30_000, 1000)
        const at = (node: string) => rounds.filter((r) => r.node === node).map((r) => r.at - start)
        // a and b every round, on time
        expect(at(a.key)).toEqual([0, 10_000, 20_000, 30_000])
        expect(at(b.key)).toEqual([0, 10_000, 20_000, 30_000])
        // c is down: never asked
        expect(at(c.key)).toEqual([])
        // d is silent: asked once, its result at its deadline; the rounds meanwhile skip it
        expect(at(d.key)).toEqual([25_000])
        expect(rounds.find((r) => r.node === d.key)?.ok).toBe(false)
      }).pipe(Effect.scoped, quiet),
    60_000
  )
})

describe("Fleet addresses", () => {
  it("nodeKey names a node as Client.defaultRemote does, IPv6 in brackets", () => {
    expect(Fleet.nodeKey({ host: "rfeye1" })).toBe("rfeye1:9999")
    expect(Fleet.nodeKey({ host: "rfeye1", tls: true })).toBe("rfeye1:443")
    expect(Fleet.nodeKey({ host: "::1", port: 10000 })).toBe("[::1]:10000")
  })

  it("parseAddress reads HOST[:PORT], IPv6 in brackets", () => {
    expect(Fleet.parseAddress("rfeye1:9999")).toEqual(Result.succeed({ host: "rfeye1", port: 9999 }))
    expect(Fleet.parseAddress("[fe80::1]:10000")).toEqual(Result.succeed({ host: "fe80::1", port: 10000 }))
    expect(Fleet.parseAddress("fe80::1")).toEqual(Result.succeed({ host: "fe80::1", port: undefined }))
    expect(Fleet.parseAddress("rfeye1:0")).toEqual(Result.fail("port 0 is outside 1-65535"))
  })

  it.effect("nodes from configuration: a comma-separated list of addresses", () =>
    Effect.gen(function* () {
      const nodes = yield* Config.Array(Fleet.NodeAddressFromString, "NCP_NODES")
      expect(nodes).toEqual([
        { host: "rfeye1", port: 9999 },
        { host: "rfeye2", port: undefined },
        { host: "::1", port: 10000 }
      ])
      const bad = yield* Effect.exit(Config.Array(Fleet.NodeAddressFromString, "BAD_NODES"))
      expect(Exit.isFailure(bad)).toBe(true)
      expect(Schema.encodeSync(Fleet.NodeAddressFromString)({ host: "::1", port: 10000 })).toBe("[::1]:10000")
    }).pipe(
      Effect.provide(
        ConfigProvider.layer(
          ConfigProvider.fromEnv({ env: { NCP_NODES: "rfeye1:9999,rfeye2,[::1]:10000", BAD_NODES: "a:0" } })
        )
      )
    )
  )

  it.effect(
    "Fleet.layerConfig starts the nodes the configuration names",
    () =>
      Effect.gen(function* () {
        const fleet = yield* Fleet.Fleet
        const states = yield* fleet.state
        expect(states.map((state) => [state.node, state.link])).toEqual([
          ["simulated-0000:9999", "Open"],
          ["simulated-0001:9999", "Open"]
        ])
      }).pipe(
        Effect.provide(
          Fleet.layerConfig(Config.Array(Fleet.NodeAddressFromString, "NCP_NODES")).pipe(
            Layer.provide(SimulatedFleet.layer({ nodes: 2 })),
            Layer.provide(
              ConfigProvider.layer(ConfigProvider.fromEnv({ env: { NCP_NODES: "simulated-0000,simulated-0001:9999" } }))
            )
          )
        ),
        quiet
      ),
    60_000
  )
})
