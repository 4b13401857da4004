/**
 * What connections report about themselves: metrics that hold the counts of what happened,
 * spans that form the tree of a connect and its commands (with OpenTelemetry's attributes),
 * and log lines that carry the connection's annotations. In memory, under TestClock.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as References from "effect/References"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { TestClock } from "effect/testing"
import { CommandClient, CommandRouter, type Connection, NcpMetrics } from "../src/index.js"
import { NcpTest, SimulatedNode } from "../src/testing.js"
import { capturingLogger, failureOf, type LogLine, must } from "./util.js"

/** A tracer that keeps every span it makes, ended or not. */
const recordingTracer = (spans: Array<Tracer.Span>) =>
  Tracer.make({
    span: (options) => {
      const span = new Tracer.NativeSpan(options)
      spans.push(span)
      return span
    }
  })

/** The value of a counter (or gauge) series with these labels, in the test's own registry. */
const seriesValue = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>) =>
  Effect.map(Metric.snapshot, (snapshots) => {
    const found = snapshots.find(
      (snapshot) =>
        snapshot.id === metric.id &&
        Object.entries(attributes).every(([key, value]) => snapshot.attributes?.[key] === value)
    )
    if (found === undefined) return 0
    const state = found.state as { readonly count?: number; readonly value?: number }
    return state.count ?? state.value ?? 0
  })

/** Each test gets a registry of its own: the counts are this test's alone. */
const isolated = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.provideService(effect, Metric.MetricRegistry, new Map())

const echo = (connection: Connection.Connection) =>
  connection.fields.pipe(Stream.runForEach((field) => field.reply(field.params)))

describe("metrics", () => {
  it.effect("after traffic, the counters hold the commands, replies, bytes and connections that happened", () =>
    isolated(
      Effect.gen(function* () {
        const server = yield* NcpTest.make({ handler: SimulatedNode.handler })
        yield* Effect.scoped(
          Effect.gen(function* () {
            const connection = yield* server.connect({ timeout: "30 seconds" })
            for (let i = 0; i < 3; i++) yield* CommandClient.call(connection, SimulatedNode.Status)
            const refused = yield* Effect.exit(connection.request("DSPC", "NOPE"))
            expect(failureOf(refused)).toMatchObject({ _tag: "CommandError", code: 400 })
            expect(yield* seriesValue(NcpMetrics.connectionsOpen, { role: "client" })).toBe(1)
            expect(yield* seriesValue(NcpMetrics.connectionsOpen, { role: "server" })).toBe(1)
          })
        )
        expect(yield* seriesValue(NcpMetrics.commandsSent, { packet_type: "STAT", field: "STAT" })).toBe(3)
        expect(yield* seriesValue(NcpMetrics.commandsSent, { packet_type: "DSPC", field: "NOPE" })).toBe(1)
        expect(yield* seriesValue(NcpMetrics.commandsHandled, { packet_type: "STAT", field: "STAT" })).toBe(3)
        expect(yield* seriesValue(NcpMetrics.replies, { outcome: "ok" })).toBe(3)
        expect(yield* seriesValue(NcpMetrics.replies, { outcome: "error", code: "400" })).toBe(1)
        expect(yield* seriesValue(NcpMetrics.connectionsOpened, { role: "client" })).toBe(1)
        expect(yield* seriesValue(NcpMetrics.connectionsClosed, { role: "client", reason: "closed" })).toBe(1)
        expect(yield* seriesValue(NcpMetrics.connectionsOpen, { role: "client" })).toBe(0)
        // bytes: what the client sent, the server received, and the other way round
        const clientSent = yield* seriesValue(NcpMetrics.bytesSent, { role: "client" })
        expect(clientSent).toBeGreaterThan(0)
        expect(yield* seriesValue(NcpMetrics.bytesReceived, { role: "server" })).toBe(clientSent)
        const latency = (yield* Metric.value(
          Metric.withAttributes(NcpMetrics.requestDuration, { packet_type: "STAT", field: "STAT" })
        )) as { readonly count: number }
        expect(latency.count).toBe(3)
      })
    )
  )

  it.effect("a request past its deadline counts as a timeout; keep-alives are counted", () =>
    isolated(
      Effect.gen(function* () {
        const connection = yield* NcpTest.connect({
          handler: (connection) => Stream.runDrain(connection.fields),
          client: { timeout: "10 seconds" }
        })
        const waiting = yield* Effect.forkChild(
          Effect.exit(connection.request("DSPC", "SLOW", {}, { timeout: "2 seconds" }))
        )
        yield* TestClock.adjust("2 seconds")
        expect(failureOf(yield* Fiber.join(waiting))).toMatchObject({ _tag: "NetworkTimeout" })
        expect(yield* seriesValue(NcpMetrics.replies, { outcome: "timeout" })).toBe(1)
        // the agreed 10 s: a keep-alive after 6 s of silence, from each side
        yield* TestClock.adjust("7 seconds")
        expect(yield* seriesValue(NcpMetrics.keepAlivesSent, { role: "client" })).toBeGreaterThanOrEqual(1)
        expect(yield* seriesValue(NcpMetrics.keepAlivesSent, { role: "server" })).toBeGreaterThanOrEqual(1)
      }).pipe(Effect.scoped)
    )
  )

  it.effect("labels stay bounded: a peer inventing command names fills at most 256 series, then other", () =>
    isolated(
      Effect.gen(function* () {
        const connection = yield* NcpTest.connect({ handler: echo })
        const names = Array.from({ length: 300 }, (_, i) => `N${i.toString(36).toUpperCase().padStart(3, "0")}`)
        for (const name of names) yield* connection.request("ZZZZ", name)
        const snapshots = yield* Metric.snapshot
        const series = snapshots.filter((snapshot) => snapshot.id === NcpMetrics.commandsSent.id)
        expect(series.length).toBeLessThanOrEqual(257)
        expect(yield* seriesValue(NcpMetrics.commandsSent, { packet_type: "other", field: "other" })).toBeGreaterThan(0)
      }).pipe(Effect.scoped)
    )
  )
})

