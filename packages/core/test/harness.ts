/**
 * Scripted peers: what the public test kit (`NcpTest`, `MemorySocket`) leaves to the tests that
 * need it, a peer the test drives byte by byte, as a node (handshake included, for testing the
 * client) or as a client of an in-memory server (for testing the server), all under
 * `TestClock`. A real client and a real server come from `NcpTest`.
 */
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Socket from "effect/socket/Socket"
import { TestClock } from "effect/testing"
import { Client, CodecError, type Connection, Decoder, Encoder, type Field, Framing, Transport } from "../src/index.js"
import * as MemorySocket from "../src/MemorySocket.js"
import type * as NcpTest from "../src/NcpTest.js"
import { must } from "./util.js"

/**
 * A Transport to a scripted node: `connect` hands out the client end of a fresh pair, and keeps
 * the node's end in `ends` for the test to drive (with {@link scriptedPeer}).
 */
export const memoryTransport = (ends: Array<MemorySocket.MemorySocket>) =>
  Layer.effect(
    Transport.Transport,
    Effect.succeed({
      connect: () =>
        Effect.map(MemorySocket.pair(), ([client, server]) => {
          ends.push(server)
          return client as Socket.Socket
        }),
      hostname: "test-host",
      username: "test-user"
    })
  )

/** A peer driven by the test: reads whole packets and writes packets or bytes. */
export const scriptedPeer = (socket: Socket.Socket) =>
  Effect.gen(function* () {
    const reader = yield* socket.reader
    const writerScope = yield* Scope.make()
    const writer = yield* socket.writer.pipe(Scope.provide(writerScope))
    const framer = new Framing.PacketFramer()
    const read = Effect.gen(function* () {
      for (;;) {
        const next = framer.next()
        if (next instanceof CodecError.DecodeError) return yield* Effect.die(next)
        if (next !== undefined) return { bytes: next, packet: Decoder.decodePacketOrThrow(next).packet }
        const chunks = yield* reader.pull
        for (const chunk of chunks) framer.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk)
      }
    })
    /** The next packet that has fields (keep-alives skipped). */
    const readFields = Effect.gen(function* () {
      for (;;) {
        const next = yield* read
        if (next.packet.fields.length > 0) return next
      }
    })
    const write = (bytes: Uint8Array) => writer.write(bytes)
    const send = (type: string, name: string, id: number, params: Field.ParamsInput = {}) =>
      write(
        Encoder.encodePacketOrThrow({
          type,
          id: 1,
          timestamp: { seconds: 0, nanos: 0 },
          fields: [{ name, id, params }]
        })
      )
    /** Closes the peer's sending direction: a graceful close, as TCP's FIN. */
    const closeWrite = Scope.close(writerScope, Exit.void)
    /** Reads, and drops, whatever comes until the other end closes the connection. */
    const untilClosed = Effect.gen(function* () {
      for (;;) if (Exit.isFailure(yield* Effect.exit(reader.pull))) return
    })
    return { read, readFields, write, send, framer, closeWrite, untilClosed }
  })

/** The server half of a handshake, scripted: HELO, read CCRE, SCAR with `agree`, read CARE, SCON. */
export const scriptedHandshake = (
  peer: Effect.Success<ReturnType<typeof scriptedPeer>>,
  agree: Field.ParamsInput = [["LINK", { type: "i32", value: 30 }]]
) =>
  Effect.gen(function* () {
    yield* peer.send("LINK", "HELO", 0)
    const ccre = yield* peer.readFields
    yield* peer.send("LINK", "SCAR", 1, agree)
    const care = yield* peer.readFields
    yield* peer.send("LINK", "SCON", 2)
    return { ccre, care }
  })

/** Runs time forward in steps until the fiber is done (one big step fires only sleeps already scheduled). */
export const advanceUntilDone = <A, E>(fiber: Fiber.Fiber<A, E>, stepMillis = 100, maxMillis = 600_000) =>
  Effect.gen(function* () {
    for (let elapsed = 0; elapsed < maxMillis; elapsed += stepMillis) {
      if (fiber.pollUnsafe() !== undefined) break
      yield* TestClock.adjust(stepMillis)
    }
    return yield* Fiber.await(fiber)
  })

/** A real client connected to a scripted node, which agreed `agree` in its SCAR; the node's end is `peer`. */
export const connectScripted = (options: Partial<Client.ClientOptions> = {}, agree?: Field.ParamsInput) =>
  Effect.gen(function* () {
    const ends: Array<MemorySocket.MemorySocket> = []
    const transport = memoryTransport(ends)
    const connecting = yield* Effect.forkChild(
      Client.connect({ host: "node", timeout: "30 seconds", ...options }).pipe(Effect.provide(transport))
    )
    yield* Effect.yieldNow
    const peer = yield* scriptedPeer(must(ends[0], "server end"))
    const { ccre, care } = yield* scriptedHandshake(peer, agree)
    const connection = yield* Fiber.join(connecting)
    return { connection, peer, ccre, care }
  })

/** A handler answering every field with its own params. */
export const echo = (connection: Connection.Connection) =>
  connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params)))

/** The client half of a handshake, scripted: read HELO, CCRE asking for `timeout`, read SCAR, CARE, read SCON. */
export const scriptedClientHandshake = (peer: Effect.Success<ReturnType<typeof scriptedPeer>>, timeout = 30) =>
  Effect.gen(function* () {
    const hello = yield* peer.readFields
    yield* peer.send("LINK", "CCRE", 1, [
      ["CIW", { type: "string", value: "scripted" }],
      ["CUSR", { type: "string", value: "test" }],
      ["CDOM", { type: "string", value: "" }],
      ["LINK", { type: "i32", value: timeout }]
    ])
    const scar = yield* peer.readFields
    yield* peer.send("LINK", "CARE", 2, [["CAR", { type: "string", value: "scripted" }]])
    const scon = yield* peer.readFields
    return { hello, scar, scon }
  })

/**
 * A raw connection to an in-memory server (`NcpTest.make`), driven by the test as a client
 * that has done the handshake, asking for `timeout`.
 */
export const connectScriptedClient = (server: NcpTest.InMemoryServer, timeout = 30) =>
  Effect.gen(function* () {
    const peer = yield* scriptedPeer(yield* server.connectSocket)
    yield* scriptedClientHandshake(peer, timeout)
    return peer
  })
