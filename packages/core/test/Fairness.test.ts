/**
 * No client takes the server from the others (issue 23), in memory under `TestClock`: replies
 * generated only as fast as their bytes leave, idle and silent clients dropped, the packet rate
 * per connection, and the outbox writing large replies in slices so that a slow but steady
 * reader is told from one that stopped. The same mechanisms over real sockets are in
 * `packages/node/test/Fairness.test.ts`.
 */
import { assert, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Socket from "effect/socket/Socket"
import * as SocketServer from "effect/socket/SocketServer"
import { TestClock } from "effect/testing"
import {
  Client,
  CommandRouter,
  type Connection,
  type ConnectionError,
  Decoder,
  Encoder,
  Field,
  Framing,
  NcpCommand,
  type Packet,
  Server,
  Transport,
  WireSchema
} from "../src/index.js"
import { MemorySocket, NcpTest, SimulatedNode } from "../src/testing.js"

const KiB = 1024
const MiB = 1024 * KiB

// ---------------------------------------------------------------------------------------------
// Commands and handlers

/** A command answered with `SIZE` bytes of data: a large reply on demand. */
const Big = NcpCommand.make("DSPC", "BIG", {
  params: { SIZE: WireSchema.i32 },
  reply: { DATA: WireSchema.u8Array }
})

/**
 * A router of {@link Big} that counts the commands whose reply was asked for (`replyBytes`
 * runs before the reservation) and the replies generated (after it).
 */
const countingRouter = () => {
  const counts = { started: 0, generated: 0 }
  const handler = CommandRouter.toHandler(
    CommandRouter.make(
      CommandRouter.route(
        Big,
        ({ SIZE }) =>
          Effect.sync(() => {
            counts.generated++
            return { DATA: new Uint8Array(SIZE) }
          }),
        {
          replyBytes: ({ SIZE }) => {
            counts.started++
            return SIZE + 128
          }
        }
      )
    )
  )
  return { counts, handler }
}

const echo = (connection: Connection.Connection) =>
  connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params)))

/** `handler`, then why the connection ended, into `ended`. */
const recording =
  <E>(
    ended: Queue.Queue<ConnectionError.ConnectionError>,
    handler: (connection: Connection.Connection) => Effect.Effect<unknown, E>
  ) =>
  (connection: Connection.Connection) =>
    Effect.exit(handler(connection)).pipe(
      Effect.andThen(connection.closed),
      Effect.flatMap((reason) => Queue.offer(ended, reason))
    )

// ---------------------------------------------------------------------------------------------
// Waiting without the clock

/**
 * One turn of the real event loop: what the connection's reader yields to between packets and
 * decode steps, which `TestClock` does not wait for.
 */
const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/** Lets every fiber run until `condition` holds (at most `turns` event-loop turns). */
const settle = (what: string, condition: () => boolean, turns = 2000) =>
  Effect.gen(function* () {
    for (let i = 0; i < turns && !condition(); i++) yield* turn
    assert(condition(), `never happened: ${what}`)
  })

/** Lets every fiber run for a number of event-loop turns: whatever was going to happen, has. */
const quiesce = Effect.gen(function* () {
  for (let i = 0; i < 50; i++) yield* turn
})

/** Advances the clock by `total`, `step` at a time, letting the event loop turn between steps. */
const advance = (total: Duration.Input, step: Duration.Input = "100 millis") =>
  Effect.gen(function* () {
    const steps = Math.ceil(
      Duration.toMillis(Duration.fromInputUnsafe(total)) / Duration.toMillis(Duration.fromInputUnsafe(step))
    )
    for (let i = 0; i < steps; i++) {
      yield* TestClock.adjust(step)
      for (let k = 0; k < 3; k++) yield* turn
    }
  })

// ---------------------------------------------------------------------------------------------
// A raw client on a MemorySocket: the test speaks the protocol itself, packet by packet.

interface RawPeer {
  /** The next packet, keep-alives included; `undefined` once the server has closed the connection. */
  readonly readPacket: Effect.Effect<Packet.Packet | undefined>
  /** The next packet with a field called `name`; `undefined` once the connection is closed. */
  readonly readField: (name: string) => Effect.Effect<Packet.Packet | undefined>
  readonly write: (bytes: Uint8Array) => Effect.Effect<void>
  readonly send: (type: string, name: string, id: number, params?: Field.ParamsInput) => Effect.Effect<void>
}

