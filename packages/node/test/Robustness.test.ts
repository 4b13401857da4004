import * as V8 from "node:v8"
import * as Vm from "node:vm"
import { assert, describe, expect, it } from "@effect/vitest"
import { type Connection, Encoder, Field } from "@effect-ncp/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { failureOf } from "../../core/test/util.js"
import type { NodeNcp } from "../src/index.js"
import { connect, rawServer, serve } from "./harness.js"

// Adversarial peers over real sockets on the loopback interface: oversized packets, peers that
// stop reading or reset, slow consumers, interrupted requests, many clients. Every test runs on
// real time (it.live) and waits for events; no assertion depends on how long anything takes.

const MiB = 1024 * 1024

const echo = (connection: Connection.Connection) =>
  connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params)))

// Memory still held: buffers after a full garbage collection (garbage would hide or fake growth).
V8.setFlagsFromString("--expose-gc")
const gc = Vm.runInNewContext("gc") as () => void
const arrayBuffers = () => {
  gc()
  return process.memoryUsage().arrayBuffers
}

/** Connects a client to a raw server and runs the node's side of the handshake. */
const connectRaw = (options: Omit<NodeNcp.ConnectOptions, "host" | "port"> = {}) =>
  Effect.gen(function* () {
    const { port, accepted } = yield* rawServer
    const connecting = yield* Effect.forkChild(connect(port, options))
    const peer = yield* accepted
    yield* peer.handshake()
    const connection = yield* Fiber.join(connecting)
    return { peer, connection }
  })

/** A packet header (12 bytes) declaring `bytes` bytes: magic, type, size in words. */
const header = (type: string, bytes: number) => {
  const view = new DataView(new ArrayBuffer(12))
  view.setUint32(0, 0xaabbccdd, true)
  for (let i = 0; i < 4; i++) view.setUint8(4 + i, type.charCodeAt(i))
  view.setUint32(8, bytes / 4, true)
  return new Uint8Array(view.buffer)
}

// ---------------------------------------------------------------------------------------------

describe("hostile input", () => {
  it.live(
    "a declared 1 GiB packet fails the connection with DecodeError PacketTooLarge, allocating nothing like it",
    () =>
      Effect.gen(function* () {
        const { peer, connection } = yield* connectRaw()
        const before = arrayBuffers()
        const waiting = yield* Effect.forkChild(Effect.exit(connection.request("DSPC", "SWEP")))
        yield* peer.readField("SWEP")
        yield* peer.write(header("DSPC", 1024 * MiB))
        // and some of the body, as a real sender would
        yield* peer.write(new Uint8Array(64 * 1024))
        const error = failureOf(yield* Fiber.join(waiting))
        expect(error).toMatchObject({ _tag: "DecodeError", reason: "PacketTooLarge" })
        expect(yield* connection.closed).toMatchObject({ _tag: "DecodeError", reason: "PacketTooLarge" })
        expect(arrayBuffers() - before).toBeLessThan(32 * MiB)
      })
  )

  it.live("a peer sending HELO then garbage fails the handshake with a DecodeError", () =>
    Effect.gen(function* () {
      const { port, accepted } = yield* rawServer
      const connecting = yield* Effect.forkChild(Effect.exit(Effect.scoped(connect(port))))
      const peer = yield* accepted
      yield* peer.send("LINK", "HELO", 0)
      yield* peer.write("HTTP/1.1 400 Bad Request\r\n\r\n")
      const error = failureOf(yield* Fiber.join(connecting))
      expect(error).toMatchObject({ _tag: "DecodeError" })
    })
  )

  it.live("a TCP server that says nothing fails the handshake with NetworkTimeout after the 1 s timeout", () =>
    Effect.gen(function* () {
      const { port } = yield* rawServer
      const error = failureOf(yield* Effect.exit(Effect.scoped(connect(port, { timeout: "1 seconds" }))))
      expect(error).toMatchObject({ _tag: "NetworkTimeout", seconds: 1, during: "waiting for LINK HELO" })
    })
  )

  it.live(
    "a peer sending keep-alives but never HELO fails the handshake with NetworkTimeout after the 1 s timeout",
    () =>
      Effect.gen(function* () {
        const { port, accepted } = yield* rawServer
        const connecting = yield* Effect.forkChild(Effect.exit(Effect.scoped(connect(port, { timeout: "1 seconds" }))))
        const peer = yield* accepted
        // a keep-alive every 300 ms: no single wait for a packet reaches the timeout
        const keepAlive = Encoder.encodePacketOrThrow({ type: "LINK", id: 0, fields: [] })
        const timer = setInterval(() => peer.socket.write(keepAlive), 300)
        yield* Effect.addFinalizer(() => Effect.sync(() => clearInterval(timer)))
        const error = failureOf(yield* Fiber.join(connecting))
        expect(error).toMatchObject({ _tag: "NetworkTimeout", seconds: 1, during: "waiting for LINK HELO" })
      })
  )

  it.live("a TLS client to a peer that accepts TCP but never answers TLS fails after the connection timeout", () =>
    Effect.gen(function* () {
      const { port } = yield* rawServer
      const error = failureOf(yield* Effect.exit(Effect.scoped(connect(port, { tls: true, timeout: "1 seconds" }))))
      expect(error).toMatchObject({ _tag: "NetworkError", detail: "timed out connecting" })
    })
  )

  it.live("a peer resetting the connection fails a waiting request with NetworkError", () =>
    Effect.gen(function* () {
      const { peer, connection } = yield* connectRaw()
      const waiting = yield* Effect.forkChild(Effect.exit(connection.request("DSPC", "SWEP")))
      yield* peer.readField("SWEP")
      peer.socket.resetAndDestroy()
      const error = failureOf(yield* Fiber.join(waiting))
      expect(["NetworkError", "ConnectionClosed"]).toContain(error._tag)
      expect((yield* connection.closed)._tag).toBe(error._tag)
    })
  )
})

