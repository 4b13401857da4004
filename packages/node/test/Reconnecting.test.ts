import { expect, it } from "@effect/vitest"
import { Client, type Connection, Field } from "@effect-ncp/core"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { failureOf } from "../../core/test/util.js"
import { NodeNcp } from "../src/index.js"
import { HOST } from "./harness.js"

const echo = (connection: Connection.Connection) =>
  connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params)))

it.live("a NodeNcp server stopped and started again on the same port: the client comes back with it", () =>
  Effect.gen(function* () {
    const first = yield* Scope.make()
    const { port } = yield* NodeNcp.make(echo, { host: HOST, port: 0 }).pipe(Scope.provide(first))
    const context = yield* Layer.build(
      NodeNcp.layerClientReconnecting({
        host: HOST,
        port,
        timeout: "30 seconds",
        schedule: Schedule.spaced("20 millis")
      })
    )
    const client = Context.get(context, Client.NcpClient)
    const link = Context.get(context, Client.NcpClientState)
    const reached = (tag: Connection.ClientState["_tag"]) =>
      link.changes.pipe(
        Stream.filter((state) => state._tag === tag),
        Stream.runHead
      )
    expect(Field.get(yield* client.request("DSPC", "ECHO", { N: 1 }), "N")).toBe(1)

    yield* Scope.close(first, Exit.void)
    yield* reached("BackingOff")
    const exit = yield* Effect.exit(client.request("DSPC", "ECHO", { N: 2 }))
    expect(failureOf(exit)).toMatchObject({ _tag: "NotConnected", remote: `${HOST}:${port}` })

    yield* NodeNcp.make(echo, { host: HOST, port })
    yield* reached("Open")
    expect(Field.get(yield* client.request("DSPC", "ECHO", { N: 3 }), "N")).toBe(3)
  })
)
