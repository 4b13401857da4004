import { assert, describe, expect, it } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Socket from "effect/socket/Socket"
import { TestClock } from "effect/testing"
import { Client, type Connection, Field, Transport } from "../src/index.js"
import * as MemorySocket from "../src/MemorySocket.js"
import { NcpTest } from "../src/testing.js"
import { echo } from "./harness.js"
import { capturingLogger, failureOf, type LogLine } from "./util.js"

// A reconnecting client over in-memory sockets, under TestClock: the node behind the Transport
// can be stopped (its server ends close, new connections are refused) and started again.

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const refusedError = () =>
  new Socket.SocketError({
    reason: new Socket.SocketOpenError({
      kind: "Unknown",
      cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" })
    })
  })

/** A socket to a port nobody listens on: opening it fails as a refused TCP connect does. */
const refusedSocket: Socket.Socket = Socket.make({
  reader: Effect.suspend(() => Effect.fail(refusedError())),
  writer: Effect.succeed({ write: () => Effect.void, writeAll: () => Effect.void })
})

type Handler = (connection: Connection.Connection, incarnation: number) => Effect.Effect<unknown, unknown>

/**
 * A node that can be stopped and started again on the same address. While up, each connect
 * reaches an in-memory server (`NcpTest.make`, one per start); stopping it stops that server,
 * closing every connection it had (as a process exiting does); while down, connects are refused.
 */
const restartableNode = (handler?: Handler) =>
  Effect.gen(function* () {
    let running: { readonly scope: Scope.Closeable; readonly server: NcpTest.InMemoryServer } | undefined
    // by default: echo every field but HANG, which is never answered (only counted)
    const echoButHang = (connection: Connection.Connection) =>
      connection.fields.pipe(
        Stream.runForEach((field) =>
          field.name === "HANG" ? Effect.sync(() => (node.hangs += 1)) : field.reply(field.params)
        )
      )
    const serveConnection: Handler = handler ?? echoButHang
    const node = {
      incarnation: 0,
      /** HANG commands received. */
      hangs: 0,
      /** Connects the transport was asked for, refused or not. */
      connects: 0,
      /** Makes a connect die, as a bug in a transport would, this many more times. */
      throwing: 0,
      /** While down, accept connections and never answer (a host that hangs) instead of refusing. */
      silent: false,
      start: Effect.suspend((): Effect.Effect<void> => {
        node.incarnation += 1
        const incarnation = node.incarnation
        return Effect.gen(function* () {
          const scope = yield* Scope.make()
          const server = yield* NcpTest.make({
            handler: (connection) => serveConnection(connection, incarnation)
          }).pipe(Scope.provide(scope))
          running = { scope, server }
        })
      }),
      stop: Effect.suspend(() => {
        const current = running
        running = undefined
        return current === undefined ? Effect.void : Scope.close(current.scope, Exit.void)
      }),
      transport: {
        connect: (target: Transport.ConnectTarget) =>
          Effect.suspend((): Effect.Effect<Socket.Socket> => {
            node.connects += 1
            if (node.throwing > 0) {
              node.throwing -= 1
              throw new Error("transport bug")
            }
            if (running === undefined) {
              return node.silent ? Effect.map(MemorySocket.pair(), ([client]) => client) : Effect.succeed(refusedSocket)
            }
            return running.server.transport.connect(target)
          }),
        hostname: "test-host",
        username: "test-user"
      }
    }
    return node
  })

type Node = Effect.Success<ReturnType<typeof restartableNode>>

const withNode = (node: Node) => Effect.provideService(Transport.Transport, node.transport)

/** A state as recorded: its tag, attempt, delay and last error's tag, and when it was seen. */
interface Seen {
  readonly tag: Connection.ClientState["_tag"]
  readonly attempt?: number
  readonly delay?: number
  readonly lastError?: string
  readonly at: number
}

const describeState = (state: Connection.ClientState, at: number): Seen => {
  switch (state._tag) {
    case "Open":
      return { tag: "Open", at }
    case "Connecting":
      return { tag: "Connecting", attempt: state.attempt, lastError: state.lastError?._tag, at }
    case "BackingOff":
      return {
        tag: "BackingOff",
        attempt: state.attempt,
        delay: Duration.toMillis(state.delay),
        lastError: state.lastError._tag,
        at
      }
    case "Closed":
      return { tag: "Closed", lastError: state.lastError?._tag, at }
  }
}

