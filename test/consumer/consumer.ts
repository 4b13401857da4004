/**
 * A TypeScript program on effect-ncp's main API, type-checked under the strictest compiler
 * options (tsconfig.json with `moduleResolution: "nodenext"`, tsconfig.bundler.json with
 * `"bundler"`) and run: a server with its own handler, a client as a Layer, a request, a reply
 * decoded with a Schema, and the simulated node and in-memory sockets of the testing entry point.
 *
 *   npx tsc -p tsconfig.json && node dist/consumer.js
 */
import { Client, type Connection, type ConnectionError, Field, SweepLevel, Value } from "@effect-ncp/core"
import { MemorySocket, SimulatedNode } from "@effect-ncp/core/testing"
import { NodeNcp } from "@effect-ncp/node"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"

/** A server's handler: answers `CALC ADD` with the sum of `A` and `B`. */
const calculator = (connection: Connection.Connection) =>
  connection.fields.pipe(
    Stream.runForEach((field) => {
      const a = Field.get(field, "A")
      const b = Field.get(field, "B")
      return typeof a === "number" && typeof b === "number"
        ? field.reply({ A: a, B: b, SUM: Value.f64(a + b), NOTE: "added" })
        : field.reply({ ERRO: "A and B must be numbers", ERRC: 400 })
    })
  )

/** The reply, as the program reads it. */
const Sum = Schema.Struct({ SUM: Schema.Number, NOTE: Schema.String })

/** A service of the program's own that asks the node through the `NcpClient` in context. */
const add = (a: number, b: number) =>
  Effect.gen(function* () {
    const node = yield* Client.NcpClient
    const reply = yield* node.request("CALC", "ADD", { A: a, B: b })
    return yield* Field.decodeParams(Sum)(reply)
  })

const calculatorRoundTrip = Effect.gen(function* () {
  const server = yield* NodeNcp.make(calculator, { host: "127.0.0.1", port: 0 })
  const client: Layer.Layer<Client.NcpClient, ConnectionError.ConnectionError> = NodeNcp.layerClient({
    host: "127.0.0.1",
    port: server.port,
    timeout: "10 seconds"
  })
  const { SUM, NOTE } = yield* add(2, 3.5).pipe(Effect.provide(client))
  if (SUM !== 5.5 || NOTE !== "added") return yield* Effect.die(`unexpected reply: ${SUM} ${NOTE}`)
  return SUM
})

const simulatedSweep = Effect.gen(function* () {
  const node = yield* NodeNcp.make(SimulatedNode.handler, { host: "127.0.0.1", port: 0, hello: SimulatedNode.hello })
  const connection = yield* NodeNcp.connect({ host: "127.0.0.1", port: node.port, timeout: "10 seconds" })
  const sweep = yield* connection.request("DSPC", "SWEP", { FSTA: 88, FSTP: 108, BINS: 16 })
  const levels = Field.get(sweep, "PDAT")
  if (!(levels instanceof Uint8Array)) return yield* Effect.die("the sweep has no PDAT")
  const first = levels[0]
  return first === undefined ? [] : [SweepLevel.toDbm(first)]
})

const inMemory = Effect.gen(function* () {
  const [left, right] = yield* MemorySocket.pair()
  const writer = yield* left.writer
  const reader = yield* right.reader
  yield* writer.write(new Uint8Array([1, 2, 3]))
  const chunks = yield* reader.pull
  return chunks.reduce((total, chunk) => total + chunk.length, 0)
})

const program = Effect.gen(function* () {
  const sum = yield* calculatorRoundTrip
  const dbm = yield* simulatedSweep
  const bytes = yield* inMemory
  yield* Effect.sync(() => console.log(`sum ${sum}, first sweep level ${dbm.join(" ")} dBm, ${bytes} bytes in memory`))
}).pipe(Effect.scoped)

await Effect.runPromise(program)
