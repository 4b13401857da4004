import { assert, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { CommandClient, CommandRouter, type Connection, Field, NcpCommand, Value, WireSchema } from "../src/index.js"
import * as SimulatedNode from "../src/SimulatedNode.js"
import { NcpTest } from "../src/testing.js"
import { capturingLogger, type LogLine } from "./util.js"

/** Yields until `done()` holds, at most `turns` times; the test asserts on the state afterwards. */
const settle = (done: () => boolean, turns = 1000): Effect.Effect<void> =>
  Effect.suspend(() => (done() || turns <= 0 ? Effect.void : Effect.andThen(Effect.yieldNow, settle(done, turns - 1))))

// The server side of described commands, through a real Server and a real client.

const Add = NcpCommand.make("CALC", "ADD", {
  params: { A: WireSchema.i32, B: WireSchema.i32 },
  reply: { SUM: WireSchema.i32 }
})
const Divide = NcpCommand.make("CALC", "DIV", {
  params: { A: WireSchema.f64, B: WireSchema.f64 },
  reply: { Q: WireSchema.f64 }
})
const Count = NcpCommand.make("CALC", "CONT", {
  params: { N: WireSchema.i32 },
  reply: { I: WireSchema.i32 },
  stream: true
})

const calculator = CommandRouter.make(
  CommandRouter.route(Add, ({ A, B }) => Effect.succeed({ SUM: A + B })),
  CommandRouter.route(Divide, ({ A, B }) =>
    B === 0
      ? Effect.fail(new CommandRouter.ErrorReply({ detail: "division by zero", code: 422 }))
      : Effect.succeed({ Q: A / B })
  ),
  CommandRouter.route(Count, ({ N }) => Stream.range(1, N).pipe(Stream.map((I) => ({ I }))))
)

describe("CommandRouter", () => {
  it.effect("answers each described command with its handler's typed reply, or its Stream of replies", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({ handler: CommandRouter.toHandler(calculator) })
      expect(yield* CommandClient.call(connection, Add, { A: 20, B: 22 })).toEqual({ SUM: 42 })
      const counted = yield* CommandClient.stream(connection, Count, { N: 3 }).pipe(Stream.take(3), Stream.runCollect)
      expect(counted).toEqual([{ I: 1 }, { I: 2 }, { I: 3 }])
      // An untyped client gets the same wire types.
      const raw = yield* connection.request("CALC", "ADD", { A: 1, B: 2 })
      expect(Field.getValue(raw, "SUM")).toEqual(Value.i32(3))
    }).pipe(Effect.scoped)
  )

  it.effect("params that fail the Schema get ERRO naming the param and ERRC=400; the handler does not run", () =>
    Effect.gen(function* () {
      let ran = 0
      const router = CommandRouter.make(
        CommandRouter.route(Add, ({ A, B }) => Effect.sync(() => ({ SUM: A + B + 0 * ran++ })))
      )
      const connection = yield* NcpTest.connect({ handler: CommandRouter.toHandler(router) })
      const missing = yield* Effect.flip(connection.request("CALC", "ADD", { A: 1 }))
      assert(missing._tag === "CommandError")
      expect([missing.detail, missing.code]).toEqual(["param B: Missing key", 400])
      const wrongType = yield* Effect.flip(connection.request("CALC", "ADD", { A: 1, B: "two" }))
      assert(wrongType._tag === "CommandError")
      expect([wrongType.detail, wrongType.code]).toEqual(['param B: Expected a number, got string "two"', 400])
      const fraction = yield* Effect.flip(connection.request("CALC", "ADD", { A: 1.5, B: 2 }))
      assert(fraction._tag === "CommandError")
      expect(fraction.detail).toBe("param A: Expected an i32 (an integer from -2147483648 to 2147483647), got f64 1.5")
      expect(ran).toBe(0)
    }).pipe(Effect.scoped)
  )

  it.effect("a command no route describes gets ERRO=Unknown command, ERRC=400, as the simulated node answers", () =>
    Effect.gen(function* () {
      for (const handler of [CommandRouter.toHandler(calculator), SimulatedNode.handler]) {
        const connection = yield* NcpTest.connect({ handler })
        const error = yield* Effect.flip(connection.request("CALC", "MUL", { A: 1 }))
        assert(error._tag === "CommandError")
        expect([error.detail, error.code, error.packetType, error.fieldName]).toEqual([
          "Unknown command",
          400,
          "CALC",
          "MUL"
        ])
      }
    }).pipe(Effect.scoped)
  )

  it.effect(
    "composes with a plain field handler for the commands it does not describe; LINK fields go to neither",
    () =>
      Effect.gen(function* () {
        const seen: Array<string> = []
        const handler = CommandRouter.toHandler(calculator, {
          fallback: (field) => {
            seen.push(`${field.packetType} ${field.name}`)
            return field.name === "ECHO" ? field.reply(field.params) : CommandRouter.unknownCommand(field)
          }
        })
        const connection = yield* NcpTest.connect({ handler })
        yield* Effect.scoped(connection.send("LINK", "XTRA"))
        const echoed = yield* connection.request("CALC", "ECHO", { TEXT: "plain" })
        expect(Field.get(echoed, "TEXT")).toBe("plain")
        expect(yield* CommandClient.call(connection, Add, { A: 1, B: 1 })).toEqual({ SUM: 2 })
        const unknown = yield* Effect.flip(connection.request("CALC", "MUL"))
        assert(unknown._tag === "CommandError")
        expect(seen).toEqual(["CALC ECHO", "CALC MUL"])
      }).pipe(Effect.scoped)
  )

  it.effect("replies to the server's own commands go to their Response, not to the router", () =>
    Effect.gen(function* () {
      const seen: Array<string> = []
      const asked: Array<unknown> = []
      const handler = (connection: Connection.Connection) =>
        Effect.all(
          [
            CommandRouter.toHandler(calculator, {
              fallback: (field) => Effect.sync(() => seen.push(`${field.packetType} ${field.name}`))
            })(connection),
            connection
              .request("NODE", "PING")
              .pipe(Effect.flatMap((reply) => Effect.sync(() => asked.push(Field.get(reply, "PONG")))))
          ],
          { concurrency: "unbounded", discard: true }
        )
      const client = yield* NcpTest.connect({ handler })
      const ping = yield* client.recvField("NODE", "PING")
      yield* ping.reply({ PONG: 1 })
      expect(yield* CommandClient.call(client, Add, { A: 1, B: 2 })).toEqual({ SUM: 3 })
      expect(asked).toEqual([1])
      expect(seen).toEqual([])
    }).pipe(Effect.scoped)
  )

  it.effect("a handler failing with ErrorReply answers ERRO and ERRC, and the connection carries on", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({ handler: CommandRouter.toHandler(calculator) })
      const error = yield* Effect.flip(CommandClient.call(connection, Divide, { A: 1, B: 0 }))
      assert(error._tag === "CommandError")
      expect([error.detail, error.code]).toEqual(["division by zero", 422])
      expect(yield* CommandClient.call(connection, Divide, { A: 1, B: 4 })).toEqual({ Q: 0.25 })
    }).pipe(Effect.scoped)
  )

  it.effect("a handler's reply its own Schema refuses is logged and answered with ERRC=500 naming the param", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const broken = CommandRouter.make(CommandRouter.route(Add, () => Effect.succeed({ SUM: 2 ** 40 })))
      const connection = yield* NcpTest.connect({ handler: CommandRouter.toHandler(broken) })
      const error = yield* Effect.flip(CommandClient.call(connection, Add, { A: 1, B: 1 }))
      assert(error._tag === "CommandError")
      expect(error.code).toBe(500)
      expect(error.detail).toMatch(/^Server error: reply param SUM: .*got 1099511627776$/)
      expect(lines.filter((line) => line.annotations.ncp === "InvalidReply")).toMatchObject([
        { level: "Error", annotations: { packetType: "CALC", field: "ADD", param: "SUM" } }
      ])
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("acknowledge: ACKN as soon as the params decode, then the reply; none for bad params", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({
        handler: CommandRouter.toHandler(calculator, { acknowledge: true }),
        client: { autoAckn: false }
      })
      const response = yield* connection.send("CALC", "ADD", { A: 2, B: 3 })
      expect(Field.toRecord(yield* response.recv)).toEqual({ ACKN: 1 })
      expect(Field.toRecord(yield* response.recv)).toEqual({ SUM: 5 })
      const bad = yield* connection.send("CALC", "ADD", { A: 2 })
      const error = yield* Effect.flip(bad.recv)
      expect(error._tag).toBe("CommandError")
    }).pipe(Effect.scoped)
  )
})

