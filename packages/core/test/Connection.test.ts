import { describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { TestClock } from "effect/testing"
import { Client, type Connection, Encoder, Field, Json } from "../src/index.js"
import type * as MemorySocket from "../src/MemorySocket.js"
import { NcpTest } from "../src/testing.js"
import handshake from "./fixtures/handshake.json" with { type: "json" }
import {
  advanceUntilDone,
  connectScripted,
  connectScriptedClient,
  echo,
  memoryTransport,
  scriptedHandshake,
  scriptedPeer
} from "./harness.js"
import { bytesOf, capturingLogger, failureOf, hexOf, type LogLine, must } from "./util.js"

// ---------------------------------------------------------------------------------------------

describe("handshake", () => {
  it.effect("client and server agree on the client's timeout and name each other", () =>
    Effect.gen(function* () {
      let serverSide: Connection.Connection | undefined
      const connection = yield* NcpTest.connect({
        handler: (c) => {
          serverSide = c
          return Effect.never
        },
        client: { host: "node", timeout: "30 seconds", hostname: "test-host" }
      })
      expect(connection.timeout).toBe(30)
      expect(connection.remoteHostname).toBe("node:9999")
      expect(must(serverSide).remoteHostname).toBe("test-host")
      expect(must(serverSide).timeout).toBe(30)
    }).pipe(Effect.scoped)
  )

  it.effect("a node at an IPv6 address is named with the address in brackets, in the connection and its errors", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted({ host: "::1" })
      expect(connection.remoteHostname).toBe("[::1]:9999")
      yield* peer.closeWrite
      const closed = yield* connection.closed
      expect(closed.message.startsWith("[::1]:9999: ")).toBe(true)
      expect(Client.defaultRemote({ host: "fe80::1", port: 80 })).toBe("[fe80::1]:80")
      expect(Client.defaultRemote({ host: "node", tls: true })).toBe("node:443")
    }).pipe(Effect.scoped)
  )

  it.effect("replays the reference handshake: the client's packets match the vector field for field", () =>
    Effect.gen(function* () {
      const ends: Array<MemorySocket.MemorySocket> = []
      const packets = handshake.packets
      let commandId = 0
      const connecting = yield* Effect.forkChild(
        Client.connect({
          host: "node",
          hostname: "ncp-example",
          connectionUsername: "alice",
          connectionDomain: "lab",
          timeout: "30 seconds"
        }).pipe(Effect.provide(memoryTransport(ends)))
      )
      yield* Effect.yieldNow
      const peer = yield* scriptedPeer(must(ends[0]))
      let reply: Fiber.Fiber<Field.Field, unknown> | undefined
      for (const vector of packets) {
        if (vector.from === "server") {
          // The server's ACKN and reply answer the command by its id: the vector's id is the
          // reference client's, so renumber to the id our client gave the command.
          const packet = Result.getOrThrow(Json.toPacket(vector.decoded as unknown))
          const bytes =
            packet.type === "LINK"
              ? bytesOf(vector.hex)
              : Encoder.encodePacketOrThrow({ ...packet, fields: packet.fields.map((f) => ({ ...f, id: commandId })) })
          yield* peer.write(bytes)
          continue
        }
        if (vector.decoded.packet_type !== "LINK") {
          // The command: send it through the open connection, as the reference client did.
          const connection = yield* Fiber.join(connecting)
          const field = must(vector.decoded.fields[0])
          const params = Result.getOrThrow(Json.toPacket(vector.decoded as unknown)).fields[0]?.params ?? []
          reply = yield* Effect.forkChild(connection.request(vector.decoded.packet_type, field.name, params))
        }
        const { bytes, packet } = yield* peer.readFields
        commandId = must(packet.fields[0]).id
        const json = Json.fromPacket(packet)
        // Timestamps, the info bytes and field ids come from each sender's own clock, MAC and counter.
        const strip = (p: Json.PacketJson) => ({
          packet_type: p.packet_type,
          packet_id: p.packet_id,
          fields: p.fields.map((f) => ({ name: f.name, params: f.params }))
        })
        expect(JSON.parse(JSON.stringify(strip(json)))).toEqual(
          JSON.parse(JSON.stringify(strip(vector.decoded as unknown as Json.PacketJson)))
        )
        // Byte for byte, outside the timestamp, info and field id words.
        const mask = (hex: string) => {
          const b = bytesOf(hex)
          b.fill(0, 20, 32)
          b.fill(0, 40, 44)
          return hexOf(b)
        }
        expect(mask(hexOf(bytes))).toBe(mask(vector.hex))
      }
      // The client skipped the ACKN and got the reply.
      const received = yield* Fiber.join(must(reply))
      const last = must(packets[packets.length - 1])
      expect(JSON.parse(JSON.stringify(Json.fromField(received).params))).toEqual(
        JSON.parse(JSON.stringify(must(last.decoded.fields[0]).params))
      )
    }).pipe(Effect.scoped)
  )

  it.effect("a legacy node answering SCAR without LINK gives timeout 0 and a decode warning", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { connection } = yield* connectScripted({}, [])
      expect(connection.timeout).toBe(0)
      const warning = lines.find((line) => line.annotations.ncp === "DecodeWarning")
      expect(warning?.level).toBe("Warn")
      expect(warning?.annotations).toMatchObject({ packetType: "LINK", field: "SCAR", param: "LINK" })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("a node answering a different timeout is obeyed, with a TimeoutChanged warning", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { connection } = yield* connectScripted({ timeout: "30 seconds" }, [["LINK", { type: "i32", value: 20 }]])
      expect(connection.timeout).toBe(20)
      expect(lines.find((line) => line.annotations.ncp === "TimeoutChanged")?.annotations).toMatchObject({
        requested: 30,
        agreed: 20
      })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  for (const [requested, agreed] of [
    [0, 0],
    [1, 5],
    [4, 5],
    [5, 5],
    [60, 60],
    [61, 60],
    [3600, 60]
  ] as const) {
    it.effect(`the server clamps a requested timeout of ${requested} s to ${agreed} s`, () => {
      const lines: Array<LogLine> = []
      return Effect.gen(function* () {
        let serverTimeout: number | undefined
        const connection = yield* NcpTest.connect({
          handler: (c) => {
            serverTimeout = c.timeout
            return Effect.never
          },
          client: { timeout: `${requested} seconds` }
        })
        expect(connection.timeout).toBe(agreed)
        expect(serverTimeout).toBe(agreed)
        const changed = lines.filter((line) => line.annotations.ncp === "TimeoutChanged")
        // The server warns when it clamps; the client warns when the answer differs.
        expect(changed.length > 0).toBe(requested !== agreed)
      }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
    })
  }

  it.effect("a server reads an invalid LINK param as 0, with a decode warning", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      let serverTimeout: number | undefined
      const server = yield* NcpTest.make({
        handler: (c) => {
          serverTimeout = c.timeout
          return Effect.never
        }
      })
      const peer = yield* scriptedPeer(yield* server.connectSocket)
      yield* peer.readFields // HELO
      yield* peer.send("LINK", "CCRE", 1, { CIW: "raw", CUSR: "u", CDOM: "", LINK: "sixty" })
      const scar = yield* peer.readFields
      expect(Field.get(must(scar.packet.fields[0]), "LINK")).toBe(0)
      yield* peer.send("LINK", "CARE", 2, { CAR: "raw" })
      yield* peer.readFields // SCON
      yield* Effect.yieldNow
      expect(serverTimeout).toBe(0)
      expect(lines.find((line) => line.annotations.ncp === "DecodeWarning")?.annotations).toMatchObject({
        field: "CCRE",
        param: "LINK"
      })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("fields that arrive during the handshake and are not the expected one are skipped", () =>
    Effect.gen(function* () {
      const ends: Array<MemorySocket.MemorySocket> = []
      const connecting = yield* Effect.forkChild(
        Client.connect({ host: "node", timeout: "30 seconds" }).pipe(Effect.provide(memoryTransport(ends)))
      )
      yield* Effect.yieldNow
      const peer = yield* scriptedPeer(must(ends[0]))
      yield* peer.send("STAT", "STAT", 9, { OCON: 1 })
      yield* scriptedHandshake(peer)
      const connection = yield* Fiber.join(connecting)
      expect(connection.timeout).toBe(30)
    }).pipe(Effect.scoped)
  )

  it.effect("a field that arrives in the same chunk as SCON is delivered without waiting for more bytes", () =>
    Effect.gen(function* () {
      const ends: Array<MemorySocket.MemorySocket> = []
      const connecting = yield* Effect.forkChild(
        Client.connect({ host: "node", timeout: "30 seconds" }).pipe(Effect.provide(memoryTransport(ends)))
      )
      yield* Effect.yieldNow
      const peer = yield* scriptedPeer(must(ends[0]))
      yield* peer.send("LINK", "HELO", 0)
      yield* peer.readFields
      yield* peer.send("LINK", "SCAR", 1, [["LINK", { type: "i32", value: 30 }]])
      yield* peer.readFields
      const packet = (type: string, name: string, id: number, params: Field.ParamsInput = {}) =>
        Encoder.encodePacketOrThrow({
          type,
          id: 1,
          timestamp: { seconds: 0, nanos: 0 },
          fields: [{ name, id, params }]
        })
      const scon = packet("LINK", "SCON", 2)
      const stat = packet("STAT", "STAT", 9, { OK: 1 })
      const both = new Uint8Array(scon.length + stat.length)
      both.set(scon)
      both.set(stat, scon.length)
      yield* peer.write(both)
      yield* peer.closeWrite
      const connection = yield* Fiber.join(connecting)
      expect(Field.get(yield* connection.recv, "OK")).toBe(1)
      expect(yield* connection.closed).toMatchObject({ _tag: "ConnectionClosed" })
    }).pipe(Effect.scoped)
  )

  it.effect("a node that never says HELO times out after the configured timeout", () =>
    Effect.gen(function* () {
      const ends: Array<MemorySocket.MemorySocket> = []
      const connecting = yield* Effect.forkChild(
        Client.connect({ host: "node", timeout: "10 seconds" }).pipe(Effect.provide(memoryTransport(ends)))
      )
      const exit = yield* advanceUntilDone(connecting, 1000)
      expect(failureOf(exit)).toMatchObject({ _tag: "NetworkTimeout", seconds: 10 })
    }).pipe(Effect.scoped)
  )
})

describe("keep-alive and timeouts", () => {
  /** Counts keep-alive packets (LINK, no fields) the peer receives, in a background fiber. */
  const countKeepAlives = (peer: Effect.Success<ReturnType<typeof scriptedPeer>>) =>
    Effect.gen(function* () {
      const seen: Array<number> = []
      yield* Effect.forkChild(
        Effect.forever(
          Effect.flatMap(peer.read, ({ packet }) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.sync(() => {
                if (packet.type === "LINK" && packet.fields.length === 0) {
                  expect(packet.id).toBe(0)
                  expect(packet.timestamp.nanos).toBe(0)
                  seen.push(now)
                }
              })
            )
          )
        )
      )
      return seen
    })

  it.effect("legacy peer (timeout 0): a keep-alive at once, then every 3 s", () =>
    Effect.gen(function* () {
      const { peer } = yield* connectScripted({ timeout: 0 }, [["LINK", { type: "i32", value: 0 }]])
      const start = yield* Clock.currentTimeMillis
      const seen = yield* countKeepAlives(peer)
      for (let i = 0; i < 100; i++) yield* TestClock.adjust(100)
      expect(seen.map((t) => t - start)).toEqual([0, 3000, 6000, 9000])
    }).pipe(Effect.scoped)
  )

  it.effect("timeout 10: a keep-alive after floor(10 * 0.66) = 6 s of silence, pushed back by every send", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted({ timeout: "10 seconds" }, [
        ["LINK", { type: "i32", value: 10 }]
      ])
      const start = yield* Clock.currentTimeMillis
      const seen = yield* countKeepAlives(peer)
      // The peer keeps the connection alive from its side, or the client would time out at 10 s.
      const keepAlive = Encoder.encodePacketOrThrow({
        type: "LINK",
        id: 0,
        timestamp: { seconds: 0, nanos: 0 },
        fields: []
      })
      yield* Effect.forkChild(Effect.forever(Effect.andThen(Effect.sleep(5000), peer.write(keepAlive))))
      for (let i = 0; i < 40; i++) yield* TestClock.adjust(100) // t = 4 s
      yield* Effect.scoped(connection.send("DSPC", "NOOP")) // pushes the next keep-alive to t = 10 s
      for (let i = 0; i < 100; i++) yield* TestClock.adjust(100) // t = 14 s
      expect(seen.map((t) => t - start)).toEqual([10000])
    }).pipe(Effect.scoped)
  )

  it.effect("nothing received for T seconds fails waiting operations with NetworkTimeout", () =>
    Effect.gen(function* () {
      const { connection } = yield* connectScripted({ timeout: "10 seconds" }, [["LINK", { type: "i32", value: 10 }]])
      const waiting = yield* Effect.forkChild(connection.recv)
      const exit = yield* advanceUntilDone(waiting, 500, 60_000)
      expect(failureOf(exit)).toMatchObject({
        _tag: "NetworkTimeout",
        seconds: 10
      })
      expect(yield* Clock.currentTimeMillis).toBeLessThanOrEqual(12_000)
    }).pipe(Effect.scoped)
  )

  it.effect("keep-alives from the peer keep a quiet connection open", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted({ timeout: "10 seconds" }, [
        ["LINK", { type: "i32", value: 10 }]
      ])
      const keepAlive = Encoder.encodePacketOrThrow({
        type: "LINK",
        id: 0,
        timestamp: { seconds: 0, nanos: 0 },
        fields: []
      })
      const waiting = yield* Effect.forkChild(connection.recv)
      for (let second = 0; second < 60; second++) {
        if (second % 6 === 0) yield* peer.write(keepAlive)
        yield* TestClock.adjust(1000)
      }
      expect(waiting.pollUnsafe()).toBeUndefined()
      yield* peer.send("DSPC", "LATE", 77)
      const field = yield* Fiber.join(waiting)
      expect(field.name).toBe("LATE")
    }).pipe(Effect.scoped)
  )
})