const rawPeer = (server: NcpTest.InMemoryServer): Effect.Effect<RawPeer, never, Scope.Scope> =>
  Effect.gen(function* () {
    const socket = yield* server.connectSocket
    const reader = yield* Effect.orDie(socket.reader)
    const writer = yield* Effect.orDie(socket.writer)
    const framer = new Framing.PacketFramer()
    let closed = false
    const readPacket: Effect.Effect<Packet.Packet | undefined> = Effect.suspend(() => {
      const next = framer.next()
      if (next instanceof Uint8Array) return Effect.succeed(Decoder.decodePacketOrThrow(next).packet)
      if (next !== undefined) return Effect.die(next)
      if (closed) return Effect.succeed(undefined)
      return reader.pull.pipe(
        Effect.flatMap((chunks) =>
          Effect.sync(() => {
            for (const chunk of chunks) if (typeof chunk !== "string") framer.push(chunk)
          })
        ),
        Effect.catch(() =>
          Effect.sync(() => {
            closed = true
          })
        ),
        Effect.andThen(readPacket)
      )
    })
    const readField = (name: string): Effect.Effect<Packet.Packet | undefined> =>
      Effect.flatMap(readPacket, (packet) =>
        packet === undefined || packet.fields.some((field) => field.name === name)
          ? Effect.succeed(packet)
          : readField(name)
      )
    const write = (bytes: Uint8Array) => Effect.orDie(writer.write(bytes))
    const send = (type: string, name: string, id: number, params: Field.ParamsInput = {}) =>
      write(Encoder.encodePacketOrThrow({ type, fields: [{ name, id, params }] }).slice())
    return { readPacket, readField, write, send }
  })

const fieldOf = (packet: Packet.Packet | undefined, name: string): Field.Field => {
  const field = packet?.fields.find((candidate) => candidate.name === name)
  assert(field !== undefined, `no ${name} field`)
  return field
}

/** The client's half of the handshake, asking for `link` seconds; the timeout the server agreed. */
const handshake = (peer: RawPeer, link: number) =>
  Effect.gen(function* () {
    yield* peer.readField("HELO")
    yield* peer.send("LINK", "CCRE", 1, { CIW: "fairness", CUSR: "test", CDOM: "", LINK: link })
    const scar = yield* peer.readField("SCAR")
    yield* peer.send("LINK", "CARE", 2, { CAR: "fairness" })
    yield* peer.readField("SCON")
    return Field.get(fieldOf(scar, "SCAR"), "LINK")
  })

const keepAlive = (): Uint8Array => Encoder.encodePacketOrThrow({ type: "LINK", id: 0, fields: [] }).slice()

/** Packets back to back, as one write. */
const concat = (packets: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(packets.reduce((sum, packet) => sum + packet.length, 0))
  let offset = 0
  for (const packet of packets) {
    out.set(packet, offset)
    offset += packet.length
  }
  return out
}

// ---------------------------------------------------------------------------------------------

