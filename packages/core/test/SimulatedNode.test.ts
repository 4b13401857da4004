import { assert, describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { Client, CodecError, CommandClient, Decoder, Field, Framing, SweepLevel } from "../src/index.js"
import * as SimulatedNode from "../src/SimulatedNode.js"
import { NcpTest, SimulatedSignal } from "../src/testing.js"
import { must } from "./util.js"

// The simulated node's handler behind a real Server over in-memory sockets (NcpTest's), and a
// real client: the whole protocol, no network, TestClock time.

/** A Transport whose every connection is served by the simulated node. */
const simulatedTransport = NcpTest.layerServer()

const connect = (options: Partial<Client.ClientOptions> = {}) =>
  Client.connect({ host: "simulated", port: 9999, ...options })

describe("SimulatedNode.handler", () => {
  it.effect("greets with LINK HELO carrying NCPV, SEID and MACA", () =>
    Effect.gen(function* () {
      const server = yield* NcpTest.make()
      const client = yield* server.connectSocket
      const reader = yield* client.reader
      const framer = new Framing.PacketFramer()
      let packet: Uint8Array | CodecError.DecodeError | undefined
      while ((packet = framer.next()) === undefined) {
        for (const chunk of yield* reader.pull)
          framer.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk)
      }
      assert(!(packet instanceof CodecError.DecodeError))
      const hello = Decoder.decodePacketOrThrow(packet).packet
      expect(hello.type).toBe("LINK")
      const field = hello.fields[0]
      assert(field !== undefined)
      expect(field.name).toBe("HELO")
      expect(Field.toRecord(field)).toEqual({
        NCPV: SimulatedNode.NCP_VERSION,
        SEID: SimulatedNode.SERIAL,
        MACA: SimulatedNode.MAC_ADDRESS
      })
    }).pipe(Effect.scoped)
  )

  it.effect("answers DSPC SWEP with ACKN, then the range and a data u8 spectrum of BINS levels", () =>
    Effect.gen(function* () {
      const connection = yield* connect({ autoAckn: false })
      const response = yield* connection.send("DSPC", "SWEP", { FSTA: 400, FSTP: 500, BINS: 256 })
      const ackn = yield* response.recv
      expect(Field.has(ackn, "ACKN")).toBe(true)
      const reply = yield* response.recv
      expect(reply.packetType).toBe("DSPC")
      expect(reply.name).toBe("SWEP")
      expect(reply.id).toBe(response.fieldId)
      const { FSTA, FSTP, BINS, PDAT } = Field.toRecord(reply)
      expect([FSTA, FSTP, BINS]).toEqual([400, 500, 256])
      assert(PDAT instanceof Uint8Array)
      expect(PDAT.length).toBe(256)
      // Noise around -110 dBm and at least one carrier well above it.
      const dbm = Array.from(PDAT, SweepLevel.toDbm)
      expect(Math.max(...dbm)).toBeGreaterThan(-80)
      expect(dbm.filter((level) => level < -100).length).toBeGreaterThan(128)
    }).pipe(Effect.scoped, Effect.provide(simulatedTransport))
  )

  it.effect("answers DSPC TIME with NSMP interleaved i16 IQ samples", () =>
    Effect.gen(function* () {
      const connection = yield* connect()
      const reply = yield* connection.request("DSPC", "TIME", { FCTR: 2400, NSMP: 1000, SRAT: 2_000_000 })
      const { FCTR, SRAT, NSMP, DATA } = Field.toRecord(reply)
      expect([FCTR, SRAT, NSMP]).toEqual([2400, 2_000_000, 1000])
      assert(DATA instanceof Int16Array)
      expect(DATA.length).toBe(2000)
      // SMPS is the other name of the sample count.
      const other = yield* connection.request("DSPC", "TIME", { SMPS: 16 })
      expect(Field.get(other, "NSMP")).toBe(16)
    }).pipe(Effect.scoped, Effect.provide(simulatedTransport))
  )

  it.effect("answers STAT with a status field", () =>
    Effect.gen(function* () {
      const connection = yield* connect()
      const reply = yield* connection.request("STAT", "RFLO")
      expect(Field.toRecord(reply)).toMatchObject({ STAT: "OK", SEID: SimulatedNode.SERIAL })
      expect(Field.getValue(reply, "UPTM")?.type).toBe("u32")
    }).pipe(Effect.scoped, Effect.provide(simulatedTransport))
  )

  it.effect("answers anything else with ERRO=Unknown command, ERRC=400, and bad params with 400", () =>
    Effect.gen(function* () {
      const connection = yield* connect()
      const unknown = yield* Effect.flip(connection.request("DSPC", "NOPE", { X: 1 }))
      assert(unknown._tag === "CommandError")
      expect([unknown.detail, unknown.code, unknown.fieldName]).toEqual(["Unknown command", 400, "NOPE"])
      const missing = yield* Effect.flip(connection.request("DSPC", "SWEP", { FSTA: 400 }))
      assert(missing._tag === "CommandError")
      expect(missing.code).toBe(400)
      expect(missing.detail).toContain("FSTA and FSTP")
      // The connection carries on after error replies.
      const ok = yield* connection.request("DSPC", "SWEP", { FSTA: 1, FSTP: 2, BINS: 4 })
      expect(Field.get(ok, "BINS")).toBe(4)
    }).pipe(Effect.scoped, Effect.provide(simulatedTransport))
  )

  it.effect("REPT repeats the data reply, and a repeating command does not block the others", () =>
    Effect.gen(function* () {
      const connection = yield* connect()
      const repeating = yield* connection.send("DSPC", "SWEP", { FSTA: 1, FSTP: 2, BINS: 4, REPT: 0 })
      const three = yield* Effect.forkScoped(Stream.runCollect(Stream.take(repeating.fields, 3)))
      const status = yield* connection.request("STAT", "STAT")
      expect(Field.get(status, "STAT")).toBe("OK")
      yield* TestClock.adjust(SimulatedNode.REPEAT_INTERVAL_MILLIS * 3)
      const replies = yield* Fiber.join(three)
      expect(replies.map((reply) => Field.get(reply, "BINS"))).toEqual([4, 4, 4])
    }).pipe(Effect.scoped, Effect.provide(simulatedTransport))
  )

  it.effect("its catalog gives typed calls: Sweep, Time and Status", () =>
    Effect.gen(function* () {
      const connection = yield* connect()
      const sweep = yield* CommandClient.call(connection, SimulatedNode.Sweep, { FSTA: 400, FSTP: 500, BINS: 250 })
      expect([sweep.FSTA, sweep.FSTP, sweep.BINS, sweep.PDAT.length]).toEqual([400, 500, 250, 252])
      expect(sweep.PDAT.subarray(0, 250)).toEqual(
        SimulatedSignal.sweepSpectrum({ startHz: 400e6, stopHz: 500e6, bins: 250, seed: sweepSeed(400, 500) })
      )
      const capture = yield* CommandClient.call(connection, SimulatedNode.Time, { NSMP: 100, SRAT: 2_000_000 })
      expect([capture.FCTR, capture.SRAT, capture.NSMP, capture.DATA.length]).toEqual([2400, 2_000_000, 100, 200])
      const status = yield* CommandClient.call(connection, SimulatedNode.Status)
      expect(status).toEqual({ STAT: "OK", SEID: SimulatedNode.SERIAL, UPTM: 0, TEMP: 41.5 })
      const first = yield* Deferred.make<void>()
      const three = yield* Effect.forkChild(
        CommandClient.stream(connection, SimulatedNode.Sweep, { FSTA: 1, FSTP: 2, BINS: 4, REPT: 3 }).pipe(
          Stream.tap(() => Deferred.succeed(first, undefined)),
          Stream.take(3),
          Stream.runCollect
        )
      )
      // the node repeats from its first reply on: time moves once it is here
      yield* Deferred.await(first)
      yield* TestClock.adjust(SimulatedNode.REPEAT_INTERVAL_MILLIS * 3)
      expect((yield* Fiber.join(three)).map((reply) => reply.BINS)).toEqual([4, 4, 4])
    }).pipe(Effect.scoped, Effect.provide(simulatedTransport))
  )

  it.effect("bad params get ERRO naming the param, from its Schema", () =>
    Effect.gen(function* () {
      const connection = yield* connect()
      const errorOf = (packetType: string, fieldName: string, params: Field.ParamsInput) =>
        Effect.flip(connection.request(packetType, fieldName, params)).pipe(
          Effect.map((error) => (error._tag === "CommandError" ? [error.detail, error.code] : error._tag))
        )
      expect(yield* errorOf("DSPC", "TIME", { NSMP: 0 })).toEqual([
        `param NSMP: Expected a whole number 1..${SimulatedNode.MAX_IQ_SAMPLES}, got i32 0`,
        400
      ])
      expect(yield* errorOf("DSPC", "SWEP", { FSTA: 500, FSTP: 400 })).toEqual([
        "param FSTP: SWEP needs 0 <= FSTA < FSTP (MHz), got i32 400",
        400
      ])
      expect(yield* errorOf("DSPC", "SWEP", { FSTA: 1, FSTP: 2, REPT: -1 })).toEqual([
        "param REPT: Expected a whole number, 0 or more, got i32 -1",
        400
      ])
      expect(yield* errorOf("DSPC", "SWEP", { FSTA: "1", FSTP: 2 })).toEqual([
        'param FSTA: Expected a number, got string "1"',
        400
      ])
    }).pipe(Effect.scoped, Effect.provide(simulatedTransport))
  )

  it.effect("generated in slices that yield, captures and sweeps are the same as in one piece", () =>
    Effect.gen(function* () {
      const iq = { samples: 3 * SimulatedSignal.GENERATION_SLICE_SAMPLES + 5, toneHz: 1234, seed: 9 }
      expect(yield* SimulatedSignal.iqCaptureEffect(iq)).toEqual(SimulatedSignal.iqCapture(iq))
      const sweep = { startHz: 1e6, stopHz: 2e6, bins: 2 * SimulatedSignal.GENERATION_SLICE_BINS + 3, seed: 4 }
      expect(yield* SimulatedSignal.sweepSpectrumEffect(sweep)).toEqual(SimulatedSignal.sweepSpectrum(sweep))
    })
  )

  it.effect("a connection flooding it with large captures does not delay another connection's STAT", () =>
    Effect.gen(function* () {
      const order: Array<string> = []
      const flooder = yield* connect({ autoAckn: false })
      const other = yield* connect()
      const captures = yield* Effect.forEach(Array.from({ length: 20 }), () =>
        flooder.send("DSPC", "TIME", { NSMP: 1024 * 1024 })
      )
      const first = must(captures[0], "a capture")
      // The first capture is being generated once its ACKN is here...
      expect(Field.has(yield* first.recv, "ACKN")).toBe(true)
      yield* Effect.forkChild(
        Effect.andThen(
          first.recv,
          Effect.sync(() => order.push("capture"))
        )
      )
      // ... and the other connection's STAT is answered while it is.
      yield* CommandClient.call(other, SimulatedNode.Status)
      order.push("status")
      expect(order).toEqual(["status"])
    }).pipe(Effect.scoped, Effect.provide(simulatedTransport))
  )
})

/** The seed the simulated node derives from a sweep's range (as `SimulatedNode` does). */
const sweepSeed = (...numbers: ReadonlyArray<number>): number => {
  let seed = 0x9e3779b9
  for (const n of numbers) seed = Math.imul(seed ^ Math.round(n * 1000), 0x85ebca6b) >>> 0
  return seed
}
