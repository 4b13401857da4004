import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import { Client, type Connection, type ConnectionError, Server, Transport } from "../src/index.js"
import * as MemorySocket from "../src/MemorySocket.js"

/**
 * A client connected to a real `Server` running `handler` over an in-memory socket pair: the
 * whole protocol (handshake included) with no network, under the test's Clock. Both ends
 * live in the current scope.
 */
export const connectTo = <E>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E>,
  clientOptions: Partial<Client.ClientOptions> = {},
  serverOptions: Server.ServerOptions = {}
): Effect.Effect<Connection.Connection, ConnectionError, Scope.Scope> =>
  Effect.gen(function* () {
    const [client, server] = yield* MemorySocket.pair()
    yield* Effect.forkScoped(Server.handleSocket(server, handler, serverOptions))
    const transport = Layer.succeed(Transport.Transport)({
      connect: () => Effect.succeed(client),
      hostname: "test-host",
      username: "test-user"
    })
    return yield* Client.connect({ host: "node", timeout: 30, ...clientOptions }).pipe(Effect.provide(transport))
  })

/** Yields until `done()` holds, at most `turns` times; the caller asserts on the state afterwards. */
export const settle = (done: () => boolean, turns = 1000): Effect.Effect<void> =>
  Effect.suspend(() => (done() || turns <= 0 ? Effect.void : Effect.andThen(Effect.yieldNow, settle(done, turns - 1))))