describe("replies wait for room before they are generated", () => {
  it.effect(
    "while the node is silenced (its clients read nothing), 1 MiB replies are generated one per connection and two across the server's total; resumed, every one arrives",
    () =>
      Effect.gen(function* () {
        const size = MiB
        const { counts, handler } = countingRouter()
        const server = yield* NcpTest.make({
          handler,
          // room for two replies in all; a connection's own budget holds one alone
          server: { maxWriteBufferBytes: 64 * KiB, maxTotalWriteBufferBytes: 2 * size + 4 * KiB }
        })
        const clients = yield* Effect.forEach([1, 2, 3], () => server.connect())
        yield* server.silence
        const responses = yield* Effect.forEach(clients, (connection) =>
          Effect.forEach([1, 2, 3], () => connection.send("DSPC", "BIG", { SIZE: size }))
        )
        // every command has started (within the router's 4 per connection) and asked for room
        yield* settle("every command started", () => counts.started === 9)
        yield* quiesce
        expect(counts.generated).toBe(2)

        yield* server.resume
        for (const connectionResponses of responses) {
          for (const response of connectionResponses) {
            const data = Field.get(yield* response.recv, "DATA")
            assert(data instanceof Uint8Array)
            expect(data.length).toBe(size)
          }
        }
        expect(counts.generated).toBe(9)
      })
  )

  it.effect("a server shuts down while a handler waits for room in reserveOutgoing (its client reads nothing)", () =>
    Effect.gen(function* () {
      const { counts, handler } = countingRouter()
      const scope = yield* Scope.make()
      const server = yield* NcpTest.make({ handler, server: { maxWriteBufferBytes: 64 * KiB } }).pipe(
        Scope.provide(scope)
      )
      // the client outlives the server
      const connection = yield* server.connect()
      yield* server.silence
      // the first reply is outstanding (the client reads nothing); the second waits for room
      yield* connection.send("DSPC", "BIG", { SIZE: MiB })
      yield* connection.send("DSPC", "BIG", { SIZE: MiB })
      yield* settle("both commands started", () => counts.started === 2 && counts.generated === 1)
      // the server stops (its shutdown grace is 0 here): the waiting handler is interrupted
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* advance("30 seconds", "1 second")
      yield* settle("the server closed", () => closing.pollUnsafe() !== undefined)
      expect(counts.generated).toBe(1)
    })
  )

  it.effect("Connection.reserveOutgoing waits while the connection's outstanding bytes hold its budget", () =>
    Effect.gen(function* () {
      const reserved: Array<number> = []
      const server = yield* NcpTest.make({
        handler: (connection) =>
          connection.fields.pipe(
            Stream.runForEach((field) =>
              Effect.scoped(
                Effect.andThen(
                  connection.reserveOutgoing(256 * KiB),
                  Effect.andThen(
                    Effect.sync(() => reserved.push(field.id)),
                    field.reply({ DATA: new Uint8Array(256 * KiB) })
                  )
                )
              )
            )
          ),
        server: { maxWriteBufferBytes: 64 * KiB }
      })
      const connection = yield* server.connect()
      yield* server.silence
      const first = yield* connection.send("DSPC", "DATA")
      const second = yield* connection.send("DSPC", "DATA")
      yield* settle("the first reservation", () => reserved.length === 1)
      yield* quiesce
      // the first reply is outstanding (the socket has not taken it): the second waits
      expect(reserved).toEqual([first.fieldId])
      yield* server.resume
      yield* first.recv
      yield* second.recv
      expect(reserved).toEqual([first.fieldId, second.fieldId])
    })
  )
})

describe("idle and silent clients", () => {
  it.effect("a client sending only keep-alives is closed maxIdleSeconds after its last command", () =>
    Effect.gen(function* () {
      const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
      const server = yield* NcpTest.make({
        handler: recording(ended, SimulatedNode.handler),
        server: { maxIdleSeconds: 10 }
      })
      // agreed 5 s: keep-alives both ways every 3 s
      const connection = yield* server.connect({ timeout: "5 seconds" })
      yield* advance("9 seconds", "1 second")
      yield* connection.request("STAT", "STAT")
      // 9 s more: 18 s open, 9 s since the command
      yield* advance("9 seconds", "1 second")
      expect(yield* Queue.size(ended)).toBe(0)
      yield* connection.request("STAT", "STAT")
      // then nothing but keep-alives
      yield* advance("11 seconds", "1 second")
      expect(yield* Queue.take(ended)).toMatchObject({ _tag: "NetworkTimeout", during: "waiting for a command" })
      expect(yield* connection.closed).toMatchObject({ _tag: "ConnectionClosed" })
    })
  )

  it.effect("maxIdleSeconds 0 keeps a client with keep-alives only open", () =>
    Effect.gen(function* () {
      const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
      const server = yield* NcpTest.make({
        handler: recording(ended, SimulatedNode.handler),
        server: { maxIdleSeconds: 0 }
      })
      const connection = yield* server.connect({ timeout: "5 seconds" })
      yield* advance("60 seconds", "1 second")
      expect(yield* Queue.size(ended)).toBe(0)
      expect(Field.get(yield* connection.request("STAT", "STAT"), "STAT")).toBe("OK")
    })
  )

  it.effect("a client that agreed LINK=0 and sends nothing is dropped at maxSilentSeconds, not before", () =>
    Effect.gen(function* () {
      const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
      const server = yield* NcpTest.make({ handler: recording(ended, echo), server: { maxSilentSeconds: 5 } })
      const peer = yield* rawPeer(server)
      expect(yield* handshake(peer, 0)).toBe(0)
      yield* advance("4 seconds")
      expect(yield* Queue.size(ended)).toBe(0)
      yield* advance("1 second")
      expect(yield* Queue.take(ended)).toMatchObject({
        _tag: "NetworkTimeout",
        seconds: 5,
        during: "waiting for the next packet"
      })
      // the server closed: the raw client reads the keep-alives it sent, then the end
      let packet = yield* peer.readPacket
      while (packet !== undefined) {
        expect([packet.type, packet.fields.length]).toEqual(["LINK", 0])
        packet = yield* peer.readPacket
      }
    })
  )

  it.effect("a legacy client (LINK=0) sending keep-alives every 3 s stays past maxSilentSeconds", () =>
    Effect.gen(function* () {
      const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
      const server = yield* NcpTest.make({
        handler: recording(ended, SimulatedNode.handler),
        server: { maxSilentSeconds: 5 }
      })
      const connection = yield* server.connect({ timeout: 0 })
      expect(connection.timeout).toBe(0)
      yield* advance("30 seconds", "1 second")
      expect(yield* Queue.size(ended)).toBe(0)
      expect(Field.get(yield* connection.request("STAT", "STAT"), "STAT")).toBe("OK")
    })
  )

  it.effect("a client that agreed 60 s but sends nothing is dropped at maxSilentSeconds when that is shorter", () =>
    Effect.gen(function* () {
      const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
      const server = yield* NcpTest.make({ handler: recording(ended, echo), server: { maxSilentSeconds: 10 } })
      const peer = yield* rawPeer(server)
      expect(yield* handshake(peer, 60)).toBe(60)
      yield* advance("9 seconds", "1 second")
      expect(yield* Queue.size(ended)).toBe(0)
      yield* advance("1 second")
      expect(yield* Queue.take(ended)).toMatchObject({ _tag: "NetworkTimeout", seconds: 10 })
    })
  )
})