describe("spans", () => {
  it.effect("connect has the handshake as a child; a request is a client span with the RPC attributes", () => {
    const spans: Array<Tracer.Span> = []
    return Effect.gen(function* () {
      const server = yield* NcpTest.make({ handler: SimulatedNode.handler })
      const connection = yield* server.connect({ host: "node", port: 9999 })
      yield* CommandClient.call(connection, SimulatedNode.Status)
      const failed = yield* Effect.exit(connection.request("DSPC", "NOPE"))
      expect(Exit.isFailure(failed)).toBe(true)

      const byName = (name: string) => spans.filter((span) => span.name === name)
      const connect = must(byName("ncp.connect")[0], "ncp.connect span")
      expect(connect.kind).toBe("client")
      expect(connect.attributes.get("rpc.system")).toBe("ncp")
      expect(connect.attributes.get("server.address")).toBe("node")
      expect(connect.attributes.get("server.port")).toBe(9999)
      const handshake = must(
        byName("ncp.handshake").find((span) => span.parent._tag === "Some" && span.parent.value === connect),
        "the client's handshake under ncp.connect"
      )
      expect(handshake.status._tag).toBe("Ended")

      const status = byName("STAT STAT").filter((span) => span.kind === "client")
      expect(status).toHaveLength(1)
      expect(must(status[0]).attributes.get("rpc.method")).toBe("STAT STAT")
      expect(must(status[0]).attributes.get("ncp.replies")).toBe(1)

      const nope = must(byName("DSPC NOPE").find((span) => span.kind === "client"))
      expect(nope.attributes.get("ncp.error_code")).toBe(400)
      expect(nope.status._tag === "Ended" && Exit.isFailure(nope.status.exit)).toBe(true)
      if (nope.status._tag === "Ended" && Exit.isFailure(nope.status.exit)) {
        expect(failureOf(nope.status.exit)).toMatchObject({ _tag: "CommandError" })
      }
    }).pipe(Effect.scoped, Effect.withTracer(recordingTracer(spans)))
  })

  it.effect(
    "on the server each command is a span the field carries, and a router's handler nests its own spans under it",
    () => {
      const spans: Array<Tracer.Span> = []
      const Add = SimulatedNode.Status
      const router = CommandRouter.make(
        CommandRouter.route(Add, () =>
          Effect.succeed({ STAT: "OK", SEID: "x", UPTM: 0, TEMP: 1 }).pipe(Effect.withSpan("handler work"))
        )
      )
      return Effect.gen(function* () {
        const connection = yield* NcpTest.connect({ handler: CommandRouter.toHandler(router) })
        yield* CommandClient.call(connection, SimulatedNode.Status)
        const command = must(spans.find((span) => span.name === "STAT STAT" && span.kind === "server"))
        expect(command.parent._tag).toBe("None")
        expect(command.attributes.get("rpc.method")).toBe("STAT STAT")
        expect(command.status._tag).toBe("Ended")
        const work = must(spans.find((span) => span.name === "handler work"))
        expect(work.parent._tag === "Some" && work.parent.value).toBe(command)
      }).pipe(Effect.scoped, Effect.withTracer(recordingTracer(spans)))
    }
  )

  it.effect("commands a server never answers keep at most 1,024 spans open: the oldest end, marked unanswered", () => {
    const spans: Array<Tracer.Span> = []
    // a handler that takes every field and answers none
    const silent = (connection: Connection.Connection) => connection.fields.pipe(Stream.runDrain)
    return Effect.gen(function* () {
      const connection = yield* NcpTest.connect({ handler: silent })
      for (let i = 0; i < 1100; i++) yield* Effect.scoped(connection.send("DSPC", "NOTE", { N: i }))
      for (let i = 0; i < 200; i++) yield* Effect.yieldNow
      const commands = spans.filter((span) => span.name === "DSPC NOTE" && span.kind === "server")
      expect(commands).toHaveLength(1100)
      const ended = commands.filter((span) => span.status._tag === "Ended")
      expect(ended).toHaveLength(1100 - 1024)
      expect(ended.every((span) => span.attributes.get("ncp.unanswered") === true)).toBe(true)
      expect(ended.map((span) => span.attributes.get("ncp.field_id"))).toEqual(
        commands.slice(0, 1100 - 1024).map((span) => span.attributes.get("ncp.field_id"))
      )
    }).pipe(Effect.scoped, Effect.withTracer(recordingTracer(spans)))
  })

  it.effect("with Effect's native tracer (nobody listening), commands make no spans of their own", () =>
    Effect.gen(function* () {
      const connection = yield* NcpTest.connect({ handler: echo })
      // the request runs without a span around it: the current span stays the test's
      const inside = yield* connection.request("DSPC", "ECHO").pipe(Effect.andThen(Effect.currentSpan), Effect.option)
      expect(inside._tag).toBe("None")
    }).pipe(Effect.scoped)
  )
})

