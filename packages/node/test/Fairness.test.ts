/**
 * No client takes the server from the others (issue 23), over real sockets on the loopback
 * interface. A second source address (127.0.0.2) stands for another client. Every test runs on
 * real time (it.live) and waits for events; the assertions count connections, replies, bytes
 * and drops, never how long anything took.
 */
import * as Net from "node:net"
import { assert, describe, expect, it } from "@effect/vitest"
import {
  CommandRouter,
  type Connection,
  type ConnectionError,
  Encoder,
  Field,
  NcpCommand,
  type Packet,
  WireSchema
} from "@effect-ncp/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { NodeListener } from "../src/index.js"
import { HOST, RawPeer, serve } from "./harness.js"

const MiB = 1024 * 1024
/** Another client: a second source address on the loopback interface. */
const OTHER = "127.0.0.2"

// ---------------------------------------------------------------------------------------------
// Raw clients: `node:net` sockets speaking the handshake bytes, from a chosen source address.

/** A raw connection to the server from `localAddress`, destroyed with the scope. */
const rawFrom = (port: number, localAddress = HOST) =>
  Effect.acquireRelease(
    Effect.callback<RawPeer>((resume) => {
      const socket = Net.connect({ host: HOST, port, localAddress, noDelay: true })
      socket.once("connect", () => resume(Effect.succeed(new RawPeer(socket))))
      socket.once("error", (error) => resume(Effect.die(error)))
    }),
    (peer) => Effect.sync(() => peer.socket.destroy())
  )

const fieldOf = (packet: Packet.Packet, name: string): Field.Field => {
  const field = packet.fields.find((candidate) => candidate.name === name)
  assert(field !== undefined, `no ${name} field in ${packet.type}`)
  return field
}

/**
 * The client's half of the handshake after HELO, asking for `link` seconds; the timeout the
 * server agreed.
 */
const link = (peer: RawPeer, timeout: number) =>
  Effect.gen(function* () {
    yield* peer.send("LINK", "CCRE", 1, { CIW: "fairness", CUSR: "test", CDOM: "", LINK: timeout })
    const scar = yield* peer.readField("SCAR")
    yield* peer.send("LINK", "CARE", 2, { CAR: "fairness" })
    yield* peer.readField("SCON")
    return Field.get(fieldOf(scar, "SCAR"), "LINK")
  })

/** The client's half of the handshake, HELO first. */
const handshake = (peer: RawPeer, timeout: number) => Effect.andThen(peer.readField("HELO"), link(peer, timeout))

/** A keep-alive: LINK with no fields, packet id 0. Copied out of the encoder's shared slab. */
const keepAlive = (): Uint8Array => Encoder.encodePacketOrThrow({ type: "LINK", id: 0, fields: [] }).slice()

/** The first packet a new connection gets: HELO (a slot) or LINK ERRO 503 (refused). */
const greeting = (peer: RawPeer) =>
  Effect.map(peer.readPacket, (packet): "HELO" | "503" => {
    expect(packet.type).toBe("LINK")
    if (packet.fields.some((field) => field.name === "HELO")) return "HELO"
    const erro = fieldOf(packet, "ERRO")
    expect([Field.get(erro, "ERRO"), Field.get(erro, "ERRC")]).toEqual(["Server busy", 503])
    return "503"
  })

// ---------------------------------------------------------------------------------------------
// Handlers

const echo = (connection: Connection.Connection) =>
  connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params)))

/** Echoes, then records why the connection ended. */
const echoRecording = (ended: Queue.Queue<ConnectionError.ConnectionError>) => (connection: Connection.Connection) =>
  Effect.exit(echo(connection)).pipe(
    Effect.andThen(connection.closed),
    Effect.flatMap((reason) => Queue.offer(ended, reason))
  )

/** A command answered with `SIZE` bytes of data: a large reply on demand. */
const Big = NcpCommand.make("DSPC", "BIG", {
  params: { SIZE: WireSchema.i32 },
  reply: { DATA: WireSchema.u8Array }
})
/** A command with a small reply. */
const Small = NcpCommand.make("DSPC", "SMAL", { params: {}, reply: { OK: WireSchema.i32 } })

/**
 * A router of {@link Big} and {@link Small} that counts the commands whose reply was asked for
 * (`replyBytes` runs before the reservation) and the replies generated (after it).
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
      ),
      CommandRouter.route(Small, () => Effect.succeed({ OK: 1 }), { replyBytes: () => 128 })
    )
  )
  return { counts, handler }
}

/** Polls `condition` (50 ms apart, at most `attempts` times): a wait, not a timed assertion. */
const until = (what: string, condition: () => boolean, attempts = 400) =>
  Effect.suspend(() => (condition() ? Effect.void : Effect.fail(what))).pipe(
    Effect.retry({ schedule: Schedule.spaced("50 millis"), times: attempts }),
    Effect.orDie
  )