describe("packet rate", () => {
  it.effect("at maxPacketsPerSecond 10, 30 pipelined commands are answered 10 at once, then 10 a second", () =>
    Effect.gen(function* () {
      const server = yield* NcpTest.make({ handler: echo, server: { maxPacketsPerSecond: 10 } })
      const peer = yield* rawPeer(server)
      yield* handshake(peer, 60)
      yield* peer.write(
        concat(
          Array.from({ length: 30 }, (_, i) =>
            Encoder.encodePacketOrThrow({
              type: "DSPC",
              fields: [{ name: "ECHO", id: i + 1, params: { N: i } }]
            }).slice()
          )
        )
      )
      const ids: Array<number> = []
      yield* Effect.forkChild(
        Effect.forever(Effect.map(peer.readField("ECHO"), (packet) => ids.push(fieldOf(packet, "ECHO").id)))
      )
      yield* settle("the first second's worth", () => ids.length >= 10)
      yield* quiesce
      expect(ids.length).toBe(10)
      yield* advance("1 second")
      expect(ids.length).toBeGreaterThanOrEqual(19)
      expect(ids.length).toBeLessThanOrEqual(21)
      yield* advance("1 second")
      expect(ids.length).toBe(30)
      // in order
      expect(ids).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    })
  )

  it.effect(
    "a keep-alive flood delays the flooder's own command by its rate, while another client is answered at once",
    () =>
      Effect.gen(function* () {
        const server = yield* NcpTest.make({ handler: echo, server: { maxPacketsPerSecond: 10 } })
        const flooder = yield* rawPeer(server)
        yield* handshake(flooder, 60)
        const other = yield* server.connect()
        // 25 keep-alives, then a command: the 26th packet, routed 1.6 s later
        yield* flooder.write(concat([...Array.from({ length: 25 }, keepAlive)]))
        yield* flooder.send("DSPC", "ECHO", 7, { N: 7 })
        let answered = false
        const reply = yield* Effect.forkChild(
          Effect.tap(flooder.readField("ECHO"), () =>
            Effect.sync(() => {
              answered = true
            })
          )
        )
        // the other client, no clock needed
        expect(Field.get(yield* other.request("DSPC", "ECHO", { N: 1 }), "N")).toBe(1)
        yield* quiesce
        expect(answered).toBe(false)
        yield* advance("1 second")
        expect(answered).toBe(false)
        yield* advance("1 second")
        expect(fieldOf(yield* Fiber.join(reply), "ECHO").id).toBe(7)
      })
  )
})

describe("connections per address", () => {
  it.effect(
    "without an AcceptedPeer every client counts as one unknown address: past maxConnectionsPerAddress, LINK ERRO 503",
    () =>
      Effect.gen(function* () {
        const server = yield* NcpTest.make({ server: { maxConnectionsPerAddress: 2 } })
        yield* server.connect()
        yield* server.connect()
        const error = yield* Effect.flip(server.connect())
        expect(error).toMatchObject({ _tag: "CommandError", code: 503 })
      })
  )
})

