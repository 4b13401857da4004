/**
 * Testing code that talks NCP, with `@effect/vitest`: a property test of a command of the
 * application's own, and a test of a backend service against the simulated node in memory,
 * under `TestClock`. No network, no real time: `npx vitest run examples/testing.test.ts`.
 */

import { assert, describe, expect, it } from "@effect/vitest"
import { Client, CommandClient, CommandRouter, Decoder, Encoder, NcpCommand, WireSchema } from "@effect-ncp/core"
import { NcpTest } from "@effect-ncp/core/testing"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import { TestClock } from "effect/testing"

// The application's code (in a real project, imported from its own modules) ----------------

/** A command of the application's own: tune a receiver; the node answers with what it set. */
const Tune = NcpCommand.make("RXCT", "TUNE", {
  params: {
    FREQ: WireSchema.f64.check(Schema.isBetween({ minimum: 9e3, maximum: 18e9 })), // Hz
    GAIN: WireSchema.f32,
    CHAN: Schema.optionalKey(WireSchema.u32),
    NAME: WireSchema.string
  },
  reply: { FREQ: WireSchema.f64, CHAN: WireSchema.u32 }
})

/** The node's side of it, as the application's own server (or a fake node) answers it. */
const receiver = CommandRouter.make(
  CommandRouter.route(Tune, ({ FREQ, CHAN }) => Effect.succeed({ FREQ, CHAN: CHAN ?? 0 }))
)

/** The node's status, as the application describes it (a node sends more; the rest is ignored). */
const Status = NcpCommand.make("STAT", "STAT", { reply: { STAT: WireSchema.string, UPTM: WireSchema.u32 } })

/** A backend service on the `NcpClient` in context: is the node up, and for how long? */
class NodeHealth extends Context.Service<
  NodeHealth,
  { readonly check: Effect.Effect<{ readonly up: boolean; readonly uptimeSeconds?: number }> }
>()("app/NodeHealth") {
  static readonly layer = Layer.effect(
    NodeHealth,
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      const check = CommandClient.call(node, Status, {}, { timeout: "10 seconds" }).pipe(
        Effect.map((status) => ({ up: status.STAT === "OK", uptimeSeconds: status.UPTM })),
        Effect.catch(() => Effect.succeed({ up: false }))
      )
      return NodeHealth.of({ check })
    })
  )
  // In production: NodeHealth.layer.pipe(Layer.provide(NodeNcp.layerClient({ host: "rfeye000123.local" })))
}

// The tests ---------------------------------------------------------------------------------

describe("Tune", () => {
  // The params Schema generates every case: any f32, any string without NUL, CHAN present or
  // not, FREQ within its check.
  it.prop("its params cross the wire unchanged", [Tune.params], ([params]) => {
    const bytes = Encoder.encodePacketOrThrow({
      type: "RXCT",
      fields: [{ name: "TUNE", id: 1, params: Result.getOrThrow(NcpCommand.encodeParams(Tune, params)) }]
    })
    const [field] = Decoder.decodePacketOrThrow(bytes).packet.fields
    assert(field !== undefined)
    expect(Result.getOrThrow(NcpCommand.decodeParams(Tune, field))).toEqual(params)
  })

  it.effect.prop(
    "a node running the router answers with the frequency and channel it was sent",
    { params: Tune.params },
    ({ params }) =>
      Effect.gen(function* () {
        const connection = yield* NcpTest.connect({ handler: CommandRouter.toHandler(receiver) })
        const reply = yield* CommandClient.call(connection, Tune, params)
        expect(reply).toEqual({ FREQ: params.FREQ, CHAN: params.CHAN ?? 0 })
      }).pipe(Effect.scoped),
    { arbitrary: { runs: 50 } }
  )
})

describe("NodeHealth, against the simulated node", () => {
  // The service, on a client of a fresh simulated node in memory (and that node, NcpTest.TestServer).
  const TestNodeHealth = NodeHealth.layer.pipe(Layer.provideMerge(NcpTest.layerClient()))

  it.effect("reports the node up, with its uptime on the test clock", () =>
    Effect.gen(function* () {
      const health = yield* NodeHealth
      // Ten minutes pass at once; the client and the node keep the link alive meanwhile.
      yield* TestClock.adjust("10 minutes")
      expect(yield* health.check).toEqual({ up: true, uptimeSeconds: 600 })
    }).pipe(Effect.provide(TestNodeHealth))
  )

  it.effect("reports a node that stops answering as down, after the 10 s deadline", () =>
    Effect.gen(function* () {
      const health = yield* NodeHealth
      const node = yield* NcpTest.TestServer
      yield* node.silence
      const checking = yield* Effect.forkChild(health.check)
      yield* TestClock.adjust("9 seconds")
      expect(checking.pollUnsafe()).toBeUndefined() // still waiting
      yield* TestClock.adjust("1 second")
      expect(yield* Fiber.join(checking)).toEqual({ up: false })
    }).pipe(Effect.provide(TestNodeHealth))
  )
})
