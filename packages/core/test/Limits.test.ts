/**
 * What no single peer can make a connection or a server hold: memory bounded in bytes on each
 * side, a peer that stops reading dropped like one that stops writing, a bounded number of
 * connections, and a shutdown that ends within its grace.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as SocketServer from "effect/socket/SocketServer"
import { TestClock } from "effect/testing"
import { type Connection, Encoder, Field, Server, Value } from "../src/index.js"
import * as MemorySocket from "../src/MemorySocket.js"
import { connectScripted, scriptedClientHandshake, scriptedPeer } from "./harness.js"
import { capturingLogger, failureOf, type LogLine, must } from "./util.js"

const KiB = 1024

const keepAlive = Encoder.encodePacketOrThrow({ type: "LINK", id: 0, timestamp: { seconds: 0, nanos: 0 }, fields: [] })

/** A server over an in-memory `SocketServer`, and a way to open scripted client connections to it. */
const serveInMemory = <E>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E>,
  options: Server.ServerOptions = {},
  pairOptions?: MemorySocket.PairOptions
) =>
  Effect.gen(function* () {
    const { server, connect } = yield* MemorySocket.makeServer(pairOptions)
    const scope = yield* Scope.make()
    const serving = yield* Effect.forkIn(
      Server.serve(handler, options).pipe(Effect.provideService(SocketServer.SocketServer, server)),
      scope
    )
    const client = Effect.gen(function* () {
      const peer = yield* scriptedPeer(yield* connect)
      yield* scriptedClientHandshake(peer)
      return peer
    })
    return { serving, client, connect, stop: Fiber.interrupt(serving) }
  })

describe("per-connection budgets", () => {
  it.effect("a handler that takes no fields stops its server reading once the read budget is full", () =>
    Effect.gen(function* () {
      // Sockets that hold 2 chunks: a client's writes wait once the server stops reading.
      const { client } = yield* serveInMemory(
        () => Effect.never,
        { maxBufferedBytes: 64 * KiB, bufferCapacity: 100_000 },
        { capacity: 2 }
      )
      const peer = yield* client
      const payload = new Uint8Array(8 * KiB)
      let sent = 0
      yield* Effect.forkChild(
        Effect.forEach(
          Array.from({ length: 100 }, (_, i) => i),
          (i) =>
            Effect.andThen(
              peer.send("DSPC", "DATA", i, { DATA: payload }),
              Effect.sync(() => sent++)
            ),
          { discard: true }
        )
      )
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      // 64 KiB of fields of about 8 KiB each, plus the two chunks the socket holds, plus one
      // packet read past the budget: far fewer than 100.
      expect(sent).toBeGreaterThan(4)
      expect(sent).toBeLessThan(16)
    }).pipe(Effect.scoped)
  )

  it.effect("a client that stops reading is dropped after the timeout, with a log line", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { client, serving } = yield* serveInMemory(
        (connection) => connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params))),
        { maxWriteBufferBytes: 16 * KiB },
        { capacity: 2 }
      )
      const peer = yield* client
      // Commands whose replies the client never reads: the server's writes stall.
      const payload = new Uint8Array(4 * KiB)
      yield* Effect.forkChild(
        Effect.forEach(
          Array.from({ length: 50 }, (_, i) => i),
          (i) => peer.send("DSPC", "ECHO", i, { DATA: payload }),
          { discard: true }
        )
      )
      // It stays alive otherwise, as a client would: a keep-alive every 5 s.
      yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sleep("5 seconds"), peer.write(keepAlive))))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      expect(lines.some((line) => line.annotations.ncp === "ConnectionDropped")).toBe(false)
      // the agreed timeout is the client's 30 s
      yield* TestClock.adjust(29_000)
      expect(lines.some((line) => line.annotations.ncp === "ConnectionDropped")).toBe(false)
      yield* TestClock.adjust(2_000)
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      const dropped = lines.filter((line) => line.annotations.ncp === "ConnectionDropped")
      expect(dropped).toHaveLength(1)
      expect(must(dropped[0]).message).toContain("waiting for the peer to read what was sent")
      expect(serving.pollUnsafe()).toBeUndefined()
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("a client's inbox keeps the newest unclaimed fields within maxBufferedBytes", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted({ maxBufferedBytes: 100 * KiB })
      const payload = new Uint8Array(32 * KiB)
      for (let i = 1; i <= 10; i++) yield* peer.send("DSPC", "DATA", 1000 + i, { N: i, DATA: payload })
      // a reply still gets through
      const response = yield* connection.send("STAT", "STAT")
      const id = must((yield* peer.readFields).packet.fields[0]).id
      yield* peer.send("STAT", "STAT", id, { OK: 1 })
      expect(Field.get(yield* response.recv, "OK")).toBe(1)
      const kept: Array<unknown> = []
      for (let i = 0; i < 3; i++) kept.push(Field.get(yield* connection.recv, "N"))
      expect(kept).toEqual([8, 9, 10])
      // and nothing older is left
      const more = yield* Effect.forkChild(connection.recv)
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      expect(more.pollUnsafe()).toBeUndefined()
      expect(lines.some((line) => line.annotations.ncp === "InboxOverflow")).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })
})