// ---------------------------------------------------------------------------------------------

describe("connections per address", { timeout: 30_000 }, () => {
  it.live(
    "an address holds at most maxConnectionsPerAddress: the next gets LINK ERRO 503 before any handshake, another address gets HELO, and a freed slot is taken again",
    () =>
      Effect.gen(function* () {
        const { port } = yield* serve(echo, { maxConnectionsPerAddress: 3 })
        const held: Array<RawPeer> = []
        for (let i = 0; i < 3; i++) {
          const peer = yield* rawFrom(port)
          expect(yield* greeting(peer)).toBe("HELO")
          held.push(peer)
        }
        // the fourth from 127.0.0.1: refused first thing, then closed
        const refused = yield* rawFrom(port)
        expect(yield* greeting(refused)).toBe("503")
        yield* refused.untilEnded
        // another address is not held back by the first one's count
        const other = yield* rawFrom(port, OTHER)
        expect(yield* greeting(other)).toBe("HELO")
        expect(yield* link(other, 30)).toBe(30)

        // one of 127.0.0.1's connections goes; once the server has seen it go, the address
        // gets a slot again (each attempt that comes too early is refused and closed)
        held[0]?.socket.destroy()
        const attempt = Effect.scoped(
          Effect.flatMap(rawFrom(port), (peer) =>
            Effect.flatMap(greeting(peer), (first) => (first === "HELO" ? Effect.void : Effect.fail("refused")))
          )
        )
        yield* attempt.pipe(Effect.retry({ schedule: Schedule.spaced("50 millis"), times: 200 }), Effect.orDie)
        // the other two are still open
        expect(held.slice(1).map((peer) => peer.ended)).toEqual([false, false])
      })
  )

  it.live("a burst of 300 connects from one address with a backlog set: each gets HELO or 503, 100 HELO", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(echo, { maxConnectionsPerAddress: 100, backlog: 1024 })
      const greetings = yield* Effect.forEach(
        Array.from({ length: 300 }, (_, i) => i),
        () => Effect.flatMap(rawFrom(port), greeting),
        { concurrency: "unbounded" }
      )
      // every connection answered (the accepted ones still held open by this scope)
      expect(greetings.filter((g) => g === "HELO")).toHaveLength(100)
      expect(greetings.filter((g) => g === "503")).toHaveLength(200)
      // and another address is served meanwhile
      const other = yield* rawFrom(port, OTHER)
      expect(yield* greeting(other)).toBe("HELO")
    })
  )
})

describe("silent and idle clients", { timeout: 30_000 }, () => {
  it.live("a client that agreed LINK=0 and then sends nothing at all is dropped at maxSilentSeconds", () =>
    Effect.gen(function* () {
      const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
      const { port } = yield* serve(echoRecording(ended), { maxSilentSeconds: 1 })
      const peer = yield* rawFrom(port)
      expect(yield* handshake(peer, 0)).toBe(0)
      // not a byte more from this client: the server ends the connection
      yield* peer.untilEnded
      expect(yield* Queue.take(ended)).toMatchObject({ _tag: "NetworkTimeout", during: "waiting for the next packet" })
    })
  )

  it.live("a LINK=0 client sending keep-alives stays past maxSilentSeconds; once it stops, it is dropped", () =>
    Effect.gen(function* () {
      const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
      const { port } = yield* serve(echoRecording(ended), { maxSilentSeconds: 2 })
      const peer = yield* rawFrom(port)
      expect(yield* handshake(peer, 0)).toBe(0)
      // 3 s of keep-alives 100 ms apart: never 2 s of silence
      for (let i = 0; i < 30; i++) {
        yield* peer.write(keepAlive())
        yield* Effect.sleep("100 millis")
      }
      yield* peer.send("DSPC", "ECHO", 7, { N: 1 })
      const reply = fieldOf(yield* peer.readField("ECHO"), "ECHO")
      expect([reply.id, Field.get(reply, "N")]).toEqual([7, 1])
      expect(yield* Queue.size(ended)).toBe(0)
      // silence now
      yield* peer.untilEnded
      expect(yield* Queue.take(ended)).toMatchObject({ _tag: "NetworkTimeout", during: "waiting for the next packet" })
    })
  )

  it.live("a client that only sends keep-alives is closed at maxIdleSeconds", () =>
    Effect.gen(function* () {
      const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
      const { port } = yield* serve(echoRecording(ended), { maxIdleSeconds: 2 })
      const peer = yield* rawFrom(port)
      expect(yield* handshake(peer, 10)).toBe(10)
      // one command, answered
      yield* peer.send("DSPC", "ECHO", 3, { N: 3 })
      expect(fieldOf(yield* peer.readField("ECHO"), "ECHO").id).toBe(3)
      // then keep-alives only, 200 ms apart (far within the agreed 10 s), until the server closes
      let keepAlives = 0
      const keeping = yield* Effect.forkChild(
        Effect.whileLoop({
          while: () => !peer.ended,
          body: () =>
            Effect.andThen(
              Effect.andThen(
                peer.write(keepAlive()),
                Effect.sync(() => keepAlives++)
              ),
              Effect.sleep("200 millis")
            ),
          step: () => {}
        })
      )
      yield* peer.untilEnded
      yield* Fiber.interrupt(keeping)
      expect(keepAlives).toBeGreaterThan(1)
      expect(yield* Queue.take(ended)).toMatchObject({ _tag: "NetworkTimeout", during: "waiting for a command" })
    })
  )
})