describe("backpressure", () => {
  it.live(
    "a slow server handler slows the sender: memory stays bounded and every field arrives in order",
    () =>
      Effect.gen(function* () {
        const count = 120
        const size = MiB
        let consumed = 0
        let peak = 0
        const received: Array<number> = []
        const done = yield* Deferred.make<void>()
        const { port } = yield* serve(
          (connection) =>
            connection.fields.pipe(
              Stream.runForEach((field) =>
                Effect.gen(function* () {
                  received.push(Field.get(field, "SEQN") as number)
                  if (consumed % 8 === 0) peak = Math.max(peak, arrayBuffers())
                  consumed++
                  if (consumed === count) yield* Deferred.succeed(done, undefined)
                  yield* Effect.sleep("2 millis")
                })
              )
            ),
          // 1 MiB commands: above the server's default packet limit
          { bufferCapacity: 4, maxPacketBytes: 2 * MiB, maxBufferedBytes: 4 * MiB }
        )
        const connection = yield* connect(port)
        const payload = new Uint8Array(size)
        const before = arrayBuffers()
        let maxLag = 0
        for (let i = 0; i < count; i++) {
          yield* Effect.scoped(connection.send("DSPC", "DATA", { SEQN: i, DATA: payload }))
          maxLag = Math.max(maxLag, i + 1 - consumed)
        }
        yield* Deferred.await(done)
        expect(received).toEqual(Array.from({ length: count }, (_, i) => i))
        // the sender was held back: it never got far ahead of the consumer
        expect(maxLag).toBeLessThan(count / 2)
        expect(peak - before).toBeLessThan(48 * MiB)
      }),
    // 120 MiB through a handler that sleeps per field: generous, for busy machines
    { timeout: 60_000 }
  )

  it.live(
    "a peer that stops reading makes sends wait; closing then fails the waiting send within bounded time",
    () =>
      Effect.gen(function* () {
        const { peer, connection } = yield* connectRaw()
        peer.socket.pause()
        const payload = new Uint8Array(MiB)
        const before = arrayBuffers()
        let sent = 0
        const sender = yield* Effect.forkChild(
          Effect.exit(
            Effect.forEach(
              Array.from({ length: 200 }, (_, i) => i),
              (i) =>
                Effect.tap(
                  // each send the first of its tick: written straight to the socket
                  Effect.andThen(
                    Effect.yieldNow,
                    Effect.scoped(connection.send("DSPC", "DATA", { SEQN: i, DATA: payload }))
                  ),
                  Effect.sync(() => {
                    sent++
                  })
                ),
              { discard: true }
            )
          )
        )
        // 200 MiB cannot all be handed over. Held back by nothing, the sender would be done in
        // 200 turns of the scheduler, one a send; twice that many turns later it is still waiting.
        for (let turn = 0; turn < 400; turn++) yield* Effect.yieldNow
        expect(sender.pollUnsafe()).toBeUndefined()
        expect(sent).toBeLessThan(100)
        expect(arrayBuffers() - before).toBeLessThan(100 * MiB)
        yield* connection.close
        // the close waits (up to 5 s) for the socket to drain, then aborts it: the send fails
        const error = failureOf(yield* Fiber.join(sender))
        expect(["NetworkError", "ConnectionClosed"]).toContain(error._tag)
      }),
    10000
  )
})