describe("server limits", () => {
  it.effect("connections beyond maxConnections are refused with LINK ERRO 503 and counted in a log line", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { client, connect } = yield* serveInMemory(() => Effect.never, { maxConnections: 2 })
      yield* client
      yield* client
      const third = yield* scriptedPeer(yield* connect)
      const { packet } = yield* third.readFields
      expect(packet.type).toBe("LINK")
      expect(Field.toRecord(must(packet.fields[0]))).toEqual({ ERRO: "Server busy", ERRC: 503 })
      const refused = lines.filter((line) => line.annotations.ncp === "ConnectionRefused")
      expect(refused.map((line) => line.annotations.refused)).toEqual([1])
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("maxTotalBufferedBytes bounds what all connections hold together", () =>
    Effect.gen(function* () {
      const { client } = yield* serveInMemory(
        () => Effect.never,
        { maxBufferedBytes: 1024 * KiB, maxTotalBufferedBytes: 64 * KiB, bufferCapacity: 100_000 },
        { capacity: 2 }
      )
      const peers = [yield* client, yield* client, yield* client]
      const payload = new Uint8Array(8 * KiB)
      let sent = 0
      for (const [n, peer] of peers.entries()) {
        yield* Effect.forkChild(
          Effect.forEach(
            Array.from({ length: 50 }, (_, i) => i),
            (i) =>
              Effect.andThen(
                peer.send("DSPC", "DATA", n * 100 + i, { DATA: payload }),
                Effect.sync(() => sent++)
              ),
            { discard: true }
          )
        )
      }
      for (let i = 0; i < 40; i++) yield* Effect.yieldNow
      // each connection alone could take 1 MiB; together they stop near 64 KiB (plus what the
      // sockets hold and one packet read past the budget each)
      expect(sent).toBeLessThan(30)
    }).pipe(Effect.scoped)
  )
})

describe("shutdown", () => {
  it.effect(
    "interrupting serve lets a command in flight finish within the grace, delivers no new ones, then closes",
    () =>
      Effect.gen(function* () {
        const slow = (connection: Connection.Connection) =>
          connection.fields.pipe(
            Stream.runForEach((field) => Effect.andThen(Effect.sleep("2 seconds"), field.reply(field.params)))
          )
        const { client, serving } = yield* serveInMemory(slow)
        const peer = yield* client
        yield* peer.send("DSPC", "SLOW", 1, { N: 1 })
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow
        const stopping = yield* Effect.forkChild(Fiber.interrupt(serving))
        for (let i = 0; i < 10; i++) yield* Effect.yieldNow
        // a command after the shutdown began is not delivered
        yield* peer.send("DSPC", "LATE", 2, { N: 2 })
        yield* TestClock.adjust(2_000)
        const reply = yield* peer.readFields
        expect(Field.get(must(reply.packet.fields[0]), "N")).toBe(1)
        yield* Fiber.join(stopping)
        // then the connection closed: nothing more comes
        expect(Exit.isFailure(yield* Effect.exit(peer.readFields))).toBe(true)
      }).pipe(Effect.scoped)
  )

  it.effect("during the grace, a reply to the server's own request still reaches the handler waiting for it", () =>
    Effect.gen(function* () {
      const answered = Deferred.makeUnsafe<number | undefined>()
      const asking = (connection: Connection.Connection) =>
        Effect.flatMap(connection.request("DSPC", "ASK"), (reply) =>
          Deferred.succeed(answered, Field.get(reply, "N") as number | undefined)
        )
      const { client, serving } = yield* serveInMemory(asking)
      const peer = yield* client
      const ask = must((yield* peer.readFields).packet.fields[0])
      expect(ask.name).toBe("ASK")
      const stopping = yield* Effect.forkChild(Fiber.interrupt(serving))
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      // the shutdown has begun: new commands are not delivered, but this is a reply
      yield* peer.send("DSPC", "ASK", ask.id, { N: 7 })
      expect(yield* Deferred.await(answered)).toBe(7)
      yield* Fiber.join(stopping)
    }).pipe(Effect.scoped)
  )

  it.effect("a handler that never finishes is cut off when the grace runs out", () =>
    Effect.gen(function* () {
      const { client, serving } = yield* serveInMemory(() => Effect.never, { shutdownGrace: "3 seconds" })
      yield* client
      const stopping = yield* Effect.forkChild(Fiber.interrupt(serving))
      yield* TestClock.adjust(2_900)
      expect(stopping.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust(200)
      for (let i = 0; i < 10; i++) yield* Effect.yieldNow
      expect(stopping.pollUnsafe()).toBeDefined()
    }).pipe(Effect.scoped)
  )
})

describe("log output", () => {
  it.effect("a packet's decode warnings are one entry (kind, count, first offset), not one per param", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      const params = Array.from({ length: 1000 }, () => ["P", Value.unknown(0x99, new Uint8Array(4))] as const)
      yield* peer.send("DSPC", "DATA", 7, params)
      const field = yield* connection.recv
      expect(field.params).toHaveLength(1000)
      const warnings = lines.filter((line) => line.annotations.ncp === "DecodeWarning")
      expect(warnings).toHaveLength(1)
      expect(must(warnings[0]).annotations).toMatchObject({ kind: "UnknownType", count: 1000, remote: "node:9999" })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("a connection logs at most 10 warnings a second; the next entry counts those left out", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      // replies carrying a warning: each is logged, then delivered
      for (let i = 0; i < 100; i++) yield* peer.send("DSPC", "SWEP", i, { WARN: "careful" })
      for (let i = 0; i < 100; i++) yield* connection.recv
      const warnings = () => lines.filter((line) => line.annotations.ncp === "CommandWarning")
      expect(warnings()).toHaveLength(10)
      yield* TestClock.adjust(1000)
      yield* peer.send("DSPC", "SWEP", 1000, { WARN: "again" })
      yield* connection.recv
      expect(warnings()).toHaveLength(11)
      expect(must(warnings()[10]).annotations).toMatchObject({ suppressed: 90 })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })
})

describe("decoding limits", () => {
  it.effect("a packet with more params than maxParamsPerField gets LINK ERRO 400", () =>
    Effect.gen(function* () {
      const { client } = yield* serveInMemory((connection) => connection.fields.pipe(Stream.runDrain), {
        maxParamsPerField: 100
      })
      const peer = yield* client
      yield* peer.send(
        "DSPC",
        "MANY",
        1,
        Array.from({ length: 101 }, () => ["P", Value.i32(0)] as const)
      )
      const { packet } = yield* peer.readFields
      expect(Field.toRecord(must(packet.fields[0]))).toEqual({ ERRO: "Bad request", ERRC: 400 })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger([])))
  )

  it.effect(
    "a packet with more params in all than maxParamsPerPacket gets LINK ERRO 400, each field within its own limit",
    () =>
      Effect.gen(function* () {
        const { client } = yield* serveInMemory((connection) => connection.fields.pipe(Stream.runDrain), {
          maxParamsPerPacket: 100
        })
        const peer = yield* client
        const params = Array.from({ length: 60 }, () => ["P", Value.i32(0)] as const)
        yield* peer.write(
          Encoder.encodePacketOrThrow({
            type: "DSPC",
            fields: [
              { name: "ONE", id: 1, params },
              { name: "TWO", id: 2, params }
            ]
          })
        )
        const { packet } = yield* peer.readFields
        expect(Field.toRecord(must(packet.fields[0]))).toEqual({ ERRO: "Bad request", ERRC: 400 })
      }).pipe(Effect.scoped, Effect.provide(capturingLogger([])))
  )

  it.effect("a client's maxParamsPerPacket ends the connection with a TooManyParams DecodeError naming it", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted({ maxParamsPerPacket: 10 })
      yield* peer.send(
        "DSPC",
        "MANY",
        7,
        Array.from({ length: 11 }, () => ["P", Value.i32(0)] as const)
      )
      const error = failureOf(yield* Effect.exit(connection.recv))
      expect(error).toMatchObject({ _tag: "DecodeError", reason: "TooManyParams" })
      expect(String((error as { message: string }).message)).toContain("maxParamsPerPacket")
    }).pipe(Effect.scoped, Effect.provide(capturingLogger([])))
  )

  it.effect("a large packet is decoded in steps and delivered whole", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      // 4,000 params of 128 bytes: about 540 KiB, decoded a slice at a time
      const params = Array.from(
        { length: 4000 },
        (_, i) => [`P${i % 1000}`, new Uint8Array(128).fill(i % 256)] as const
      )
      yield* peer.send("DSPC", "BIG", 5, params)
      const field = yield* connection.recv
      expect(field.params).toHaveLength(4000)
      expect(field.params[3999]?.value.value).toEqual(new Uint8Array(128).fill(3999 % 256))
    }).pipe(Effect.scoped)
  )
})