/** Records every state of `changes` with the (test) time it was seen at. */
const record = (client: Connection.ReconnectingConnection) =>
  Effect.gen(function* () {
    const seen: Array<Seen> = []
    yield* Effect.forkScoped(
      client.changes.pipe(
        Stream.runForEach((state) =>
          Effect.map(Clock.currentTimeMillis, (at) => {
            seen.push(describeState(state, at))
          })
        )
      )
    )
    yield* until("the recorder to start", () => seen.length > 0)
    return seen
  })

/** Lets the other fibers run (time standing still) until `condition` holds; fails if it never does. */
const until = (what: string, condition: () => boolean) =>
  Effect.gen(function* () {
    for (let i = 0; i < 2000 && !condition(); i++) yield* Effect.yieldNow
    assert(condition(), `expected ${what}`)
  })

const lastSeen = (seen: ReadonlyArray<Seen>, tag: Seen["tag"], attempt?: number) => () => {
  const last = seen[seen.length - 1]
  return last !== undefined && last.tag === tag && (attempt === undefined || last.attempt === attempt)
}

/** Runs `effect`, which must end without the clock moving: what failing "at once" means here. */
const atOnce = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function* () {
    const fiber = yield* Effect.forkChild(Effect.exit(effect))
    for (let i = 0; i < 50 && fiber.pollUnsafe() === undefined; i++) yield* Effect.yieldNow
    const exit = fiber.pollUnsafe()
    assert(exit !== undefined, "expected the call to end at once")
    return yield* Fiber.join(fiber)
  })

/** Forks `effect` and notes when it ended, in test time. */
const timed = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.forkChild(
    Effect.flatMap(Effect.exit(effect), (exit) => Effect.map(Clock.currentTimeMillis, (at) => ({ exit, at })))
  )

/** The outcome of a fiber from {@link timed}, which must have ended by now. */
const ended = <A>(fiber: Fiber.Fiber<A>) =>
  Effect.suspend(() => {
    assert(fiber.pollUnsafe() !== undefined, "expected the call to have ended")
    return Fiber.join(fiber)
  })

/** Moves the clock forward in steps of `stepMillis` up to `millis`, running `at` hooks on the way. */
const advance = (millis: number, stepMillis = 100) =>
  Effect.gen(function* () {
    for (let elapsed = 0; elapsed < millis; elapsed += stepMillis) yield* TestClock.adjust(stepMillis)
  })

const seconds = (n: number) => n * 1000

// ---------------------------------------------------------------------------------------------

