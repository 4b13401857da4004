/**
 * What each step of a connection's packet path costs on its own, in ns per packet, for the
 * round trip's packet (`DSPC ECHO {SEQN, FCTR}`, 76 bytes): framing, decoding, encoding, and
 * the metrics each side of a round trip records (with no exporter installed, what every
 * connection pays), the Effect primitives the path is built of (an op, a fiber suspended and
 * resumed through a callback or a Deferred, a Deferred made and awaited), and the event-loop
 * hops (a microtask, `process.nextTick`, `setImmediate`). One JSON line per step; each figure
 * the median of 7 rounds:
 *
 *   npm run bench:steps
 */

import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import { Telemetry } from "../src/connection/telemetry.js"
import { Decoder, Encoder, Framing } from "../src/index.js"

const { decodePacket } = Decoder
const { encodePacketOrThrow } = Encoder

const ROUNDS = 7
const N = 200_000

const i32 = (value: number) => ({ type: "i32" as const, value })
const packet = {
  type: "DSPC",
  id: 1,
  timestamp: { seconds: 1_700_000_000, nanos: 0 },
  fields: [
    {
      name: "ECHO",
      id: 7,
      params: [
        { name: "SEQN", value: i32(1) },
        { name: "FCTR", value: i32(2400) }
      ]
    }
  ]
}
const bytes = encodePacketOrThrow(packet)

const median = (values: Array<number>) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0

/** ns per iteration of `run(n)`, the median of the rounds, after one unmeasured round. */
const measure = async (step: string, run: (n: number) => unknown | Promise<unknown>, n = N) => {
  await run(n / 10)
  const rounds: Array<number> = []
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now()
    await run(n)
    rounds.push(((performance.now() - start) * 1e6) / n)
  }
  console.log(JSON.stringify({ step, ns_per_packet: Math.round(median(rounds)) }))
}

let sink = 0

await measure("framing: push a 76-byte chunk, take the packet", (n) => {
  const framer = new Framing.PacketFramer()
  for (let i = 0; i < n; i++) {
    framer.push(bytes)
    const next = framer.next()
    if (next instanceof Uint8Array) sink += next.length
  }
})
await measure("decode (2 i32 params)", (n) => {
  for (let i = 0; i < n; i++) {
    const decoded = decodePacket(bytes)
    if (Result.isSuccess(decoded)) sink += decoded.success.packet.fields.length
  }
})
await measure("encode (2 i32 params)", (n) => {
  for (let i = 0; i < n; i++) sink += encodePacketOrThrow(packet).length
})
// The metrics of one round trip, as the connection records them: the client counts the bytes
// it sent, the command, the reply's outcome and duration, and the bytes it received; the server
// the bytes in, the command handled and the bytes out. Spans are made only with a tracer.
const client = new Telemetry(Context.empty(), "client")
const server = new Telemetry(Context.empty(), "server")
await measure("metrics of a round trip, client side (no exporter)", (n) => {
  for (let i = 0; i < n; i++) {
    client.sent(76)
    client.commandSent("DSPC", "ECHO")
    client.received(76)
    client.reply("DSPC", "ECHO", "ok", undefined, 0.00005)
  }
})
await measure("metrics of a round trip, server side (no exporter)", (n) => {
  for (let i = 0; i < n; i++) {
    server.received(76)
    server.commandHandled("DSPC", "ECHO")
    server.sent(76)
  }
})
await measure("Effect op (Effect.sync in a generator)", (n) =>
  Effect.runPromise(
    Effect.gen(function* () {
      const op = Effect.sync(() => sink++)
      for (let i = 0; i < n; i++) yield* op
    })
  )
)
await measure("fiber suspended and resumed by a callback", async (n) => {
  let resume: ((effect: Effect.Effect<void>) => void) | undefined
  const fiber = Effect.runFork(
    Effect.gen(function* () {
      for (let i = 0; i < n; i++)
        yield* Effect.callback<void>((r) => {
          resume = r
        })
    })
  )
  for (let i = 0; i < n; i++) resume?.(Effect.void)
  await Effect.runPromise(Fiber.join(fiber))
})
await measure("Deferred made, awaited, completed from outside", async (n) => {
  let deferred = Deferred.makeUnsafe<void>()
  const fiber = Effect.runFork(
    Effect.gen(function* () {
      for (let i = 0; i < n; i++) {
        deferred = Deferred.makeUnsafe<void>()
        yield* Deferred.await(deferred)
      }
    })
  )
  for (let i = 0; i < n; i++) Deferred.doneUnsafe(deferred, Effect.void)
  await Effect.runPromise(Fiber.join(fiber))
})
await measure("microtask hop", async (n) => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => queueMicrotask(resolve))
})
await measure("process.nextTick hop", async (n) => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => process.nextTick(resolve))
})
await measure(
  "setImmediate hop (a turn of the event loop)",
  async (n) => {
    for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve))
  },
  N / 10
)
if (sink === -1) console.log(sink)