describe("interruption and routing", () => {
  // replies to SLOW only when `release` completes (completing `arrived` when SLOW does); every
  // field is handled in order
  const gated =
    (release: Deferred.Deferred<void>, arrived: Deferred.Deferred<void>) => (connection: Connection.Connection) =>
      connection.fields.pipe(
        Stream.runForEach((field) =>
          field.name === "SLOW"
            ? Deferred.succeed(arrived, undefined).pipe(
                Effect.andThen(Deferred.await(release)),
                Effect.andThen(field.reply({ LATE: 1 }))
              )
            : field.reply(field.params)
        )
      )

  it.live(
    "an interrupted request leaves the connection usable; its late reply goes to the inbox, not the next request",
    () =>
      Effect.gen(function* () {
        const release = yield* Deferred.make<void>()
        const arrived = yield* Deferred.make<void>()
        const { port } = yield* serve(gated(release, arrived))
        const connection = yield* connect(port)
        const request = yield* Effect.forkChild(connection.request("DSPC", "SLOW"))
        // interrupted once the node has it: its reply is held back, so it is still waiting
        yield* Deferred.await(arrived)
        yield* Fiber.interrupt(request)
        expect(Exit.hasInterrupts(yield* Fiber.await(request))).toBe(true)
        yield* Deferred.succeed(release, undefined)
        const reply = yield* connection.request("DSPC", "ECHO", { N: 5 })
        expect([reply.name, Field.get(reply, "N")]).toEqual(["ECHO", 5])
        const late = yield* connection.recv
        expect([late.name, Field.get(late, "LATE")]).toEqual(["SLOW", 1])
        expect(late.id).not.toBe(reply.id)
      })
  )

  it.live("an interrupted Response.recv leaves the connection usable; the late reply still reaches that Response", () =>
    Effect.gen(function* () {
      const release = yield* Deferred.make<void>()
      const arrived = yield* Deferred.make<void>()
      const { port } = yield* serve(gated(release, arrived))
      const connection = yield* connect(port)
      yield* Effect.scoped(
        Effect.gen(function* () {
          const response = yield* connection.send("DSPC", "SLOW")
          const recv = yield* Effect.forkChild(response.recv)
          // interrupted once the node has the command: its reply is held back, so recv is still waiting
          yield* Deferred.await(arrived)
          yield* Fiber.interrupt(recv)
          expect(Exit.hasInterrupts(yield* Fiber.await(recv))).toBe(true)
          yield* Deferred.succeed(release, undefined)
          const reply = yield* connection.request("DSPC", "ECHO", { N: 6 })
          expect([reply.name, Field.get(reply, "N")]).toEqual(["ECHO", 6])
          const late = yield* response.recv
          expect([late.name, late.id, Field.get(late, "LATE")]).toEqual(["SLOW", response.fieldId, 1])
        })
      )
    })
  )

  it.live("a Response released while routing waits on its full mailbox does not stall the connection", () =>
    Effect.gen(function* () {
      // BURS is answered with 20 replies at once
      const { port } = yield* serve((connection) =>
        connection.fields.pipe(
          Stream.runForEach((field) =>
            field.name === "BURS"
              ? Effect.forEach(
                  Array.from({ length: 20 }, (_, i) => i),
                  (i) => field.reply({ I: i }),
                  { discard: true }
                )
              : field.reply(field.params)
          )
        )
      )
      const connection = yield* connect(port, { bufferCapacity: 2 })
      const scope = yield* Scope.make()
      const response = yield* Scope.provide(connection.send("DSPC", "BURS"), scope)
      // the first reply arrived; the mailbox fills and routing waits
      expect(Field.get(yield* response.recv, "I")).toBe(0)
      yield* Scope.close(scope, Exit.void)
      const reply = yield* connection.request("DSPC", "ECHO", { N: 7 })
      expect(Field.get(reply, "N")).toBe(7)
    })
  )

  it.live("many packets written in one tick, then close: the server gets them all, in order", () =>
    Effect.gen(function* () {
      const received = yield* Deferred.make<ReadonlyArray<number>>()
      const { port } = yield* serve((connection) =>
        connection.fields.pipe(
          Stream.map((field) => Field.get(field, "SEQN") as number),
          Stream.runCollect,
          Effect.flatMap((all) => Deferred.succeed(received, all))
        )
      )
      const connection = yield* connect(port)
      yield* Effect.scoped(
        Effect.forEach(
          Array.from({ length: 1000 }, (_, i) => i),
          (i) => connection.send("DSPC", "SEQ", { SEQN: i, PAD: new Uint8Array(1024) }),
          { discard: true }
        )
      )
      yield* connection.close
      expect(yield* Deferred.await(received)).toEqual(Array.from({ length: 1000 }, (_, i) => i))
    })
  )
  it.live("replies a server handler writes just before it returns all reach the client, in order", () =>
    Effect.gen(function* () {
      // answers the first field with 1000 replies written in one go, then returns (closing)
      const { port } = yield* serve((connection) =>
        Effect.flatMap(connection.recv, (field) =>
          Effect.forEach(
            Array.from({ length: 1000 }, (_, i) => i),
            (i) => field.reply({ SEQN: i, PAD: new Uint8Array(1024) }),
            { discard: true }
          )
        )
      )
      const connection = yield* connect(port)
      const response = yield* connection.send("DSPC", "DUMP")
      const replies = yield* Stream.runCollect(response.fields)
      expect(replies.map((reply) => Field.get(reply, "SEQN"))).toEqual(Array.from({ length: 1000 }, (_, i) => i))
      expect((yield* connection.closed)._tag).toBe("ConnectionClosed")
    })
  )
})

