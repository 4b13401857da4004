/**
 * What ncplib 6.1 has and the Effect API now has too: f32 floats on request, the connection a
 * field came in on, warnings a program can react to, the remote's address and port.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { type Connection, ConnectionError, Field, NcpError } from "../src/index.js"
import { NcpTest } from "../src/testing.js"
import { must } from "./util.js"

/** Answers every field with the wire types of its params, and the field itself to the test. */
const typesOf = (seen: Deferred.Deferred<Connection.IncomingField>) => (connection: Connection.Connection) =>
  connection.fields.pipe(
    Stream.runForEach((field) =>
      Effect.andThen(
        Deferred.succeed(seen, field),
        field.reply(Object.fromEntries(field.params.map((param) => [param.name, param.value.type])))
      )
    )
  )

describe("floats", () => {
  for (const [floats, expected] of [
    [undefined, "f64"],
    ["f64", "f64"],
    ["f32", "f32"]
  ] as const) {
    it.effect(
      `a number that is no integer goes out as ${expected} with floats ${floats ?? "unset"}; integers stay i32`,
      () =>
        Effect.gen(function* () {
          const seen = yield* Deferred.make<Connection.IncomingField>()
          const connection = yield* NcpTest.connect({ handler: typesOf(seen), client: { floats } })
          const reply = yield* connection.request("DSPC", "GAIN", { GAIN: 0.1, BINS: 7 })
          expect(Field.toRecord(reply)).toEqual({ GAIN: expected, BINS: "i32" })
        }).pipe(Effect.scoped)
    )
  }
})

describe("fields and their connection", () => {
  it.effect("a field knows the connection it came in on, so a handler can answer on it later", () =>
    Effect.gen(function* () {
      const seen = yield* Deferred.make<Connection.IncomingField>()
      const client = yield* NcpTest.connect({ handler: typesOf(seen) })
      yield* client.request("DSPC", "PING", { N: 1 })
      const field = yield* Deferred.await(seen)
      // the server's own connection: it can send a command of its own on it
      const answered = yield* Effect.forkChild(client.recv)
      yield* field.connection.send("DSPC", "NOTE", { N: 2 }).pipe(Effect.scoped)
      const note = yield* Fiber.join(answered)
      expect([note.packetType, note.name, Field.get(note, "N")]).toEqual(["DSPC", "NOTE", 2])
    }).pipe(Effect.scoped)
  )

  it.effect("remoteAddress and remotePort: the node's for a client", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({ client: { host: "node", port: 1234 } })
      expect([connection.remoteAddress, connection.remotePort]).toEqual(["node", 1234])
    }).pipe(Effect.scoped)
  )
})

describe("warnings", () => {
  it.effect(
    "a node's warning reply is published on connection.warnings as a CommandWarning, and the reply still arrives",
    () =>
      Effect.gen(function* () {
        const connection = yield* NcpTest.connect({
          handler: (server) =>
            server.fields.pipe(Stream.runForEach((field) => field.reply({ WARN: "clipping", WARC: 7, LEVL: -20 })))
        })
        const warned = yield* Effect.forkChild(Stream.runHead(connection.warnings))
        // let the subscriber subscribe before the warning comes
        yield* Effect.yieldNow
        const reply = yield* connection.request("DSPC", "SWEP")
        expect(Field.get(reply, "LEVL")).toBe(-20)
        const head = yield* Fiber.join(warned)
        const warning = must(head._tag === "Some" ? head.value : undefined, "warning")
        expect(warning).toBeInstanceOf(ConnectionError.CommandWarning)
        expect(warning).toBeInstanceOf(NcpError.NcpError)
        expect(warning).toMatchObject({ packetType: "DSPC", fieldName: "SWEP", detail: "clipping", code: 7 })
      }).pipe(Effect.scoped)
  )
})