// ---------------------------------------------------------------------------------------------
// The outbox's slices, on a socket whose writes take time: `bytes / rate` per write, on the clock.

/**
 * A `SocketServer` over in-memory pairs whose server-side writes of `throttleFrom` bytes or more
 * sleep first: `delay(bytes)`. Smaller writes (the handshake, keep-alives) go at once. Every
 * throttled write's size goes into `writes`.
 */
const slowServer = (
  memory: MemorySocket.MemoryServer,
  delay: (bytes: number) => Duration.Duration,
  writes: Array<number>
) => {
  const throttleFrom = 4 * KiB
  const size = (chunk: Uint8Array | string) => (typeof chunk === "string" ? chunk.length : chunk.byteLength)
  const throttled = (bytes: number) =>
    bytes < throttleFrom
      ? Effect.void
      : Effect.andThen(
          Effect.sync(() => writes.push(bytes)),
          Effect.sleep(delay(bytes))
        )
  return SocketServer.SocketServer.of({
    address: memory.server.address,
    run: (handle) =>
      memory.server.run((socket) =>
        handle(
          Socket.make({
            reader: socket.reader,
            writer: Effect.map(socket.writer, (writer) => ({
              write: (chunk) =>
                Socket.isCloseEvent(chunk)
                  ? writer.write(chunk)
                  : Effect.andThen(throttled(size(chunk)), writer.write(chunk)),
              writeAll: (chunks) =>
                Effect.andThen(throttled(chunks.reduce((sum, chunk) => sum + size(chunk), 0)), writer.writeAll(chunks))
            }))
          })
        )
      )
  })
}

/** A server on `slowServer`, and a client of it that agreed `timeout` (its stall timeout too). */
const slowSetup = (delay: (bytes: number) => Duration.Duration, timeout: number) =>
  Effect.gen(function* () {
    const seconds = Duration.seconds(timeout)
    const memory = yield* MemorySocket.makeServer()
    const writes: Array<number> = []
    const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
    const { handler } = countingRouter()
    yield* Effect.forkScoped(
      Server.serve(recording(ended, handler), { timeout: seconds, shutdownGrace: 0 }).pipe(
        Effect.provideService(SocketServer.SocketServer, slowServer(memory, delay, writes))
      )
    )
    const transport = Transport.Transport.of({ connect: () => memory.connect, hostname: "test", username: "test" })
    const connection = yield* Client.connect({ host: "memory", timeout: seconds }).pipe(
      Effect.provideService(Transport.Transport, transport)
    )
    return { connection, writes, ended }
  })

describe("large replies go out in slices", () => {
  it.effect(
    "a 4 MiB reply read at 100 kB/s (42 s) completes under a 5 s stall timeout: each 256 KiB slice is taken in 2.6 s",
    () =>
      Effect.gen(function* () {
        const rate = 100_000
        const { connection, writes, ended } = yield* slowSetup((bytes) => Duration.millis((bytes * 1000) / rate), 5)
        const size = 4 * MiB
        const request = yield* Effect.forkChild(connection.request("DSPC", "BIG", { SIZE: size }))
        yield* advance("60 seconds", "200 millis")
        const data = Field.get(yield* Fiber.join(request), "DATA")
        assert(data instanceof Uint8Array)
        expect(data.length).toBe(size)
        // the reply went out in slices of at most 256 KiB, none of them stalled
        const slices = writes.filter((bytes) => bytes > 64 * KiB)
        expect(slices.length).toBeGreaterThanOrEqual(16)
        expect(Math.max(...slices)).toBeLessThanOrEqual(256 * KiB)
        expect(yield* Queue.size(ended)).toBe(0)
      })
  )

  it.effect("a single write stalled past the stall timeout drops the connection with NetworkTimeout", () =>
    Effect.gen(function* () {
      // the peer takes nothing for 10 s: longer than the agreed 5 s
      const { connection, ended } = yield* slowSetup(() => Duration.seconds(10), 5)
      const request = yield* Effect.forkChild(Effect.exit(connection.request("DSPC", "BIG", { SIZE: MiB })))
      yield* advance("6 seconds", "200 millis")
      expect(yield* Queue.take(ended)).toMatchObject({
        _tag: "NetworkTimeout",
        seconds: 5,
        during: "waiting for the peer to read what was sent"
      })
      yield* advance("10 seconds", "200 millis")
      const exit = yield* Fiber.join(request)
      expect(exit._tag).toBe("Failure")
    })
  )
})