describe("CommandRouter fair service", () => {
  const Slow = NcpCommand.make("TEST", "SLOW", { params: { SEQN: WireSchema.i32 }, reply: { SEQN: WireSchema.i32 } })

  /** A router whose SLOW takes a second of (Test)Clock time, counting what runs. */
  const slowNode = () => {
    const state = { started: [] as Array<number>, running: 0, mostRunning: 0, pulled: 0 }
    const router = CommandRouter.make(
      CommandRouter.route(Slow, ({ SEQN }) =>
        Effect.sync(() => {
          state.started.push(SEQN)
          state.mostRunning = Math.max(state.mostRunning, ++state.running)
        }).pipe(
          Effect.andThen(Effect.sleep("1 second")),
          Effect.ensuring(Effect.sync(() => state.running--)),
          Effect.as({ SEQN })
        )
      ),
      CommandRouter.route(SimulatedNode.Status, () => Effect.succeed({ STAT: "OK", SEID: "test", UPTM: 0, TEMP: 20 }))
    )
    // The router reads the connection through this view, which counts the fields it takes.
    const handler = (connection: Connection.Connection) =>
      CommandRouter.toHandler(router)({
        ...connection,
        recv: Effect.tap(connection.recv, () => Effect.sync(() => state.pulled++))
      })
    return { state, handler }
  }

  it.effect(
    `one connection runs ${CommandRouter.defaultConcurrency} commands at once, the rest in order, and another connection is served meanwhile`,
    () =>
      Effect.gen(function* () {
        const { state, handler } = slowNode()
        const server = yield* NcpTest.make({ handler })
        const flooder = yield* server.connect()
        const other = yield* server.connect()
        const responses = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i + 1),
          (SEQN) => CommandClient.send(flooder, Slow, { SEQN })
        )
        yield* settle(() => state.started.length >= CommandRouter.defaultConcurrency)
        // The other connection's STAT is answered at once, with the flood in progress.
        expect(yield* CommandClient.call(other, SimulatedNode.Status)).toMatchObject({ STAT: "OK" })
        expect(state.started).toEqual([1, 2, 3, 4])
        for (let second = 1; second <= 5; second++) {
          yield* TestClock.adjust("1 second")
          yield* settle(() => state.started.length >= Math.min(20, 4 * (second + 1)))
          expect(state.started.length).toBe(Math.min(20, 4 * (second + 1)))
        }
        const replies = yield* Effect.forEach(responses, (response) => response.recv)
        expect(replies.map((reply) => reply.params.SEQN)).toEqual(state.started)
        expect(state.started).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
        expect(state.mostRunning).toBe(CommandRouter.defaultConcurrency)
      }).pipe(Effect.scoped)
  )

  it.effect("past the commands running, the router takes no more fields: the rest wait in the inbox", () =>
    Effect.gen(function* () {
      const { state, handler } = slowNode()
      const flooder = yield* NcpTest.connect({ handler, server: { bufferCapacity: 2 } })
      yield* Effect.forEach(
        Array.from({ length: 100 }, (_, i) => i + 1),
        (SEQN) => CommandClient.send(flooder, Slow, { SEQN })
      )
      yield* settle(() => false, 200)
      // 4 running, none taken ahead of them: the rest wait in the inbox, and past its 2 fields
      // the connection reads no more.
      expect(state.started).toEqual([1, 2, 3, 4])
      expect(state.pulled).toBe(4)
      yield* TestClock.adjust("1 second")
      yield* settle(() => false, 200)
      expect(state.started).toEqual([1, 2, 3, 4, 5, 6, 7, 8])
      expect(state.pulled).toBe(8)
    }).pipe(Effect.scoped)
  )

  it.effect("the concurrency option bounds the commands of a connection", () =>
    Effect.gen(function* () {
      const { state } = slowNode()
      const router = CommandRouter.make(
        CommandRouter.route(Slow, ({ SEQN }) =>
          Effect.sync(() => state.started.push(SEQN)).pipe(
            Effect.andThen(Effect.sleep("1 second")),
            Effect.as({ SEQN })
          )
        )
      )
      const connection = yield* NcpTest.connect({ handler: CommandRouter.toHandler(router, { concurrency: 1 }) })
      const fiber = yield* Effect.forkChild(
        Effect.forEach([1, 2, 3], (SEQN) => CommandClient.call(connection, Slow, { SEQN }), {
          concurrency: "unbounded"
        })
      )
      yield* settle(() => state.started.length >= 1)
      yield* settle(() => false, 100)
      expect(state.started).toEqual([1])
      yield* TestClock.adjust("3 seconds")
      expect((yield* Fiber.join(fiber)).map((reply) => reply.SEQN)).toEqual([1, 2, 3])
    }).pipe(Effect.scoped)
  )
})