describe("packet rate", { timeout: 30_000 }, () => {
  it.live(
    "a keep-alive flood is read at maxPacketsPerSecond: another address gets many answers before the flooder's command behind it",
    () =>
      Effect.gen(function* () {
        const { port } = yield* serve(echo, { maxPacketsPerSecond: 1000 })
        const flooder = yield* rawFrom(port)
        yield* handshake(flooder, 60)
        const honest = yield* rawFrom(port, OTHER)
        yield* handshake(honest, 60)

        // 4,000 keep-alives and a command, in one write: a second's worth at once, the rest
        // at 1,000 a second, so the command is routed about 3 s later
        const one = keepAlive()
        const flood = new Uint8Array(4000 * one.length)
        for (let i = 0; i < 4000; i++) flood.set(one, i * one.length)
        let flooderAnswered = false
        yield* flooder.write(flood)
        yield* flooder.send("DSPC", "ECHO", 99, { N: 99 })
        const flooderReply = yield* Effect.forkChild(
          Effect.tap(flooder.readField("ECHO"), () =>
            Effect.sync(() => {
              flooderAnswered = true
            })
          )
        )
        // the other client's round trips, one after another, until the flooder is answered
        let rounds = 0
        while (!flooderAnswered) {
          rounds++
          yield* honest.send("DSPC", "ECHO", rounds, { N: rounds })
          const reply = fieldOf(yield* honest.readField("ECHO"), "ECHO")
          expect(reply.id).toBe(rounds)
        }
        const answered = fieldOf(yield* Fiber.join(flooderReply), "ECHO")
        expect([answered.id, Field.get(answered, "N")]).toEqual([99, 99])
        // without the rate the flood is read in a few milliseconds, a few round trips' time
        expect(rounds).toBeGreaterThanOrEqual(100)
        expect(flooder.ended).toBe(false)
      })
  )
})

