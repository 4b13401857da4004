/**
 * A packet still being received costs memory: the framer copies its bytes into one buffer of
 * its declared size (not a chunk object per TCP segment), and a server counts it at that size
 * against its total from its header on, so half-sent large packets cannot take the server's
 * memory beyond its total, while small commands still get through.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { type Connection, Encoder, Framing, NcpMetrics } from "../src/index.js"
import { NcpTest } from "../src/testing.js"

const echo = (connection: Connection.Connection) =>
  connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params)))

/** A packet of about `bytes`, one raw param. */
const packetOf = (bytes: number) =>
  Encoder.encodePacketOrThrow({
    type: "DSPC",
    id: 1,
    timestamp: { seconds: 0, nanos: 0 },
    fields: [{ name: "DATA", id: 1, params: [["DATA", new Uint8Array(bytes - 64)]] }]
  })

describe("the framer", () => {
  it("reports a packet's declared size once its header is read, and assembles it from 4-byte chunks", () => {
    const packet = packetOf(4096)
    const framer = new Framing.PacketFramer()
    framer.push(packet.subarray(0, 4))
    expect(framer.next()).toBeUndefined()
    expect(framer.partial).toBeUndefined()
    framer.push(packet.subarray(4, 12))
    expect(framer.next()).toBeUndefined()
    expect(framer.partial).toBe(packet.length)
    for (let at = 12; at < packet.length; at += 4) {
      framer.push(packet.subarray(at, at + 4))
      expect(framer.pending).toBe(Math.min(at + 4, packet.length))
    }
    const whole = framer.next()
    expect(whole).toEqual(packet)
    expect(framer.partial).toBeUndefined()
    expect(framer.pending).toBe(0)
  })

  it("a packet whole in one chunk is still a view on it; the next one's head goes on as a chunk", () => {
    const first = packetOf(256)
    const second = packetOf(512)
    const both = new Uint8Array(first.length + second.length)
    both.set(first)
    both.set(second, first.length)
    const framer = new Framing.PacketFramer()
    framer.push(both.subarray(0, first.length + 20))
    const taken = framer.next()
    expect(taken).toBeInstanceOf(Uint8Array)
    expect((taken as Uint8Array).buffer).toBe(both.buffer)
    expect(framer.next()).toBeUndefined()
    expect(framer.partial).toBe(second.length)
    framer.push(both.subarray(first.length + 20))
    expect(framer.next()).toEqual(second)
  })
})

describe("a server's total", () => {
  it.effect(
    "counts half-sent large packets at their declared size: past the total they wait, small commands go on",
    () =>
      Effect.gen(function* () {
        const server = yield* NcpTest.make({
          handler: echo,
          server: { maxTotalBufferedBytes: 4 * 1024 * 1024, maxConnectionsPerAddress: 100 }
        })
        // Eight clients each send the first 4 KiB of a 1 MiB packet, and stop there.
        const large = packetOf(1024 * 1024)
        for (let i = 0; i < 8; i++) {
          const socket = yield* server.connectSocket
          // acquiring the reader opens the connection, for the life of the test's scope
          const reader = yield* socket.reader
          // the server's LINK HELO: it is reading
          yield* reader.pull
          const writer = yield* socket.writer
          yield* writer.write(large.subarray(0, 4096))
        }
        // let the server read what came
        for (let i = 0; i < 50; i++) yield* Effect.yieldNow
        // At most four fit the total; the others wait for room before reading on.
        const waits = yield* Metric.value(Metric.withAttributes(NcpMetrics.budgetWaits, { budget: "read" }))
        expect(waits.count).toBeGreaterThanOrEqual(4)
        // A client of small commands is still served.
        const connection = yield* server.connect()
        const reply = yield* connection.request("DSPC", "PING", { N: 1 })
        expect(reply.params.map((param) => param.name)).toEqual(["N"])
      }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map()))
  )

  it.effect("gives a closed connection's half-received packet back: the total does not keep it", () =>
    Effect.gen(function* () {
      const server = yield* NcpTest.make({
        handler: echo,
        server: { maxTotalBufferedBytes: 4 * 1024 * 1024, maxConnectionsPerAddress: 100 }
      })
      // Eight clients each declare a 1 MiB packet, send 4 KiB of it, and hang up.
      const large = packetOf(1024 * 1024)
      for (let i = 0; i < 8; i++) {
        const scope = yield* Scope.make()
        yield* Effect.gen(function* () {
          const socket = yield* server.connectSocket
          const reader = yield* socket.reader
          yield* reader.pull
          const writer = yield* socket.writer
          yield* writer.write(large.subarray(0, 4096))
        }).pipe(Scope.provide(scope))
        for (let j = 0; j < 20; j++) yield* Effect.yieldNow
        yield* Scope.close(scope, Exit.void)
      }
      for (let i = 0; i < 50; i++) yield* Effect.yieldNow
      // A packet of 512 KiB needs room in the total: there is, since the others are gone.
      const connection = yield* server.connect()
      const data = new Uint8Array(512 * 1024)
      const request = yield* Effect.forkChild(connection.request("DSPC", "DATA", { DATA: data }))
      for (let i = 0; i < 200; i++) yield* Effect.yieldNow
      const reply = request.pollUnsafe()
      expect(reply !== undefined && Exit.isSuccess(reply)).toBe(true)
      yield* Fiber.interrupt(request)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map()))
  )
})