describe("names from a peer", () => {
  /** A packet whose name `from` is replaced, byte for byte, by `to` (which the encoder would refuse). */
  const withName = (type: string, name: string, params: Field.ParamsInput, from: string, to: string) => {
    const bytes = Encoder.encodePacketOrThrow({
      type,
      id: 1,
      timestamp: { seconds: 0, nanos: 0 },
      fields: [{ name, id: 3, params }]
    })
    const hex = Buffer.from(bytes)
      .toString("hex")
      .replace(Buffer.from(from).toString("hex"), Buffer.from(to).toString("hex"))
    return Uint8Array.from(Buffer.from(hex, "hex"))
  }

  it.effect("a param name that is not an identifier gets an ERRO 400 reply naming it; the connection goes on", () =>
    Effect.gen(function* () {
      const { client } = yield* serveInMemory(
        (connection) => connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params))),
        {}
      )
      const peer = yield* client
      yield* peer.write(withName("DSPC", "ECHO", { PARM: 1 }, "PARM", "PA-M"))
      const reply = must((yield* peer.readFields).packet.fields[0])
      expect([reply.name, reply.id]).toEqual(["ECHO", 3])
      expect(Field.toRecord(reply)).toEqual({
        ERRO: 'param name "PA-M" is not an identifier (1-4 of A-Z, 0-9)',
        ERRC: 400
      })
      yield* peer.send("DSPC", "ECHO", 4, { N: 1 })
      expect(Field.toRecord(must((yield* peer.readFields).packet.fields[0]))).toEqual({ N: 1 })
    }).pipe(Effect.scoped)
  )

  it.effect("a field name that is not an identifier gets LINK ERRO 400, not 500", () =>
    Effect.gen(function* () {
      const { client } = yield* serveInMemory(
        (connection) => connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params))),
        {}
      )
      const peer = yield* client
      yield* peer.write(withName("DSPC", "ECHO", { N: 1 }, "ECHO", "ec o"))
      const { packet } = yield* peer.readFields
      expect(packet.type).toBe("LINK")
      expect(Field.toRecord(must(packet.fields[0]))).toEqual({ ERRO: "Bad request", ERRC: 400 })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger([])))
  )
})
