/**
 * What ends a connection when something goes wrong inside it: every fiber a connection or a
 * server forks ends the connection on any exit, defects included, and no wait outlives its
 * deadline.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import { TestClock } from "effect/testing"
import { Client, type Connection, Field, Server, Transport } from "../src/index.js"
import * as MemorySocket from "../src/MemorySocket.js"
import { NcpTest } from "../src/testing.js"
import { advanceUntilDone, connectScripted, echo, scriptedClientHandshake, scriptedPeer } from "./harness.js"
import { capturingLogger, failureOf, type LogLine, must } from "./util.js"

/**
 * Bytes whose `length` throws: handed to a connection's reader as a socket chunk, they make the
 * first decoding step throw, as a decoder bug would.
 */
const explodingChunk = (): Uint8Array => {
  const bytes = new Uint8Array(40)
  Object.defineProperty(bytes, "length", {
    get: () => {
      throw new RangeError("injected decoder failure")
    }
  })
  return bytes
}

const errorLines = (lines: ReadonlyArray<LogLine>) => lines.filter((line) => line.level === "Error")

/** `socket`, whose writer throws (as a writer bug would) from its write after the first `writes`. */
const throwingAfter = (socket: Socket.Socket, writes: number): Socket.Socket => {
  let written = 0
  return Socket.make({
    reader: socket.reader,
    writer: Effect.map(socket.writer, (writer) => ({
      write: (chunk: Uint8Array | string | Socket.CloseEvent) => {
        if (!Socket.isCloseEvent(chunk) && ++written > writes) throw new RangeError("injected writer failure")
        return writer.write(chunk)
      },
      writeAll: writer.writeAll
    }))
  })
}

/**
 * `Server.serve` over an in-memory `SocketServer` whose accepted sockets pass through `wrap`
 * (to make one whose writer throws): raw client sockets from `connect`, real clients through
 * `transport`. `handled` completes once the server is done with its first connection, every
 * log line of it written.
 */
const serveInMemory = <E>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E>,
  wrap: (socket: Socket.Socket) => Socket.Socket = (socket) => socket
) =>
  Effect.gen(function* () {
    const memory = yield* MemorySocket.makeServer()
    const handled = yield* Deferred.make<void>()
    const server = SocketServer.SocketServer.of({
      address: memory.server.address,
      run: (handle) =>
        memory.server.run((socket) => Effect.ensuring(handle(wrap(socket)), Deferred.succeed(handled, undefined)))
    })
    yield* Effect.forkScoped(
      Server.serve(handler, { shutdownGrace: 0 }).pipe(Effect.provideService(SocketServer.SocketServer, server))
    )
    const transport = Transport.Transport.of({
      connect: () => memory.connect,
      hostname: "test-host",
      username: "test-user"
    })
    return { connect: memory.connect, transport, handled: Deferred.await(handled) }
  })