describe("many clients and closing", () => {
  it.live("50 concurrent clients of one server, 20 requests each, all get their own replies", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(echo)
      const results = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, c) => c),
        (c) =>
          Effect.scoped(
            Effect.flatMap(connect(port), (connection) =>
              Effect.forEach(
                Array.from({ length: 20 }, (_, r) => r),
                (r) =>
                  Effect.map(connection.request("DSPC", "ECHO", { C: c, R: r }), (reply) => [
                    Field.get(reply, "C"),
                    Field.get(reply, "R")
                  ]),
                { concurrency: "unbounded" }
              )
            )
          ),
        { concurrency: "unbounded" }
      )
      results.forEach((replies, c) => {
        expect(replies).toEqual(Array.from({ length: 20 }, (_, r) => [c, r]))
      })
    })
  )

  it.live("close twice is fine, and close while fields is consumed ends the stream without error", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(echo)
      const connection = yield* connect(port)
      const consuming = yield* Effect.forkChild(Effect.exit(Stream.runCollect(connection.fields)))
      yield* connection.request("DSPC", "ECHO")
      yield* connection.close
      yield* connection.close
      const exit = yield* Fiber.join(consuming)
      assert(Exit.isSuccess(exit), "the fields stream ended with an error")
      expect((yield* connection.closed)._tag).toBe("ConnectionClosed")
    })
  )
})
