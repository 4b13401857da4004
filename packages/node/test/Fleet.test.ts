import { assert, expect, it } from "@effect/vitest"
import { Fleet } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { NodeNcp, NodeTransport } from "../src/index.js"
import { HOST } from "./harness.js"

// A Fleet over real TCP: simulated nodes on 127.0.0.1, each with its own name and spectrum.

/** Node's handles of one kind (`TCPSocketWrap`, `Timeout`, ...) in use now. */
const handles = (kind: string) => process.getActiveResourcesInfo().filter((resource) => resource === kind).length

/** Waits (real time) until `condition`, at most 5 s. */
const eventually = (condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 250 && !condition(); i++) yield* Effect.sleep("20 millis")
    return condition()
  })

const simulatedNodes = (count: number, first = 0) =>
  Effect.forEach(
    Array.from({ length: count }, (_, index) => first + index),
    (index) => {
      const identity = SimulatedNode.fleetIdentity(index)
      return NodeNcp.make(SimulatedNode.makeHandler(identity), {
        host: HOST,
        port: 0,
        hello: SimulatedNode.helloOf(identity),
        shutdownGrace: 0
      })
    }
  )

it.live(
  "over TCP: every node answers with its own name; a removed node leaves no socket and no timer behind",
  () =>
    Effect.gen(function* () {
      const lastScope = yield* Scope.make()
      const servers = [...(yield* simulatedNodes(2)), ...(yield* simulatedNodes(1, 2).pipe(Scope.provide(lastScope)))]
      // baseline: the servers' listening sockets, no client yet
      const socketsBefore = handles("TCPSocketWrap")
      const timersBefore = handles("Timeout")
      const fleetScope = yield* Scope.make()
      const fleet = yield* Fleet.make({
        nodes: servers.map((server) => ({ host: HOST, port: server.port })),
        // a node that goes away is tried again every 50 ms: timers that must stop with its removal
        defaults: { schedule: Schedule.spaced("50 millis") }
      }).pipe(Effect.provide(NodeTransport.layer), Scope.provide(fleetScope))
      const results = yield* Effect.provideService(Fleet.callAll(SimulatedNode.Status), Fleet.Fleet, fleet)
      expect(results.map(({ result }) => Result.getOrUndefined(result)?.SEID)).toEqual([
        "simulated-0000",
        "simulated-0001",
        "simulated-0002"
      ])
      // three connections: a client end and a server end each
      expect(handles("TCPSocketWrap")).toBe(socketsBefore + 6)
      const timersOpen = handles("Timeout")

      // one node goes away: its client retries every 50 ms (a timer) until it is removed
      const keys = servers.map((server) => Fleet.nodeKey({ host: HOST, port: server.port }))
      yield* Scope.close(lastScope, Exit.void)
      const backingOff = yield* fleet.changes.pipe(
        Stream.filter((state) => state.node === keys[2] && state.link === "BackingOff"),
        Stream.runHead
      )
      expect(backingOff._tag).toBe("Some")
      for (const key of keys) assert(yield* fleet.remove(key))
      // no connection left (listening sockets are TCPServerWrap, not counted here)
      expect(yield* eventually(() => handles("TCPSocketWrap") === socketsBefore)).toBe(true)
      expect(yield* eventually(() => handles("Timeout") <= timersBefore)).toBe(true)
      expect(timersOpen).toBeGreaterThan(timersBefore)
      expect(yield* fleet.state).toEqual([])
      yield* Scope.close(fleetScope, Exit.void)
    }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error")),
  30_000
)

it.live(
  "over TCP: a merged stream of sweeps from every node, each node its own carriers",
  () =>
    Effect.gen(function* () {
      const servers = yield* simulatedNodes(4)
      const fleet = yield* Fleet.make({ nodes: servers.map((server) => ({ host: HOST, port: server.port })) }).pipe(
        Effect.provide(NodeTransport.layer)
      )
      const replies = yield* Fleet.stream(
        SimulatedNode.Sweep,
        { FSTA: 400, FSTP: 500, BINS: 512, REPT: 3 },
        { replies: 3 }
      ).pipe(Stream.runCollect, Effect.provideService(Fleet.Fleet, fleet))
      expect(replies).toHaveLength(12)
      const first = new Map<string, string>()
      for (const { node, result } of replies) {
        assert(Result.isSuccess(result))
        if (!first.has(node)) first.set(node, result.success.PDAT.join())
      }
      expect(new Set(first.values()).size).toBe(4)
    }).pipe(Effect.scoped, Effect.provideService(References.MinimumLogLevel, "Error")),
  30_000
)
