/**
 * An NCP server of your own: describe the commands once (`NcpCommand.make`, with Schemas of
 * their params and replies), answer them with typed handlers (`CommandRouter`), and serve the
 * router like any handler with `Server.serve`. This one answers `CALC ADD` with the sum of `A`
 * and `B` and `CALC DIV` with the quotient, refusing a division by zero with an error reply;
 * anything else gets `ERRO="Unknown command"`. A client then calls them with the same
 * descriptions, and shows how error replies and bad params arrive.
 *
 *   npx tsx examples/server.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Client, CommandClient, CommandRouter, NcpCommand, Server, WireSchema } from "@effect-ncp/core"
import { NodeListener, NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as SocketServer from "effect/socket/SocketServer"

// The commands, described once for both ends.
const Add = NcpCommand.make("CALC", "ADD", {
  params: { A: WireSchema.i32, B: WireSchema.i32 },
  reply: { SUM: WireSchema.i32 }
})
const Divide = NcpCommand.make("CALC", "DIV", {
  params: { A: WireSchema.f64, B: WireSchema.f64 },
  reply: { QUOT: WireSchema.f64 }
})

const calculator = CommandRouter.make(
  CommandRouter.route(Add, ({ A, B }) => Effect.succeed({ SUM: A + B })),
  CommandRouter.route(Divide, ({ A, B }) =>
    B === 0
      ? Effect.fail(new CommandRouter.ErrorReply({ detail: "division by zero", code: 400 }))
      : Effect.succeed({ QUOT: A / B })
  )
)

const program = Effect.gen(function* () {
  const server = yield* NodeListener.make({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(
    Server.serve(CommandRouter.toHandler(calculator), { hello: { NCPV: "calculator 1.0" } }).pipe(
      Effect.provideService(SocketServer.SocketServer, server)
    )
  )
  yield* Console.log(`serving on ${NodeListener.formatAddress(server.address)}`)

  const connection = yield* Client.connect({ host: "127.0.0.1", port: NodeListener.port(server.address) })
  const { SUM } = yield* CommandClient.call(connection, Add, { A: 20, B: 22 })
  yield* Console.log(`CALC ADD A=20 B=22 -> SUM=${SUM}`)
  const refused = yield* CommandClient.call(connection, Divide, { A: 1, B: 0 }).pipe(Effect.flip)
  yield* Console.log(`CALC DIV A=1 B=0 -> ${refused._tag}: ${refused.message}`)
  // A value the wire type cannot hold never leaves the client.
  const invalid = yield* CommandClient.call(connection, Add, { A: 2 ** 31, B: 1 }).pipe(Effect.flip)
  yield* Console.log(`CALC ADD A=2^31 -> ${invalid._tag}: ${invalid.message}`)
  // The untyped API talks to the same server: bad params are answered naming the param.
  const untyped = yield* connection.request("CALC", "ADD", { A: "twenty", B: 22 }).pipe(Effect.flip)
  yield* Console.log(`CALC ADD A="twenty" (untyped) -> ${untyped._tag}: ${untyped.message}`)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

NodeRuntime.runMain(program)