describe("every fiber accounted for", () => {
  it.effect("a decoding step that throws ends a client's connection: the waiting request fails with the cause", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      const waiting = yield* Effect.forkChild(Effect.exit(connection.request("DSPC", "SWEP")))
      yield* peer.readFields
      yield* peer.write(explodingChunk())
      const error = failureOf(yield* Fiber.join(waiting))
      expect(error).toMatchObject({ _tag: "ConnectionDefect", remote: "node:9999" })
      expect(error._tag === "ConnectionDefect" && error.cause).toBeInstanceOf(RangeError)
      expect(yield* connection.closed).toBe(error)
      // logged once, at Error level, with the remote
      expect(errorLines(lines)).toHaveLength(1)
      expect(must(errorLines(lines)[0]).annotations).toMatchObject({ ncp: "ConnectionDefect", remote: "node:9999" })
      // and the fields stream fails too instead of waiting
      const streamed = yield* Effect.exit(Stream.runDrain(connection.fields))
      expect(failureOf(streamed)).toBe(error)
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("a decoding step that throws on a server answers LINK ERRO 500 and ends that connection", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { connect, handled } = yield* serveInMemory(echo)
      const peer = yield* scriptedPeer(yield* connect)
      yield* scriptedClientHandshake(peer)
      yield* peer.write(explodingChunk())
      const { packet } = yield* peer.readFields
      expect(packet.type).toBe("LINK")
      const erro = must(packet.fields[0])
      expect(erro.name).toBe("ERRO")
      expect(Field.toRecord(erro)).toEqual({ ERRO: "Server error", ERRC: 500 })
      yield* handled
      expect(errorLines(lines)).toHaveLength(1)
      expect(must(errorLines(lines)[0]).annotations).toMatchObject({ ncp: "ConnectionDefect", node: "scripted" })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("a handler that throws before returning an Effect gets LINK ERRO 500, logged as a handler failure", () => {
    const lines: Array<LogLine> = []
    const throwing = (_: Connection.Connection): Effect.Effect<void> => {
      throw new Error("handler bug")
    }
    return Effect.gen(function* () {
      const { transport, handled } = yield* serveInMemory(throwing)
      const connection = yield* Client.connect({ host: "node", timeout: "30 seconds" }).pipe(
        Effect.provideService(Transport.Transport, transport)
      )
      const closed = yield* connection.closed
      expect(closed).toMatchObject({ _tag: "CommandError", packetType: "LINK", fieldName: "ERRO", code: 500 })
      yield* handled
      expect(lines.filter((line) => line.annotations.ncp === "HandlerFailed")).toHaveLength(1)
      expect(lines.some((line) => line.message.includes("before the handshake"))).toBe(false)
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("a handler whose Effect dies gets LINK ERRO 500", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({ handler: () => Effect.die(new Error("handler bug")) })
      expect(yield* connection.closed).toMatchObject({ _tag: "CommandError", code: 500 })
    }).pipe(Effect.scoped, Effect.provide(capturingLogger([])))
  )

  it.effect("a socket writer that throws ends the connection with ConnectionDefect instead of hanging", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      // The client's socket writer throws from its third write on: after CCRE and CARE.
      const ends: Array<MemorySocket.MemorySocket> = []
      const transport = Layer.succeed(Transport.Transport)({
        connect: () =>
          Effect.map(MemorySocket.pair(), ([client, server]) => {
            ends.push(server)
            return throwingAfter(client, 2)
          }),
        hostname: "test-host",
        username: "test-user"
      })
      const connecting = yield* Effect.forkChild(
        Client.connect({ host: "node", timeout: "30 seconds" }).pipe(Effect.provide(transport))
      )
      yield* Effect.yieldNow
      const peer = yield* scriptedPeer(must(ends[0]))
      yield* peer.send("LINK", "HELO", 0)
      yield* peer.readFields
      yield* peer.send("LINK", "SCAR", 1, [["LINK", { type: "i32", value: 30 }]])
      yield* peer.readFields
      yield* peer.send("LINK", "SCON", 2)
      const connection = yield* Fiber.join(connecting)
      const error = failureOf(yield* Effect.exit(connection.request("DSPC", "SWEP")))
      expect(error).toMatchObject({ _tag: "ConnectionDefect" })
      expect(error._tag === "ConnectionDefect" && error.cause).toBeInstanceOf(RangeError)
      expect(errorLines(lines)).toHaveLength(1)
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect(
    "a writer that throws breaks the connection with one error: later writes fail with the error it ended with, logged once",
    () => {
      const lines: Array<LogLine> = []
      return Effect.gen(function* () {
        const seen = Deferred.makeUnsafe<{ readonly write: unknown; readonly closed: unknown }>()
        const handler = (connection: Connection.Connection) =>
          Effect.gen(function* () {
            const field = yield* connection.recv
            yield* Effect.exit(field.reply({ N: 1 })) // the write that throws
            const write = failureOf(yield* Effect.exit(field.reply({ N: 2 })))
            const closed = yield* connection.closed
            yield* Deferred.succeed(seen, { write, closed })
          })
        // The server's writer throws from its fourth write on: after HELO, SCAR and SCON.
        const { connect, handled } = yield* serveInMemory(handler, (socket) => throwingAfter(socket, 3))
        const peer = yield* scriptedPeer(yield* connect)
        yield* scriptedClientHandshake(peer)
        yield* peer.send("DSPC", "SWEP", 3, { N: 0 })
        const { write, closed } = yield* Deferred.await(seen)
        expect(closed).toMatchObject({ _tag: "ConnectionDefect" })
        expect(write).toBe(closed)
        yield* handled
        expect(errorLines(lines)).toHaveLength(1)
        expect(must(errorLines(lines)[0]).annotations).toMatchObject({ ncp: "ConnectionDefect" })
      }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
    }
  )
})

describe("the accept loop", () => {
  it.effect("an accept loop that fails fails serve, closing the connections it had, instead of leaving it up", () =>
    Effect.gen(function* () {
      // A SocketServer whose accept loop dies once a connection is being served.
      const { server, connect } = yield* MemorySocket.makeServer()
      const broken = Deferred.makeUnsafe<void>()
      const failing = SocketServer.SocketServer.of({
        address: server.address,
        run: (handler) =>
          Effect.raceFirst(
            server.run(handler),
            Effect.andThen(
              Deferred.await(broken),
              Effect.fail(
                new SocketServer.SocketServerError({
                  reason: new SocketServer.SocketServerUnknownError({ cause: new Error("accept failed") })
                })
              )
            )
          )
      })
      const serving = yield* Effect.forkChild(
        Server.serve(echo).pipe(Effect.provideService(SocketServer.SocketServer, failing))
      )
      const peer = yield* scriptedPeer(yield* connect)
      yield* scriptedClientHandshake(peer)
      Deferred.doneUnsafe(broken, Effect.void)
      const exit = yield* Fiber.await(serving)
      expect(failureOf(exit)).toMatchObject({ _tag: "SocketServerError" })
      // the connection it served was closed with it
      expect(Exit.isFailure(yield* Effect.exit(peer.readFields))).toBe(true)
    }).pipe(Effect.scoped)
  )
})

describe("request deadlines", () => {
  it.effect("a request with a timeout fails with NetworkTimeout naming the command; the connection stays open", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted()
      const waiting = yield* Effect.forkChild(
        Effect.exit(connection.request("DSPC", "SWEP", {}, { timeout: "5 seconds" }))
      )
      yield* peer.readFields
      yield* TestClock.adjust(4999)
      expect(waiting.pollUnsafe()).toBeUndefined()
      yield* TestClock.adjust(1)
      expect(failureOf(yield* Fiber.join(waiting))).toMatchObject({
        _tag: "NetworkTimeout",
        seconds: 5,
        command: "DSPC SWEP",
        remote: "node:9999"
      })
      // still open: the next request gets its reply
      const next = yield* Effect.forkChild(connection.request("STAT", "STAT", {}, { timeout: "5 seconds" }))
      const { packet } = yield* peer.readFields
      yield* peer.send("STAT", "STAT", must(packet.fields[0]).id, { OK: 1 })
      expect(Field.get(yield* Fiber.join(next), "OK")).toBe(1)
    }).pipe(Effect.scoped)
  )

  it.effect("requestTimeout is the default for request and for each recv of a Response", () =>
    Effect.gen(function* () {
      const { connection, peer } = yield* connectScripted({ requestTimeout: "2 seconds" })
      const request = yield* Effect.forkChild(connection.request("DSPC", "TIME"))
      yield* peer.readFields
      const requestExit = yield* advanceUntilDone(request, 500)
      expect(failureOf(requestExit)).toMatchObject({ _tag: "NetworkTimeout", command: "DSPC TIME", seconds: 2 })

      const response = yield* connection.send("DSPC", "SWEP")
      const { packet } = yield* peer.readFields
      yield* peer.send("DSPC", "SWEP", must(packet.fields[0]).id, { N: 1 })
      expect(Field.get(yield* response.recv, "N")).toBe(1)
      const second = yield* Effect.forkChild(response.recv)
      const secondExit = yield* advanceUntilDone(second, 500)
      expect(failureOf(secondExit)).toMatchObject({ _tag: "NetworkTimeout", command: "DSPC SWEP" })
      // a per-call timeout overrides the default
      const patient = yield* Effect.forkChild(
        Effect.exit(connection.request("DSPC", "SLOW", {}, { timeout: "1 minute" }))
      )
      // (well past the 2 s default, short of the connection's 30 s receive timeout)
      yield* TestClock.adjust(20_000)
      expect(patient.pollUnsafe()).toBeUndefined()
    }).pipe(Effect.scoped)
  )
})