describe("replies for slow readers", { timeout: 30_000 }, () => {
  it.live(
    "clients that do not read 8 MiB replies: one reply is generated for all of them while the total is held, a small reply still goes out, and every reply comes once they read",
    () =>
      Effect.gen(function* () {
        const size = 8 * MiB
        const { counts, handler } = countingRouter()
        const { port } = yield* serve(handler, { maxTotalWriteBufferBytes: size + MiB })
        const clients = 4
        const perClient = 3
        const readers: Array<RawPeer> = []
        for (let c = 0; c < clients; c++) {
          const peer = yield* rawFrom(port)
          yield* handshake(peer, 60)
          // reads nothing from now on
          peer.socket.pause()
          for (let i = 1; i <= perClient; i++) yield* peer.send("DSPC", "BIG", i, { SIZE: size })
          readers.push(peer)
        }
        // every command has started (within the router's 4 per connection) and asked for room
        yield* until("every command started", () => counts.started === clients * perClient && counts.generated >= 1)
        // another client's small command is answered meanwhile
        const other = yield* rawFrom(port, OTHER)
        yield* handshake(other, 60)
        yield* other.send("DSPC", "SMAL", 1)
        expect(Field.get(fieldOf(yield* other.readField("SMAL"), "SMAL"), "OK")).toBe(1)
        // a pause for anything unbounded to show: still one reply generated (two if the
        // kernel's buffers took a whole one)
        yield* Effect.sleep("300 millis")
        expect(counts.generated).toBeLessThanOrEqual(2)

        // now they read: every reply is generated and arrives whole
        for (const peer of readers) peer.socket.resume()
        for (const peer of readers) {
          const ids: Array<number> = []
          for (let i = 0; i < perClient; i++) {
            const big = fieldOf(yield* peer.readField("BIG"), "BIG")
            const data = Field.get(big, "DATA")
            assert(data instanceof Uint8Array)
            expect(data.length).toBe(size)
            ids.push(big.id)
          }
          expect(ids.sort()).toEqual([1, 2, 3])
        }
        expect(counts.generated).toBe(clients * perClient)
      })
  )

  it.live(
    "a slow but steady reader of a 12 MiB reply gets all of it, although writing it takes longer than the 2 s stall timeout",
    () =>
      Effect.gen(function* () {
        const size = 12 * MiB
        const ended = yield* Queue.unbounded<ConnectionError.ConnectionError>()
        const { handler } = countingRouter()
        // LINK=0: the stall timeout is the server's own `timeout`, 2 s
        const { port } = yield* serve(
          (connection) =>
            Effect.exit(handler(connection)).pipe(
              Effect.andThen(connection.closed),
              Effect.flatMap((reason) => Queue.offer(ended, reason))
            ),
          { timeout: "2 seconds" }
        )
        const peer = yield* rawFrom(port)
        expect(yield* handshake(peer, 0)).toBe(0)
        // read about 2 MiB a second: 200 KiB, then a 100 ms pause, and again; a few MiB of the
        // reply fit in the kernel's buffers, the rest takes seconds to be taken
        let received = 0
        let pauses = 0
        let inTick = 0
        let timer: ReturnType<typeof setTimeout> | undefined
        const pace = (chunk: Buffer) => {
          received += chunk.length
          inTick += chunk.length
          if (inTick < 200 * 1024) return
          pauses++
          peer.socket.pause()
          timer = setTimeout(() => {
            inTick = 0
            peer.socket.resume()
          }, 100)
        }
        // first, before the peer's own listener hands the last chunk to the test
        peer.socket.prependListener("data", pace)
        yield* Scope.addFinalizer(
          yield* Effect.scope,
          Effect.sync(() => {
            clearTimeout(timer)
            peer.socket.off("data", pace)
          })
        )
        yield* peer.send("DSPC", "BIG", 1, { SIZE: size })
        const big = fieldOf(yield* peer.readField("BIG"), "BIG")
        const data = Field.get(big, "DATA")
        assert(data instanceof Uint8Array)
        expect(data.length).toBe(size)
        expect(received).toBeGreaterThanOrEqual(size)
        // it was paced: dozens of pauses, and the connection is still open on both ends
        expect(pauses).toBeGreaterThan(20)
        expect(peer.ended).toBe(false)
        expect(yield* Queue.size(ended)).toBe(0)
        // and it still answers
        yield* peer.send("DSPC", "SMAL", 2)
        expect(fieldOf(yield* peer.readField("SMAL"), "SMAL").id).toBe(2)
      })
  )
})

describe("shutdown", { timeout: 30_000 }, () => {
  it.live("a server stops within its grace while handlers wait for room to reply to clients that read nothing", () =>
    Effect.gen(function* () {
      const size = 8 * MiB
      const { counts, handler } = countingRouter()
      const scope = yield* Scope.make()
      const { port } = yield* serve(handler, { shutdownGrace: "1 second" }).pipe(Scope.provide(scope))
      for (let c = 0; c < 2; c++) {
        const peer = yield* rawFrom(port)
        yield* handshake(peer, 60)
        peer.socket.pause()
        for (let i = 1; i <= 3; i++) yield* peer.send("DSPC", "BIG", i, { SIZE: size })
      }
      yield* until("every command started", () => counts.started === 6 && counts.generated >= 1)
      // the server stops: the grace runs out, every connection is closed, the handlers waiting
      // for room are interrupted
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* until("the server stopped", () => closing.pollUnsafe() !== undefined, 200)
    })
  )
})

describe("TLS setup", { timeout: 30_000 }, () => {
  it.live("NodeListener.make fails with a SocketServerError when the key and certificate are not PEM", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(
        NodeListener.make({ host: HOST, port: 0, tls: { key: "not a key", cert: "not a certificate" } })
      )
      expect(error._tag).toBe("SocketServerError")
      expect(String(error.reason.cause)).toMatch(/the TLS key and certificate are not usable/)
    })
  )
})
