import { assert, describe, expect, it } from "@effect/vitest"
import * as Arbitrary from "effect/Arbitrary"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
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
import * as SimulatedNode from "../src/SimulatedNode.js"
import { NcpTest } from "../src/testing.js"
import { failureOf, must } from "./util.js"

// Typed commands end to end: a real client and a real server (a CommandRouter, or a plain
// handler where the test needs replies the Schemas would not produce) over an in-memory pair.

/** Every wire type, as params and as reply: the Schemas' whole range crosses the wire. */
const everyType = {
  I32: WireSchema.i32,
  U32: WireSchema.u32,
  I64: WireSchema.i64,
  U64: WireSchema.u64,
  F32: WireSchema.f32,
  F64: WireSchema.f64,
  NUM: WireSchema.number,
  BOOL: WireSchema.boolean,
  STR: WireSchema.string,
  RAW: WireSchema.raw,
  U8A: WireSchema.u8Array,
  U16A: WireSchema.u16Array,
  U32A: WireSchema.u32Array,
  I8A: WireSchema.i8Array,
  I16A: WireSchema.i16Array,
  I32A: WireSchema.i32Array,
  U64A: WireSchema.u64Array,
  I64A: WireSchema.i64Array,
  F32A: WireSchema.f32Array,
  F64A: WireSchema.f64Array,
  OPT: Schema.optionalKey(WireSchema.i32)
}
const Everything = NcpCommand.make("TEST", "ALL", { params: everyType, reply: everyType })

/** The commands whose params and replies the properties cross the wire with. */
const described = [...SimulatedNode.commands, Everything] as const

/** Finite, 0 or more: a bound of a sweep's range. */
const frequency = WireSchema.number.check(Schema.isFinite(), Schema.isGreaterThanOrEqualTo(0))

/**
 * Sweep's params, valid as generated: two frequencies of any size, in order and distinct (when
 * both come out equal, the lower one is halved, or the upper one made the least above 0). Its
 * Schema's own generator draws FSTA and FSTP alone and keeps the pairs its check accepts,
 * about one in seven: too few for a property's budget of discards.
 */
const sweepParams = Arbitrary.map(
  Arbitrary.schema(Schema.Struct({ ...SimulatedNode.Sweep.params.fields, FSTA: frequency, FSTP: frequency })),
  ({ FSTA, FSTP, ...rest }) => {
    const low = Math.min(FSTA, FSTP)
    const high = Math.max(FSTA, FSTP)
    if (low < high) return { ...rest, FSTA: low, FSTP: high }
    return low === 0 ? { ...rest, FSTA: low, FSTP: Number.MIN_VALUE } : { ...rest, FSTA: low / 2, FSTP: low }
  }
)

/** A generator of `command`'s params, every one valid. */
const paramsOf = (command: NcpCommand.Any) => (command === SimulatedNode.Sweep ? sweepParams : command.params)

/** A router answering `command` with `reply` (twice for a streaming one), keeping the params it decoded. */
const answering = (command: NcpCommand.Any, reply: unknown, received: Array<unknown>) => {
  const handle = (params: unknown) => {
    received.push(params)
    return command.stream ? Stream.make(reply, reply) : Effect.succeed(reply)
  }
  return CommandRouter.toHandler(CommandRouter.make(CommandRouter.route(command as never, handle as never)))
}

/** A plain handler answering every field with these raw params. */
const replyingRaw = (params: Field.ParamsInput) => (connection: Connection.Connection) =>
  connection.fields.pipe(Stream.runForEach((field) => field.reply(params)))

/** The params a reply encodes to: what a node sends. */
const wireReply = (command: NcpCommand.Any, reply: unknown): Array<Field.Param> =>
  Result.getOrThrow(NcpCommand.encodeReply(command, reply as never))

