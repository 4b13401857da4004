// Plain JavaScript, no build step: encode and decode a packet with @effect-ncp/core, then one
// request to a node with @effect-ncp/node. The node's address is the first argument, e.g. an echo
// server started with `npx ncp serve --echo --port 9999`:
//
//   node app.mjs 127.0.0.1:9999
import assert from "node:assert/strict"
import { Decoder, Encoder, Field } from "@effect-ncp/core"
import { NodeNcp } from "@effect-ncp/node"
import * as Effect from "effect/Effect"

const [host = "127.0.0.1", port = "9999"] = (process.argv[2] ?? "").split(":")

const bytes = Encoder.encodePacketOrThrow({
  type: "DSPC",
  fields: [{ name: "SWEP", id: 1, params: { FSTA: 400, FSTP: 500, NAME: "consumer" } }]
})
const { packet } = Decoder.decodePacketOrThrow(bytes)
assert.equal(packet.type, "DSPC")
assert.deepEqual(Field.toRecord(packet.fields[0]), { FSTA: 400, FSTP: 500, NAME: "consumer" })
console.log(`encoded and decoded a ${bytes.length}-byte packet`)

const reply = await Effect.runPromise(
  Effect.gen(function* () {
    const connection = yield* NodeNcp.connect({ host, port: Number(port), timeout: 10 })
    return yield* connection.request("ECHO", "TEST", { X: 7, NAME: "consumer" })
  }).pipe(Effect.scoped)
)
assert.deepEqual(Field.toRecord(reply), { X: 7, NAME: "consumer" })
console.log(`${host}:${port} answered ECHO TEST with ${JSON.stringify(Field.toRecord(reply))}`)
