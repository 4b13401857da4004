/**
 * An NCP server of your own: `Server.serve` runs a handler for every connection after the
 * LINK handshake; the handler reads `connection.fields` and answers with `field.reply`. This
 * one answers `CALC ADD` with the sum of `A` and `B`, and anything else with an error reply.
 * A client then talks to it, and a `CommandError` shows how error replies arrive.
 *
 *   npx tsx examples/server.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Client, type Connection, Field, Server } from "@effect-ncp/core"
import { NcpSocketServer, NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as SocketServer from "effect/socket/SocketServer"

const handler = (connection: Connection.Connection) =>
  connection.fields.pipe(
    Stream.runForEach((field) => {
      if (field.packetType === "CALC" && field.name === "ADD") {
        const a = Field.get(field, "A")
        const b = Field.get(field, "B")
        if (typeof a === "number" && typeof b === "number") return field.reply({ SUM: a + b })
      }
      return field.reply({ ERRO: "Unknown command", ERRC: 400 })
    })
  )

const program = Effect.gen(function* () {
  const server = yield* NcpSocketServer.make({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(
    Server.serve(handler, { hello: { NCPV: "calculator 1.0" } }).pipe(
      Effect.provideService(SocketServer.SocketServer, server)
    )
  )
  yield* Console.log(`serving on ${NcpSocketServer.formatAddress(server.address)}`)

  const connection = yield* Client.connect({ host: "127.0.0.1", port: NcpSocketServer.port(server.address) })
  const sum = yield* connection.request("CALC", "ADD", { A: 20, B: 22 })
  yield* Console.log(`CALC ADD A=20 B=22 -> SUM=${Field.get(sum, "SUM")}`)
  const refused = yield* connection.request("CALC", "DIV", { A: 1, B: 0 }).pipe(Effect.flip)
  yield* Console.log(`CALC DIV -> ${refused._tag}: ${refused.message}`)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

NodeRuntime.runMain(program)