describe("NcpCommand properties", () => {
  for (const command of described) {
    const name = `${command.packetType} ${command.fieldName}`

    it.effect.prop(
      `${name}: arbitrary params and replies cross a connection equal, both ways`,
      { params: paramsOf(command), reply: command.reply },
      ({ params, reply }) =>
        Effect.gen(function* () {
          const received: Array<unknown> = []
          const connection = yield* NcpTest.connect({ handler: answering(command, reply, received) })
          const answer = yield* CommandClient.call(connection, command, params as never)
          expect(answer).toEqual(reply)
          expect(received).toEqual([params])
          if (command.stream) {
            const replies = yield* CommandClient.stream(
              connection,
              command as NcpCommand.AnyStream,
              params as never
            ).pipe(Stream.take(2), Stream.runCollect)
            expect(replies).toEqual([reply, reply])
          }
        }).pipe(Effect.scoped),
      { timeout: 60_000, arbitrary: { runs: 40 } }
    )

    it.effect.prop(
      `${name}: a reply whose param has another type is an InvalidReply naming it, never a value`,
      {
        params: paramsOf(command),
        reply: command.reply,
        pick: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))
      },
      ({ params: sent, reply, pick }) =>
        Effect.gen(function* () {
          const params = wireReply(command, reply)
          const target = must(params[pick % params.length], "a param to spoil")
          // a string where anything else is declared, a data array where a string is
          const wrong = target.value.type === "string" ? Value.i32Array([1]) : Value.string("1")
          const spoiled = params.map((param) => (param === target ? { name: param.name, value: wrong } : param))
          const connection = yield* NcpTest.connect({ handler: replyingRaw(spoiled) })
          const error = failureOf(yield* Effect.exit(CommandClient.call(connection, command, sent as never)))
          assert(error._tag === "InvalidReply", `expected InvalidReply, got ${error._tag}`)
          expect([error.packetType, error.fieldName, error.param]).toEqual([
            command.packetType,
            command.fieldName,
            target.name
          ])
          expect(Field.getValue(error.field, target.name)).toEqual(wrong)
        }).pipe(Effect.scoped),
      { timeout: 60_000, arbitrary: { runs: 30 } }
    )

    it.effect.prop(
      `${name}: a reply missing a param is an InvalidReply naming it, or (for an optional one) the rest`,
      {
        params: paramsOf(command),
        reply: command.reply,
        pick: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 100 }))
      },
      ({ params: sent, reply, pick }) =>
        Effect.gen(function* () {
          const params = wireReply(command, reply)
          if (params.length === 0) return
          const target = must(params[pick % params.length], "a param to drop")
          const connection = yield* NcpTest.connect({
            handler: replyingRaw(params.filter((param) => param !== target))
          })
          const exit = yield* Effect.exit(CommandClient.call(connection, command, sent as never))
          if (Exit.isSuccess(exit)) {
            const { [target.name]: _dropped, ...rest } = reply as Record<string, unknown>
            expect(exit.value).toEqual(rest)
          } else {
            const error = failureOf(exit)
            assert(error._tag === "InvalidReply", `expected InvalidReply, got ${error._tag}`)
            expect(error.param).toBe(target.name)
          }
        }).pipe(Effect.scoped),
      { timeout: 60_000, arbitrary: { runs: 30 } }
    )
  }
})

const Gain = NcpCommand.make("DSPC", "GAIN", {
  params: { GAIN: WireSchema.f32, NOTE: Schema.optional(WireSchema.string) },
  reply: { GAIN: WireSchema.f32 }
})

/** A plain handler echoing every field's params, keeping each field it received. */
const recordingEcho = (received: Array<Field.Field>) => (connection: Connection.Connection) =>
  connection.fields.pipe(
    Stream.runForEach((field) => {
      received.push(field)
      return field.reply(field.params)
    })
  )