describe("replies", () => {
  it.effect("concurrent Responses each get their own replies; the fields stream sees every field", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      const all: Array<string> = []
      yield* Effect.forkChild(
        connection.fields.pipe(Stream.runForEach((field) => Effect.sync(() => all.push(`${field.name}:${field.id}`))))
      )
      yield* Effect.yieldNow
      const sweep = yield* connection.send("DSPC", "SWEP", { FSTA: 1 })
      const time = yield* connection.send("DSPC", "TIME", { FCTR: 2 })
      const first = yield* peer.readFields
      const second = yield* peer.readFields
      const sweepId = must(first.packet.fields[0]).id
      const timeId = must(second.packet.fields[0]).id
      // Replies in the opposite order, plus one nobody asked for.
      yield* peer.send("DSPC", "TIME", timeId, { N: 1 })
      yield* peer.send("STAT", "STAT", 5, { OCON: 2 })
      yield* peer.send("DSPC", "SWEP", sweepId, { N: 2 })
      yield* peer.send("DSPC", "TIME", timeId, { N: 3 })
      const t1 = yield* time.recv
      const s1 = yield* sweep.recv
      const t2 = yield* time.recv
      expect([Field.get(t1, "N"), Field.get(s1, "N"), Field.get(t2, "N")]).toEqual([1, 2, 3])
      yield* Effect.yieldNow
      expect(all).toEqual([`TIME:${timeId}`, "STAT:5", `SWEP:${sweepId}`, `TIME:${timeId}`])
    }).pipe(Effect.scoped)
  )

  it.effect("recvField waits for its field and leaves the others queued", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      yield* peer.send("STAT", "GPS", 1, { LATI: 1 })
      yield* peer.send("STAT", "STAT", 2, { OCON: 1 })
      const stat = yield* connection.recvField("STAT", "STAT")
      expect(stat.id).toBe(2)
      const gps = yield* connection.recv
      expect(gps.name).toBe("GPS")
    }).pipe(Effect.scoped)
  )

  it.effect(
    "ACKN replies are skipped, WARN replies are logged and delivered, ERRO replies fail with CommandError",
    () => {
      const lines: Array<LogLine> = []
      return Effect.gen(function* () {
        const { connection, peer } = yield* connectScripted()
        const response = yield* connection.send("DSPC", "SWEP")
        const id = must((yield* peer.readFields).packet.fields[0]).id
        yield* peer.send("DSPC", "SWEP", id, { ACKN: 1 })
        yield* peer.send("DSPC", "SWEP", id, { WARN: "low battery", WARC: 7, N: 1 })
        yield* peer.send("DSPC", "SWEP", id, { ERRO: "bad range", ERRC: 400 })
        const warned = yield* response.recv
        expect(Field.get(warned, "N")).toBe(1)
        expect(lines.find((l) => l.annotations.ncp === "CommandWarning")?.annotations).toMatchObject({
          detail: "low battery",
          code: 7,
          field: "SWEP"
        })
        const error = yield* Effect.flip(response.recv)
        expect(error).toMatchObject({ _tag: "CommandError", detail: "bad range", code: 400, fieldName: "SWEP" })
      }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
    }
  )

  it.effect(
    "unread unsolicited fields beyond inboxCapacity drop the oldest, with a warning, and replies still flow",
    () => {
      const lines: Array<LogLine> = []
      return Effect.gen(function* () {
        const { connection, peer } = yield* connectScripted({ inboxCapacity: 4 })
        for (let i = 1; i <= 10; i++) yield* peer.send("STAT", "GPS", 1000 + i, { N: i })
        const response = yield* connection.send("DSPC", "SWEP")
        const id = must((yield* peer.readFields).packet.fields[0]).id
        yield* peer.send("DSPC", "SWEP", id, { N: 99 })
        expect(Field.get(yield* response.recv, "N")).toBe(99)
        const kept: Array<unknown> = []
        for (let i = 0; i < 4; i++) kept.push(Field.get(yield* connection.recv, "N"))
        expect(kept).toEqual([7, 8, 9, 10])
        const overflow = lines.filter((line) => line.annotations.ncp === "InboxOverflow")
        expect(overflow.map((line) => line.annotations.dropped)).toEqual([1, 2, 4])
      }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
    }
  )

  it.effect("unread unsolicited fields filling maxBufferedBytes do not hold back a large reply", () =>
    Effect.gen(function* () {
      const KiB = 1024
      const { connection, peer } = yield* connectScripted({ maxBufferedBytes: 256 * KiB })
      // 200 KiB of fields the program never reads, then a 160 KiB reply: together past the budget
      for (let i = 1; i <= 4; i++) yield* peer.send("STAT", "GPS", 1000 + i, { DATA: new Uint8Array(50 * KiB) })
      const response = yield* connection.send("DSPC", "TIME")
      const id = must((yield* peer.readFields).packet.fields[0]).id
      // the reply arrives split, as TCP delivers it: its header first, then the rest
      const bytes = Encoder.encodePacketOrThrow({
        type: "DSPC",
        id: 1,
        timestamp: { seconds: 0, nanos: 0 },
        fields: [{ name: "TIME", id, params: { DATA: new Uint8Array(160 * KiB) } }]
      })
      yield* peer.write(bytes.subarray(0, 4 * KiB))
      yield* peer.write(bytes.subarray(4 * KiB))
      const reply = yield* response.recv
      expect((Field.get(reply, "DATA") as Uint8Array).length).toBe(160 * KiB)
    }).pipe(Effect.scoped)
  )

  it.effect("with autoAckn off, ACKN replies are delivered", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted({ autoAckn: false })
      const response = yield* connection.send("DSPC", "SWEP")
      const id = must((yield* peer.readFields).packet.fields[0]).id
      yield* peer.send("DSPC", "SWEP", id, { ACKN: 1 })
      expect(Field.has(yield* response.recv, "ACKN")).toBe(true)
    }).pipe(Effect.scoped)
  )

  it.effect("a LINK ERRO fails whatever is waiting and ends the connection", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      const response = yield* connection.send("DSPC", "SWEP")
      const waiting = yield* Effect.forkChild(response.recv)
      yield* Effect.yieldNow
      yield* peer.send("LINK", "ERRO", 0, { ERRO: "Server error", ERRC: 500 })
      const error = yield* Effect.flip(Fiber.join(waiting))
      expect(error).toMatchObject({ _tag: "CommandError", code: 500, packetType: "LINK" })
      const ended = yield* connection.closed
      expect(ended._tag).toBe("CommandError")
      expect((yield* Effect.flip(Effect.scoped(connection.send("DSPC", "SWEP"))))._tag).toBe("CommandError")
    }).pipe(Effect.scoped)
  )

  it.effect("a peer closing between packets is a graceful ConnectionClosed; the fields stream ends", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      const collected = yield* Effect.forkChild(Stream.runCollect(connection.fields))
      yield* Effect.yieldNow
      yield* peer.send("STAT", "STAT", 1)
      yield* peer.closeWrite
      const fields = yield* Fiber.join(collected)
      expect(fields.map((f) => f.name)).toEqual(["STAT"])
      expect((yield* connection.closed)._tag).toBe("ConnectionClosed")
      expect((yield* Effect.flip(connection.recv))._tag).toBe("ConnectionClosed")
    }).pipe(Effect.scoped)
  )

  it.effect("a peer closing in the middle of a packet is a Truncated DecodeError", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      const bytes = Encoder.encodePacketOrThrow({
        type: "STAT",
        fields: [{ name: "STAT", id: 1, params: { OCON: 1 } }]
      })
      yield* peer.write(bytes.subarray(0, 30))
      yield* peer.closeWrite
      expect(yield* connection.closed).toMatchObject({ _tag: "DecodeError", reason: "Truncated" })
    }).pipe(Effect.scoped)
  )

  it.effect("bytes that are not a packet end the connection with a DecodeError", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      yield* peer.write(new Uint8Array(16).fill(0x41))
      const error = yield* connection.closed
      expect(error).toMatchObject({ _tag: "DecodeError", reason: "HeaderMagic" })
      expect((yield* Effect.flip(connection.recv))._tag).toBe("DecodeError")
    }).pipe(Effect.scoped)
  )
})