describe("a reconnecting client", () => {
  it.effect(
    "the node restarts five times: every request while connected gets its reply, requests during an outage fail at once with NotConnected, and states and delays follow the schedule",
    () => {
      const lines: Array<LogLine> = []
      return Effect.gen(function* () {
        const node = yield* restartableNode()
        yield* node.start
        // exponential from 1 s, unjittered: 1, 2, 4, 8, 16, 32 s
        const client = yield* Client.connectReconnecting({
          host: "node",
          timeout: "30 seconds",
          schedule: Schedule.exponential("1 second")
        }).pipe(withNode(node))
        expect((yield* client.state)._tag).toBe("Open")
        expect(client.timeout).toBe(30)
        const seen = yield* record(client)

        let sent = 0
        const requestsGetReplies = Effect.gen(function* () {
          const replies = yield* Effect.forEach(
            [1, 2, 3],
            () => {
              const n = ++sent
              return Effect.map(client.request("DSPC", "ECHO", { N: n }), (reply) => [n, Field.get(reply, "N")])
            },
            { concurrency: "unbounded" }
          )
          for (const [n, echoed] of replies) expect(echoed).toBe(n)
        })
        yield* requestsGetReplies

        for (let outage = 1; outage <= 5; outage++) {
          const stoppedAt = yield* Clock.currentTimeMillis
          const from = seen.length
          const inFlight = yield* timed(client.request("DSPC", "HANG"))
          yield* until("the node to receive the request", () => node.hangs === outage)
          yield* node.stop
          yield* until("backing off after the node stopped", lastSeen(seen, "BackingOff", 1))
          // a request in flight fails with the error that ended its connection, and is not resent
          expect(failureOf((yield* ended(inFlight)).exit)).toMatchObject({ _tag: "ConnectionClosed" })
          // the node stays down for `outage` attempts
          for (let attempt = 1; attempt <= outage; attempt++) {
            const exit = yield* atOnce(client.request("DSPC", "ECHO", { N: 0 }))
            expect(failureOf(exit)).toMatchObject({ _tag: "NotConnected", state: "BackingOff", attempt })
            yield* TestClock.adjust(seconds(2 ** (attempt - 1)))
            yield* until(`attempt ${attempt} to be refused`, lastSeen(seen, "BackingOff", attempt + 1))
          }
          yield* node.start
          yield* TestClock.adjust(seconds(2 ** outage))
          yield* until("the connection to open again", lastSeen(seen, "Open"))
          yield* requestsGetReplies

          const expected: Array<Omit<Seen, "at"> & { readonly after: number }> = [
            { tag: "BackingOff", attempt: 1, delay: seconds(1), lastError: "ConnectionClosed", after: 0 }
          ]
          for (let attempt = 1; attempt <= outage; attempt++) {
            const at = seconds(2 ** attempt - 1)
            const lastError = attempt === 1 ? "ConnectionClosed" : "NetworkError"
            expected.push({ tag: "Connecting", attempt, lastError, after: at })
            expected.push({
              tag: "BackingOff",
              attempt: attempt + 1,
              delay: seconds(2 ** attempt),
              lastError: "NetworkError",
              after: at
            })
          }
          expected.push({
            tag: "Connecting",
            attempt: outage + 1,
            lastError: "NetworkError",
            after: seconds(2 ** (outage + 1) - 1)
          })
          expected.push({ tag: "Open", after: seconds(2 ** (outage + 1) - 1) })
          expect(seen.slice(from).map(({ at, ...state }) => ({ ...state, after: at - stoppedAt }))).toEqual(expected)
        }
        expect(sent).toBe(18)

        // Logged: each connect and disconnect at Info, one warning per outage, the rest at Debug.
        const tagged = (ncp: string) => lines.filter((line) => line.annotations.ncp === ncp)
        expect(tagged("Connected").map((line) => [line.level, line.message])).toEqual(
          Array.from({ length: 6 }, () => ["Info", "Connected to node:9999 over NCP"])
        )
        expect(tagged("Connected").map((line) => line.annotations.attempt)).toEqual([1, 2, 3, 4, 5, 6])
        expect(tagged("Disconnected").map((line) => [line.level, line.message, line.annotations.remote])).toEqual(
          Array.from({ length: 5 }, () => ["Info", "Disconnected from node:9999 over NCP", "node:9999"])
        )
        expect(tagged("Disconnected").map((line) => line.annotations.reason)).toEqual(
          Array.from({ length: 5 }, () => "the peer closed the connection")
        )
        const failures = tagged("ConnectFailed")
        expect(
          failures.filter((line) => line.level === "Warn").map((line) => [line.message, line.annotations])
        ).toEqual(
          Array.from({ length: 5 }, () => [
            "Connecting to node:9999 over NCP failed: cannot connect: connect ECONNREFUSED (retrying; later failures are logged at Debug)",
            { remote: "node:9999", ncp: "ConnectFailed", attempt: 1, retryInSeconds: 2 }
          ])
        )
        expect(failures.filter((line) => line.level === "Debug")).toHaveLength(0 + 1 + 2 + 3 + 4)
        expect(lines.filter((line) => line.level === "Error")).toEqual([])
      }).pipe(
        Effect.scoped,
        Effect.provide(capturingLogger(lines)),
        Effect.provideService(References.MinimumLogLevel, "Debug")
      )
    }
  )

  it.effect(
    "with waitForConnection, requests during an outage wait up to their deadline, which also bounds the reply",
    () =>
      Effect.gen(function* () {
        const node = yield* restartableNode()
        yield* node.start
        const client = yield* Client.connectReconnecting({
          host: "node",
          timeout: "30 seconds",
          requestTimeout: "10 seconds",
          waitForConnection: true,
          schedule: Schedule.spaced("1 second")
        }).pipe(withNode(node))
        const seen = yield* record(client)
        yield* node.stop
        yield* until("backing off", lastSeen(seen, "BackingOff"))
        const start = yield* Clock.currentTimeMillis

        const withDefault = yield* timed(client.request("DSPC", "ECHO", { N: 1 }))
        const short = yield* timed(client.request("DSPC", "ECHO", { N: 2 }, { timeout: "2500 millis" }))
        const hang = yield* timed(client.request("DSPC", "HANG", {}, { timeout: "5 seconds" }))
        const response = yield* timed(
          Effect.scoped(Effect.flatMap(client.send("DSPC", "ECHO", { N: 3 }, { timeout: "4 seconds" }), (r) => r.recv))
        )

        // attempts at 1 s and 2 s are refused; the node is back for the one at 3 s
        yield* advance(2500)
        const failed = yield* ended(short)
        expect(failed.at - start).toBe(2500)
        expect(failureOf(failed.exit)).toMatchObject({
          _tag: "NotConnected",
          state: "BackingOff",
          attempt: 3,
          lastError: { _tag: "NetworkError" }
        })
        yield* node.start
        yield* advance(3500)

        const replied = yield* ended(withDefault)
        expect(replied.at - start).toBe(3000)
        assert(Exit.isSuccess(replied.exit))
        expect(Field.get(replied.exit.value, "N")).toBe(1)
        const sentLate = yield* ended(response)
        assert(Exit.isSuccess(sentLate.exit))
        expect(Field.get(sentLate.exit.value, "N")).toBe(3)
        // 3 s waiting for the connection, then the 2 s left of its 5 s for the reply
        const timedOut = yield* ended(hang)
        expect(timedOut.at - start).toBe(5000)
        expect(failureOf(timedOut.exit)).toMatchObject({ _tag: "NetworkTimeout", command: "DSPC HANG" })
      }).pipe(Effect.scoped)
  )

  it.effect("with waitForConnection and no deadline, a request and recv wait until the client closes, then fail", () =>
    Effect.gen(function* () {
      const node = yield* restartableNode()
      const client = yield* Client.connectReconnecting({
        host: "node",
        timeout: "30 seconds",
        waitForConnection: true,
        schedule: Schedule.spaced("1 second")
      }).pipe(withNode(node))
      expect(yield* client.state).toMatchObject({ _tag: "BackingOff", attempt: 2 })
      const request = yield* timed(client.request("DSPC", "ECHO", { N: 1 }))
      const recv = yield* timed(client.recv)
      yield* advance(seconds(60), 1000)
      expect(request.pollUnsafe()).toBeUndefined()
      expect(recv.pollUnsafe()).toBeUndefined()
      yield* client.close
      for (const fiber of [request, recv]) {
        const { exit, at } = yield* ended(fiber)
        expect(at).toBe(seconds(60))
        expect(failureOf(exit)).toMatchObject({ _tag: "NotConnected", state: "Closed", lastError: undefined })
      }
      expect(yield* client.closed).toMatchObject({ _tag: "NotConnected", state: "Closed" })
      expect((yield* client.state)._tag).toBe("Closed")
      // closed for good: no attempt after it
      const connects = node.connects
      yield* advance(seconds(60), 1000)
      expect(node.connects).toBe(connects)
    }).pipe(Effect.scoped)
  )

  it.effect("a schedule that ends gives up: Closed with the last error, logged once at Error", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const node = yield* restartableNode()
      const client = yield* Client.connectReconnecting({
        host: "node",
        timeout: "30 seconds",
        schedule: Schedule.spaced("1 second").pipe(Schedule.upTo({ times: 2 }))
      }).pipe(withNode(node))
      // built after the first attempt failed
      expect(yield* client.state).toMatchObject({ _tag: "BackingOff", attempt: 2, lastError: { _tag: "NetworkError" } })
      const fields = yield* timed(Stream.runCollect(client.fields))
      yield* advance(seconds(10), 1000)
      expect(node.connects).toBe(3)
      const state = yield* client.state
      assert(state._tag === "Closed")
      expect(state.lastError?._tag).toBe("NetworkError")
      const exit = yield* atOnce(client.request("DSPC", "ECHO"))
      const error = failureOf(exit)
      expect(error).toMatchObject({ _tag: "NotConnected", state: "Closed", lastError: { _tag: "NetworkError" } })
      expect(error.message).toBe(
        "node:9999: not connected: the client is closed; last error: cannot connect: connect ECONNREFUSED"
      )
      expect(failureOf((yield* ended(fields)).exit)).toMatchObject({ _tag: "NotConnected", state: "Closed" })
      expect(yield* client.closed).toMatchObject({ _tag: "NotConnected", lastError: { _tag: "NetworkError" } })
      expect(lines.filter((line) => line.level === "Error").map((line) => line.annotations.ncp)).toEqual([
        "ReconnectStopped"
      ])
      expect(lines.filter((line) => line.level === "Warn").map((line) => line.annotations.ncp)).toEqual([
        "ConnectFailed"
      ])
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("fields spans reconnects: each connection's fields in turn, ending when the client closes", () =>
    Effect.gen(function* () {
      // every connection starts with an unsolicited STAT naming the node's incarnation
      const node = yield* restartableNode((connection, incarnation) =>
        Effect.scoped(connection.send("STAT", "STAT", { N: incarnation })).pipe(Effect.andThen(echo(connection)))
      )
      yield* node.start
      const client = yield* Client.connectReconnecting({
        host: "node",
        timeout: "30 seconds",
        schedule: Schedule.spaced("1 second")
      }).pipe(withNode(node))
      const seen = yield* record(client)
      const stats: Array<unknown> = []
      const subscriber = yield* timed(
        client.fields.pipe(
          Stream.filter((field) => field.packetType === "STAT"),
          Stream.runForEach((field) => Effect.sync(() => stats.push(Field.get(field, "N"))))
        )
      )
      const changes = yield* timed(Stream.runCollect(client.changes))
      for (let restart = 1; restart <= 2; restart++) {
        yield* until(`the STAT of connection ${restart}`, () => stats.length === restart)
        yield* node.stop
        yield* until("backing off", lastSeen(seen, "BackingOff"))
        yield* node.start
        yield* TestClock.adjust(seconds(1))
        yield* until("open again", lastSeen(seen, "Open"))
      }
      yield* until("the STAT of connection 3", () => stats.length === 3)
      yield* client.close
      // the subscriber saw each connection's STAT, and its stream ended with the client
      expect(Exit.isSuccess((yield* Fiber.join(subscriber)).exit)).toBe(true)
      expect(stats).toEqual([1, 2, 3])
      const states = yield* Fiber.join(changes)
      assert(Exit.isSuccess(states.exit))
      expect(states.exit.value.map((state) => state._tag)).toEqual([
        "Open",
        "BackingOff",
        "Connecting",
        "Open",
        "BackingOff",
        "Connecting",
        "Open",
        "Closed"
      ])
    }).pipe(Effect.scoped)
  )

  it.effect(
    "as a layer: NcpClient is a plain Connection; releasing it closes the connection and stops reconnecting",
    () => {
      const lines: Array<LogLine> = []
      return Effect.gen(function* () {
        let serverSide: Connection.Connection | undefined
        const node = yield* restartableNode((connection) => {
          serverSide = connection
          return echo(connection)
        })
        yield* node.start
        const layer = Client.NcpClient.layerReconnecting({ host: "node", timeout: "30 seconds" }).pipe(
          Layer.provide(Layer.succeed(Transport.Transport, node.transport))
        )
        const { client, link } = yield* Effect.gen(function* () {
          const client = yield* Client.NcpClient
          const link = yield* Client.NcpClientState
          expect((yield* link.state)._tag).toBe("Open")
          const reply = yield* client.request("DSPC", "ECHO", { N: 7 })
          expect(Field.get(reply, "N")).toBe(7)
          return { client, link }
        }).pipe(Effect.provide(layer))
        // released: closed for good, the node saw its connection end, no attempt after it
        expect(yield* link.state).toEqual({ _tag: "Closed", lastError: undefined })
        assert(serverSide !== undefined)
        expect(yield* serverSide.closed).toMatchObject({ _tag: "ConnectionClosed" })
        const exit = yield* atOnce(client.request("DSPC", "ECHO"))
        expect(failureOf(exit)).toMatchObject({ _tag: "NotConnected", state: "Closed" })
        const connects = node.connects
        yield* advance(seconds(120), 1000)
        expect(node.connects).toBe(connects)
        expect(
          lines
            .filter((line) => line.annotations.ncp === "Disconnected")
            .map((line) => [line.level, line.annotations.reason])
        ).toEqual([["Info", "the client was closed"]])
      }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
    }
  )

  it.effect("closed during an attempt: the attempt stops at once, with no failure logged", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const node = yield* restartableNode()
      yield* node.start
      const client = yield* Client.connectReconnecting({
        host: "node",
        timeout: "30 seconds",
        schedule: Schedule.spaced("1 second")
      }).pipe(withNode(node))
      const seen = yield* record(client)
      node.silent = true
      yield* node.stop
      yield* until("backing off", lastSeen(seen, "BackingOff"))
      yield* TestClock.adjust(seconds(1))
      // the attempt waits for a HELO that never comes (for up to 30 s)
      yield* until("connecting", lastSeen(seen, "Connecting", 1))
      yield* client.close
      expect(yield* client.state).toEqual({ _tag: "Closed", lastError: undefined })
      expect(lines.filter((line) => line.level === "Warn" || line.level === "Error")).toEqual([])
      expect(node.connects).toBe(2)
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("a connect that throws is an attempt failed with ConnectionDefect, logged at Error, and retried", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const node = yield* restartableNode()
      yield* node.start
      node.throwing = 2
      const client = yield* Client.connectReconnecting({
        host: "node",
        timeout: "30 seconds",
        schedule: Schedule.spaced("1 second")
      }).pipe(withNode(node))
      expect(yield* client.state).toMatchObject({
        _tag: "BackingOff",
        attempt: 2,
        lastError: { _tag: "ConnectionDefect" }
      })
      yield* advance(seconds(2), 1000)
      expect((yield* client.state)._tag).toBe("Open")
      expect(Field.get(yield* client.request("DSPC", "ECHO", { N: 1 }), "N")).toBe(1)
      const errors = lines.filter((line) => line.level === "Error")
      expect(errors.map((line) => [line.annotations.ncp, line.annotations.attempt])).toEqual([
        ["ConnectionDefect", 1],
        ["ConnectionDefect", 2]
      ])
    }).pipe(Effect.scoped, Effect.provide(capturingLogger(lines)))
  })

  it.effect("the default schedule: jittered exponential from 500 ms, doubling, capped at 30 s", () =>
    Effect.gen(function* () {
      const node = yield* restartableNode()
      const client = yield* Client.connectReconnecting({ host: "node", timeout: "30 seconds" }).pipe(withNode(node))
      const seen = yield* record(client)
      for (let attempt = 2; attempt <= 12; attempt++) {
        const state = yield* client.state
        assert(state._tag === "BackingOff" && state.attempt === attempt, `backing off before attempt ${attempt}`)
        const nominal = Math.min(500 * 2 ** (attempt - 2), 30_000)
        const delay = Duration.toMillis(state.delay)
        expect(delay).toBeGreaterThanOrEqual(nominal * 0.8)
        expect(delay).toBeLessThanOrEqual(nominal * 1.2)
        yield* TestClock.adjust(state.delay)
        yield* until(`attempt ${attempt} to be refused`, lastSeen(seen, "BackingOff", attempt + 1))
      }
      // each attempt came exactly its delay after the state that announced it
      const backoffs = seen.filter((s) => s.tag === "BackingOff")
      const connecting = seen.filter((s) => s.tag === "Connecting")
      expect(connecting).toHaveLength(11)
      connecting.forEach((s, i) => {
        const before = backoffs[i]
        assert(before !== undefined)
        expect(s.at - before.at).toBeCloseTo(before.delay ?? Number.NaN, 6)
      })
    }).pipe(Effect.scoped)
  )
})