describe("CommandClient.call", () => {
  it.effect("a param its wire type cannot hold fails with InvalidParams naming it, and nothing is sent", () =>
    Effect.gen(function* () {
      const received: Array<Field.Field> = []
      const connection = yield* NcpTest.connect({ handler: recordingEcho(received) })
      const error = yield* Effect.flip(CommandClient.call(connection, Gain, { GAIN: 1e39 }))
      assert(error._tag === "InvalidParams")
      expect([error.packetType, error.fieldName, error.param]).toEqual(["DSPC", "GAIN", "GAIN"])
      expect(error.message).toMatch(/^DSPC GAIN: param GAIN: .*f32.*got 1e\+39/)
      // The next command is the first field the node sees.
      const echoed = yield* CommandClient.call(connection, Gain, { GAIN: 0.1 })
      expect(echoed.GAIN).toBe(Math.fround(0.1))
      expect(received.map((field) => Field.getValue(field, "GAIN"))).toEqual([Value.f32(Math.fround(0.1))])
    }).pipe(Effect.scoped)
  )

  it.effect("an optional param left out or undefined is not sent", () =>
    Effect.gen(function* () {
      const received: Array<Field.Field> = []
      const connection = yield* NcpTest.connect({ handler: recordingEcho(received) })
      yield* CommandClient.call(connection, Gain, { GAIN: 1 })
      yield* CommandClient.call(connection, Gain, { GAIN: 2, NOTE: undefined })
      yield* CommandClient.call(connection, Gain, { GAIN: 3, NOTE: "x" })
      expect(received.map((field) => field.params.map((param) => param.name))).toEqual([
        ["GAIN"],
        ["GAIN"],
        ["GAIN", "NOTE"]
      ])
    }).pipe(Effect.scoped)
  )

  it.effect("params the node adds are ignored by the decode and kept on the field send gives", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({
        handler: replyingRaw([
          ["GAIN", Value.f32(2)],
          ["XTRA", Value.string("new")]
        ])
      })
      expect(yield* CommandClient.call(connection, Gain, { GAIN: 2 })).toEqual({ GAIN: 2 })
      const response = yield* CommandClient.send(connection, Gain, { GAIN: 2 })
      const reply = yield* response.recv
      expect(reply.params).toEqual({ GAIN: 2 })
      expect(Field.get(reply.field, "XTRA")).toBe("new")
      expect([reply.field.packetType, reply.field.id]).toEqual(["DSPC", response.fieldId])
    }).pipe(Effect.scoped)
  )

  it.effect("the node's error reply is its CommandError, with autoErro on or off", () =>
    Effect.gen(function* () {
      for (const autoErro of [true, false]) {
        const connection = yield* NcpTest.connect({
          handler: replyingRaw({ ERRO: "no such gain", ERRC: 404 }),
          client: { autoErro }
        })
        const error = yield* Effect.flip(CommandClient.call(connection, Gain, { GAIN: 1 }))
        assert(error._tag === "CommandError")
        expect([error.detail, error.code, error.fieldName]).toEqual(["no such gain", 404, "GAIN"])
      }
    }).pipe(Effect.scoped)
  )

  it.effect("a reply out of its declared range is an InvalidReply, not a wrapped number", () =>
    Effect.gen(function* () {
      const Count = NcpCommand.make("DSPC", "CONT", { reply: { N: WireSchema.i32 } })
      const connection = yield* NcpTest.connect({ handler: replyingRaw([["N", Value.u32(3_000_000_000)]]) })
      const error = yield* Effect.flip(CommandClient.call(connection, Count))
      assert(error._tag === "InvalidReply")
      expect(error.param).toBe("N")
      expect(error.message).toMatch(/^DSPC CONT: reply param N: .*got u32 3000000000/)
    }).pipe(Effect.scoped)
  )

  it.effect("timeout: no reply in time is a NetworkTimeout naming the command", () =>
    Effect.gen(function* () {
      const Slow = NcpCommand.make("DSPC", "SLOW")
      const silent = (connection: Connection.Connection) => Stream.runDrain(connection.fields)
      const connection = yield* NcpTest.connect({ handler: silent })
      const fiber = yield* Effect.forkChild(CommandClient.call(connection, Slow, {}, { timeout: "2 seconds" }))
      yield* TestClock.adjust("1999 millis")
      expect(fiber.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust("1 millis")
      const error = failureOf(yield* Fiber.await(fiber))
      assert(error._tag === "NetworkTimeout")
      expect([error.seconds, error.command]).toEqual([2, "DSPC SLOW"])
    }).pipe(Effect.scoped)
  )

  it.effect("without autoAckn, call names the acknowledgement; send and stream skip it", () =>
    Effect.gen(function* () {
      const node = (connection: Connection.Connection) =>
        connection.fields.pipe(
          Stream.runForEach((field) => Effect.andThen(field.reply({ ACKN: 1 }), field.reply([["GAIN", Value.f32(5)]])))
        )
      const connection = yield* NcpTest.connect({ handler: node, client: { autoAckn: false } })
      const error = yield* Effect.flip(CommandClient.call(connection, Gain, { GAIN: 5 }))
      assert(error._tag === "InvalidReply")
      expect(error.param).toBe("ACKN")
      const response = yield* CommandClient.send(connection, Gain, { GAIN: 5 })
      expect((yield* response.recv).params).toEqual({ GAIN: 5 })
      const Repeating = NcpCommand.make("DSPC", "GAIN", { params: Gain.params, reply: Gain.reply, stream: true })
      const replies = yield* CommandClient.stream(connection, Repeating, { GAIN: 5 }).pipe(
        Stream.take(1),
        Stream.runCollect
      )
      expect(replies).toEqual([{ GAIN: 5 }])
    }).pipe(Effect.scoped)
  )

  it.effect("call and stream without a connection use the Client.NcpClient service", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({ handler: SimulatedNode.handler })
      const status = yield* CommandClient.call(SimulatedNode.Status).pipe(
        Effect.provideService(Client.NcpClient, connection)
      )
      expect(status).toMatchObject({ STAT: "OK", SEID: SimulatedNode.SERIAL })
      const sweeps = yield* CommandClient.stream(SimulatedNode.Sweep, { FSTA: 1, FSTP: 2, BINS: 8 }).pipe(
        Stream.take(1),
        Stream.runCollect,
        Effect.provideService(Client.NcpClient, connection)
      )
      expect(sweeps.map((sweep) => sweep.BINS)).toEqual([8])
    }).pipe(Effect.scoped)
  )
})