describe("server", () => {
  it.effect("a fields stream started after the inbox filled gets every field, the one held back included", () =>
    Effect.gen(function* () {
      const go = yield* Deferred.make<void>()
      const seen = yield* Deferred.make<ReadonlyArray<string>>()
      const late = (connection: Connection.Connection) =>
        Effect.andThen(
          Deferred.await(go),
          connection.fields.pipe(
            Stream.take(5),
            Stream.runCollect,
            Effect.flatMap((fields) =>
              Deferred.succeed(
                seen,
                [...fields].map((field) => field.name)
              )
            ),
            Effect.andThen(Effect.never)
          )
        )
      const connection = yield* NcpTest.connect({ handler: late, server: { bufferCapacity: 2 } })
      for (const name of ["A", "B", "C", "D", "E"]) yield* Effect.scoped(connection.send("DSPC", name))
      for (let i = 0; i < 20; i++) yield* Effect.yieldNow
      yield* Deferred.succeed(go, undefined)
      expect(yield* Deferred.await(seen)).toEqual(["A", "B", "C", "D", "E"])
    }).pipe(Effect.scoped)
  )

  it.effect("echoes over a real Server handler", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({ handler: echo })
      const reply = yield* connection.request("DSPC", "ECHO", { SEQN: 7, NAME: "x" })
      expect(Field.toRecord(reply)).toEqual({ SEQN: 7, NAME: "x" })
    }).pipe(Effect.scoped)
  )

  it.effect("a failing handler answers LINK ERRO 500, then closes", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({
        handler: (c) => Effect.flatMap(c.recv, () => Effect.fail(new Error("handler bug")))
      })
      const error = yield* Effect.flip(connection.request("DSPC", "SWEP"))
      expect(error).toMatchObject({ _tag: "CommandError", packetType: "LINK", fieldName: "ERRO", code: 500 })
      expect(error.message).toContain("Server error")
    }).pipe(Effect.scoped)
  )

  it.effect("a tunnel request dripped a byte a second is cut off at the server's timeout", () =>
    Effect.gen(function* () {
      const server = yield* NcpTest.make({
        handler: echo,
        server: { timeout: "10 seconds", authenticate: () => Effect.succeed(true) }
      })
      const client = yield* server.connectSocket
      const writer = yield* client.writer
      // done once the server has closed the connection: it read what came (a 401) until then
      const pull = (yield* client.reader).pull
      const cutOff = yield* Effect.forkChild(Effect.exit(Effect.forever(pull)))
      const request = new TextEncoder().encode(
        "CONNECT ncp.service HTTP/1.1\r\nProxy-Authorization: Basic Og==\r\n\r\n"
      )
      let sent = 0
      while (sent < request.length && cutOff.pollUnsafe() === undefined) {
        yield* writer.write(request.subarray(sent, sent + 1))
        sent++
        yield* TestClock.adjust(1000)
      }
      expect(cutOff.pollUnsafe()).toBeDefined()
      expect(sent).toBeLessThanOrEqual(11)
    }).pipe(Effect.scoped)
  )

  it.effect(
    "a tunnel request split anywhere, or dripped a byte at a time, with NCP right behind it, is read whole",
    () =>
      Effect.gen(function* () {
        const request = new TextEncoder().encode(
          "CONNECT ncp.service HTTP/1.1\r\nProxy-Authorization: Basic Og==\r\n\r\n"
        )
        const ccre = Encoder.encodePacketOrThrow({
          type: "LINK",
          fields: [{ name: "CCRE", id: 1, params: { CIW: "split", CUSR: "u", CDOM: "", LINK: 30 } }]
        })
        const bytes = new Uint8Array([...request, ...ccre])
        const splits: Array<ReadonlyArray<Uint8Array>> = [
          ...Array.from({ length: bytes.length + 1 }, (_, at) => [bytes.subarray(0, at), bytes.subarray(at)]),
          Array.from(bytes, (_, at) => bytes.subarray(at, at + 1))
        ]
        for (const chunks of splits) {
          yield* Effect.scoped(
            Effect.gen(function* () {
              const server = yield* NcpTest.make({
                handler: echo,
                server: { authenticate: () => Effect.succeed(true) }
              })
              const client = yield* server.connectSocket
              const writer = yield* client.writer
              // each chunk read on its own: the server runs between the writes
              for (const chunk of chunks) {
                if (chunk.length === 0) continue
                yield* writer.write(chunk)
                for (let i = 0; i < 5; i++) yield* Effect.yieldNow
              }
              // the answer's head, then HELO and SCAR: the server read CCRE from behind the head
              const reader = yield* client.reader
              let received = new Uint8Array(0)
              const text = () => new TextDecoder("latin1").decode(received)
              while (!text().includes("SCAR")) {
                for (const chunk of yield* reader.pull) {
                  const next = typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk
                  received = new Uint8Array([...received, ...next])
                }
              }
              expect(text().startsWith("HTTP/1.1 200")).toBe(true)
            })
          )
        }
      })
  )

  it.effect("garbage bytes from the client get LINK ERRO 400, then the connection closes", () =>
    Effect.gen(function* () {
      const peer = yield* connectScriptedClient(yield* NcpTest.make({ handler: echo }))
      yield* peer.write(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n"))
      const { packet } = yield* peer.readFields
      const field = must(packet.fields[0])
      expect([packet.type, field.name, Field.get(field, "ERRC"), Field.get(field, "ERRO")]).toEqual([
        "LINK",
        "ERRO",
        400,
        "Bad request"
      ])
      // then the server closes the connection
      yield* peer.untilClosed
    }).pipe(Effect.scoped)
  )
})