describe("logs", () => {
  it.effect("connect and close at Info, every entry of a connection with its remote, node, id and role", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      yield* Effect.scoped(
        Effect.gen(function* () {
          const connection = yield* NcpTest.connect({ handler: echo, client: { host: "node", port: 9999 } })
          yield* connection.request("DSPC", "ECHO")
        })
      )
      const client = lines.filter((line) => line.annotations.role === "client")
      const connected = must(client.find((line) => line.annotations.ncp === "Connected"))
      expect(connected.level).toBe("Info")
      expect(connected.message).toBe("Connected to node:9999 over NCP")
      expect(connected.annotations).toMatchObject({ remote: "node:9999", node: "node:9999" })
      const closed = must(client.find((line) => line.annotations.ncp === "Disconnected"))
      expect(closed.level).toBe("Info")
      expect(closed.annotations.connection).toBe(connected.annotations.connection)
      const sent = must(client.find((line) => line.annotations.ncp === "CommandSent"))
      expect(sent).toMatchObject({ level: "Debug", message: "sent DSPC ECHO" })
      expect(sent.annotations.connection).toBe(connected.annotations.connection)
      const server = lines.filter((line) => line.annotations.role === "server")
      expect(server.map((line) => line.annotations.ncp)).toEqual(
        expect.arrayContaining(["ClientConnected", "Received", "ClientDisconnected"])
      )
    }).pipe(Effect.provide(Layer.merge(capturingLogger(lines), Layer.succeed(References.MinimumLogLevel, "Debug"))))
  })
})
