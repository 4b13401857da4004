/**
 * The in-memory test kit: a real client and a real server (the simulated node, or a handler the
 * test passes) over MemorySockets, under `TestClock`, as users' tests get them from
 * `@effect-ncp/core/testing`.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import {
  Client,
  CommandClient,
  CommandRouter,
  type Connection,
  Field,
  NcpCommand,
  Value,
  WireSchema
} from "../src/index.js"
import { NcpTest, SimulatedNode } from "../src/testing.js"
import { failureOf } from "./util.js"

const Add = NcpCommand.make("CALC", "ADD", {
  params: { A: WireSchema.i32, B: WireSchema.i32 },
  reply: { SUM: WireSchema.i32 }
})

const calculator = CommandRouter.toHandler(
  CommandRouter.make(CommandRouter.route(Add, ({ A, B }) => Effect.succeed({ SUM: A + B })))
)

describe("NcpTest.layerClient, the simulated node by default", () => {
  it.effect("a typed request gets the simulated node's answer", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      const sweep = yield* CommandClient.call(node, SimulatedNode.Sweep, { FSTA: 400, FSTP: 500, BINS: 100 })
      expect([sweep.FSTA, sweep.FSTP, sweep.BINS]).toEqual([400, 500, 100])
      expect(sweep.PDAT.length).toBe(100)
      const error = yield* Effect.flip(node.request("DSPC", "NOPE"))
      assert(error._tag === "CommandError")
      expect([error.detail, error.code]).toEqual(["Unknown command", 400])
    }).pipe(Effect.provide(NcpTest.layerClient()))
  )

  it.effect("the handshake agrees the client's default timeout, 60 s, with the remote named memory:9999", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      expect(node.timeout).toBe(60)
      expect(node.remoteHostname).toBe("memory:9999")
    }).pipe(Effect.provide(NcpTest.layerClient()))
  )

  it.effect("an idle connection lives on through keep-alives driven by TestClock; the node's uptime follows it", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      // 10 minutes: well past the 60 s timeout, which only keep-alives (every 39 s) stave off
      yield* TestClock.adjust("10 minutes")
      const status = yield* CommandClient.call(node, SimulatedNode.Status)
      expect(status.UPTM).toBe(600)
    }).pipe(Effect.provide(NcpTest.layerClient()))
  )

  it.effect("a repeating sweep delivers one reply every 100 ms of TestClock", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      const replies: Array<number> = []
      const first = yield* Deferred.make<void>()
      const fiber = yield* CommandClient.stream(node, SimulatedNode.Sweep, { FSTA: 1, FSTP: 2, BINS: 8, REPT: 0 }).pipe(
        Stream.take(5),
        Stream.runForEach(() =>
          Effect.andThen(
            Effect.sync(() => replies.push(replies.length)),
            Deferred.succeed(first, undefined)
          )
        ),
        Effect.forkChild
      )
      // the first reply comes at once; the next ones only as the clock moves
      yield* Deferred.await(first)
      expect(replies.length).toBeLessThanOrEqual(1)
      yield* TestClock.adjust("250 millis")
      expect(replies.length).toBe(3)
      yield* TestClock.adjust("200 millis")
      yield* Fiber.join(fiber)
      expect(replies.length).toBe(5)
    }).pipe(Effect.provide(NcpTest.layerClient()))
  )
})

describe("NcpTest: a node that goes quiet or away", () => {
  it.effect("a silent node is a NetworkTimeout after the agreed timeout, not before", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      const server = yield* NcpTest.TestServer
      yield* server.silence
      const request = yield* Effect.forkChild(CommandClient.call(node, SimulatedNode.Status))
      yield* TestClock.adjust("59 seconds")
      expect(request.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      const error = failureOf(yield* Fiber.await(request))
      expect(error).toMatchObject({ _tag: "NetworkTimeout", seconds: 60, during: "waiting for the next packet" })
    }).pipe(Effect.provide(NcpTest.layerClient()))
  )

  it.effect("a connection opened while the node is silent times out in its handshake", () =>
    Effect.gen(function* () {
      const server = yield* NcpTest.make()
      yield* server.silence
      const connecting = yield* Effect.forkChild(server.connect({ timeout: "10 seconds" }))
      yield* TestClock.adjust("9 seconds")
      expect(connecting.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect(failureOf(yield* Fiber.await(connecting))).toMatchObject({ _tag: "NetworkTimeout", seconds: 10 })
      yield* server.resume
      expect((yield* CommandClient.call(yield* server.connect(), SimulatedNode.Status)).STAT).toBe("OK")
    }).pipe(Effect.scoped)
  )

  it.effect("a node silent for less than the timeout answers once it resumes", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      const server = yield* NcpTest.TestServer
      yield* server.silence
      const request = yield* Effect.forkChild(CommandClient.call(node, SimulatedNode.Status))
      yield* TestClock.adjust("30 seconds")
      expect(request.pollUnsafe()).toBeUndefined()
      yield* server.resume
      const status = yield* Fiber.join(request)
      expect(status.STAT).toBe("OK")
      // the connection carries on
      yield* TestClock.adjust("5 minutes")
      expect((yield* CommandClient.call(node, SimulatedNode.Status)).UPTM).toBe(330)
    }).pipe(Effect.provide(NcpTest.layerClient()))
  )

  it.effect("a request deadline passes with TestClock and leaves the connection open", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      const request = yield* Effect.forkChild(node.request("NONE", "EVER"))
      yield* TestClock.adjust("4 seconds")
      expect(request.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 second")
      expect(failureOf(yield* Fiber.await(request))).toMatchObject({ _tag: "NetworkTimeout", command: "NONE EVER" })
      expect(yield* CommandClient.call(node, Add, { A: 1, B: 2 })).toEqual({ SUM: 3 })
    }).pipe(
      Effect.provide(
        NcpTest.layerClient({
          // answers CALC ADD, and never anything else
          handler: CommandRouter.toHandler(
            CommandRouter.make(CommandRouter.route(Add, ({ A, B }) => Effect.succeed({ SUM: A + B }))),
            { fallback: () => Effect.never }
          ),
          client: { requestTimeout: "5 seconds" }
        })
      )
    )
  )

  it.effect("a reset drops the connection; a reconnecting client comes back on TestClock", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      const link = yield* Client.NcpClientState
      const server = yield* NcpTest.TestServer
      expect((yield* link.state)._tag).toBe("Open")
      yield* server.reset
      const next = yield* link.changes.pipe(
        Stream.filter((state) => state._tag !== "Open"),
        Stream.runHead
      )
      expect(next).toMatchObject({ _tag: "Some", value: { _tag: "BackingOff", lastError: { _tag: "NetworkError" } } })
      const error = yield* Effect.flip(CommandClient.call(node, SimulatedNode.Status))
      expect(error._tag).toBe("NotConnected")
      // the first delay is 500 ms, jittered to at most 600 ms
      yield* TestClock.adjust("1 second")
      expect((yield* link.state)._tag).toBe("Open")
      expect((yield* CommandClient.call(node, SimulatedNode.Status)).STAT).toBe("OK")
    }).pipe(
      Effect.provide(
        Client.NcpClient.layerReconnecting({ host: "node" }).pipe(Layer.provideMerge(NcpTest.layerServer()))
      )
    )
  )
})

describe("NcpTest with a handler of the test's own", () => {
  it.effect("a CommandRouter answers typed calls", () =>
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      expect(yield* CommandClient.call(node, Add, { A: 2, B: 40 })).toEqual({ SUM: 42 })
      // params its Schema refuses never leave the client
      const error = yield* Effect.flip(CommandClient.call(node, Add, { A: 2 ** 31, B: 0 }))
      expect(error).toMatchObject({ _tag: "InvalidParams", param: "A" })
    }).pipe(Effect.provide(NcpTest.layerClient({ handler: calculator })))
  )

  it.effect("a plain field handler sees what the client sends and answers it", () =>
    Effect.gen(function* () {
      const received: Array<Connection.IncomingField> = []
      const echo = (connection: Connection.Connection) =>
        connection.fields.pipe(
          Stream.runForEach((field) => {
            received.push(field)
            return field.reply(field.params)
          })
        )
      const connection = yield* NcpTest.connect({ handler: echo })
      const reply = yield* connection.request("ECHO", "TEST", { X: Value.f32(1.5), NAME: "kit" })
      expect(Field.toRecord(reply)).toEqual({ X: 1.5, NAME: "kit" })
      expect(received.map((field) => [field.packetType, field.name])).toEqual([["ECHO", "TEST"]])
    }).pipe(Effect.scoped)
  )

  it.effect("several clients of one server, each with options of its own", () =>
    Effect.gen(function* () {
      const server = yield* NcpTest.make({ handler: calculator, client: { timeout: "20 seconds" } })
      const first = yield* server.connect()
      const second = yield* server.connect({ timeout: "10 seconds" })
      expect([first.timeout, second.timeout]).toEqual([20, 10])
      const sums = yield* Effect.all([
        CommandClient.call(first, Add, { A: 1, B: 1 }),
        CommandClient.call(second, Add, { A: 2, B: 2 })
      ])
      expect(sums).toEqual([{ SUM: 2 }, { SUM: 4 }])
    }).pipe(Effect.scoped)
  )

  it.effect("releasing the layer does not wait for a handler that never ends", () =>
    Effect.gen(function* () {
      const received = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const never = (connection: Connection.Connection) =>
        Effect.andThen(connection.recv, Deferred.succeed(received, undefined)).pipe(
          Effect.andThen(Effect.never),
          Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
        )
      const start = yield* Clock.currentTimeMillis
      yield* Effect.gen(function* () {
        const node = yield* Client.NcpClient
        yield* Effect.scoped(node.send("DSPC", "NOOP"))
        yield* Deferred.await(received)
      }).pipe(Effect.provide(NcpTest.layerClient({ handler: never })))
      // released without the clock moving (under TestClock, a wait for a grace period would
      // never end), the handler stopped
      expect(yield* Deferred.isDone(interrupted)).toBe(true)
      expect(yield* Clock.currentTimeMillis).toBe(start)
    })
  )

  it.effect("a server with authenticate takes the client's credentials through the tunnel", () =>
    Effect.gen(function* () {
      const server = yield* NcpTest.make({
        server: {
          authenticate: ({ username, password }) =>
            Effect.succeed(username === "admin" && Redacted.value(password) === "pw")
        }
      })
      const connection = yield* server.connect({ username: "admin", password: "pw" })
      expect((yield* CommandClient.call(connection, SimulatedNode.Status)).STAT).toBe("OK")
      const refused = yield* Effect.flip(server.connect({ username: "admin", password: "wrong" }))
      expect(refused._tag).toBe("AuthenticationError")
    }).pipe(Effect.scoped)
  )
})
