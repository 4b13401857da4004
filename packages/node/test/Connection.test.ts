import { describe, expect, it } from "@effect/vitest"
import { type Connection, Field } from "@effect-ncp/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { capturingLogger, failureOf, type LogLine } from "../../core/test/util.js"
import { SelfSignedCertificate } from "../src/index.js"
import { connect, HOST, RawPeer, resourcesWhen, serve } from "./harness.js"

// NCP connections over real sockets on the loopback interface: every test runs on real time
// (it.live) and waits for real events, never for a fixed delay.

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/**
 * A test node: every field gets an `ACKN` reply, then its own params back (an echo), except
 * `CAUT` (a warning reply), `FAIL` (an error reply) and `NOIS` (unrelated fields first).
 */
const node = (connection: Connection.Connection) =>
  connection.fields.pipe(
    Stream.runForEach((field) =>
      Effect.gen(function* () {
        yield* field.reply({ ACKN: 1 })
        switch (field.name) {
          case "CAUT":
            return yield* field.reply({ WARN: "low battery", WARC: 7, N: 1 })
          case "FAIL":
            return yield* field.reply({ ERRO: "bad range", ERRC: 400 })
          case "NOIS":
            yield* Effect.scoped(connection.send("STAT", "STAT", { OCON: 1 }))
            yield* Effect.scoped(connection.send(field.packetType, "OTHR", { N: 2 }))
            return yield* field.reply(field.params)
          default:
            return yield* field.reply(field.params)
        }
      })
    )
  )

/** Of the resources open, the sockets and timers (vitest's own are pipes, ports and its own timers). */
const socketsAndTimers = (resources: ReadonlyArray<string>) =>
  resources.filter((name) => /TCP|TLS|Timeout|Immediate/.test(name)).sort()

/** Sockets and timers open in this process. */
const activeResources = () => socketsAndTimers(process.getActiveResourcesInfo())

const sockets = (resources: ReadonlyArray<string>) => resources.filter((name) => /TCP|TLS/.test(name))

/**
 * The sockets and timers open once no socket is and at most `timers` timers are: Node releases
 * a handle a moment after `destroy()`, which `resourcesWhen` waits for, release by release.
 */
const settled = (timers = Number.POSITIVE_INFINITY) =>
  Effect.map(
    resourcesWhen((resources) => {
      const open = socketsAndTimers(resources)
      return sockets(open).length === 0 && open.length <= timers
    }),
    socketsAndTimers
  )

// ---------------------------------------------------------------------------------------------

describe("commands over TCP", () => {
  it.live("send: the echo server's reply carries the command's params; the ACKN is skipped", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node)
      const connection = yield* connect(port)
      expect(connection.remoteHostname).toBe(`${HOST}:${port}`)
      const response = yield* connection.send("DSPC", "ECHO", { SEQN: 7, NAME: "x" })
      const reply = yield* response.recv
      expect(reply.id).toBe(response.fieldId)
      expect(Field.toRecord(reply)).toEqual({ SEQN: 7, NAME: "x" })
    })
  )

  it.live("with autoAckn off the ACKN reply comes first", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node)
      const connection = yield* connect(port, { autoAckn: false })
      const response = yield* connection.send("DSPC", "ECHO", { N: 1 })
      expect(Field.toRecord(yield* response.recv)).toEqual({ ACKN: 1 })
      expect(Field.toRecord(yield* response.recv)).toEqual({ N: 1 })
    })
  )

  it.live("sendPacket: a packet of several fields; recvField takes each reply by name", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node)
      const connection = yield* connect(port)
      const response = yield* connection.sendPacket("DSPC", [
        { name: "SWEP", params: { FSTA: 10 } },
        { name: "TIME", params: { FCTR: 20 } }
      ])
      const time = yield* response.recvField("TIME")
      const sweep = yield* response.recvField("SWEP")
      expect([time.name, Field.get(time, "FCTR")]).toEqual(["TIME", 20])
      expect([sweep.name, Field.get(sweep, "FSTA")]).toEqual(["SWEP", 10])
      expect(sweep.id).toBe(response.fieldId)
      expect(time.id).not.toBe(sweep.id)
    })
  )

  it.live("a Response gets only its own replies; unrelated fields go to recv", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node)
      const connection = yield* connect(port)
      const reply = yield* connection.request("DSPC", "NOIS", { N: 1 })
      expect([reply.name, Field.get(reply, "N")]).toEqual(["NOIS", 1])
      const other = yield* connection.recvField("DSPC", "OTHR")
      expect(Field.get(other, "N")).toBe(2)
      const stat = yield* connection.recv
      expect([stat.packetType, stat.name, Field.get(stat, "OCON")]).toEqual(["STAT", "STAT", 1])
    })
  )

  it.live("several Responses wait concurrently, each for its own replies", () =>
    Effect.gen(function* () {
      // replies in the opposite order of the commands
      const reversing = (connection: Connection.Connection) =>
        connection.fields.pipe(
          Stream.take(3),
          Stream.runCollect,
          Effect.flatMap((fields) =>
            Effect.forEach([...fields].reverse(), (field) => field.reply(field.params), { discard: true })
          ),
          Effect.andThen(Effect.never)
        )
      const { port } = yield* serve(reversing)
      const connection = yield* connect(port)
      const responses = yield* Effect.forEach([1, 2, 3], (n) => connection.send("DSPC", "SWEP", { SEQN: n }))
      const replies = yield* Effect.forEach(responses, (response) => response.recv, { concurrency: "unbounded" })
      expect(replies.map((reply) => Field.get(reply, "SEQN"))).toEqual([1, 2, 3])

      const { port: echoPort } = yield* serve(node)
      const busy = yield* connect(echoPort)
      const many = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => busy.request("DSPC", "ECHO", { SEQN: i }),
        { concurrency: "unbounded" }
      )
      expect(many.map((reply) => Field.get(reply, "SEQN"))).toEqual(Array.from({ length: 50 }, (_, i) => i))
    })
  )

  it.live("a WARN reply is logged with its annotations and still delivered", () => {
    const lines: Array<LogLine> = []
    return Effect.gen(function* () {
      const { port } = yield* serve(node)
      const connection = yield* connect(port)
      const reply = yield* connection.request("DSPC", "CAUT")
      expect(Field.get(reply, "N")).toBe(1)
      const warning = lines.find((line) => line.annotations.ncp === "CommandWarning")
      expect(warning?.level).toBe("Warn")
      expect(warning?.message).toContain("low battery")
      expect(warning?.annotations).toMatchObject({
        remote: `${HOST}:${port}`,
        packetType: "DSPC",
        field: "CAUT",
        fieldId: reply.id,
        detail: "low battery",
        code: 7
      })
    }).pipe(Effect.provide(capturingLogger(lines)))
  })

  it.live("an ERRO reply fails the command with a CommandError carrying detail and code", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node)
      const connection = yield* connect(port)
      const error = yield* Effect.flip(connection.request("DSPC", "FAIL"))
      expect(error).toMatchObject({
        _tag: "CommandError",
        packetType: "DSPC",
        fieldName: "FAIL",
        detail: "bad range",
        code: 400
      })
      // the connection carries on
      expect(Field.get(yield* connection.request("DSPC", "ECHO", { N: 3 }), "N")).toBe(3)
    })
  )
})

describe("errors and closing over TCP", () => {
  it.live("the client closes: the server handler's fields stream ends after the last field", () =>
    Effect.gen(function* () {
      const received = yield* Deferred.make<ReadonlyArray<string>>()
      const { port } = yield* serve((connection) =>
        connection.fields.pipe(
          Stream.map((field) => field.name),
          Stream.runCollect,
          Effect.flatMap((names) => Deferred.succeed(received, names))
        )
      )
      const connection = yield* connect(port)
      yield* Effect.scoped(connection.send("DSPC", "ONE"))
      yield* Effect.scoped(connection.send("DSPC", "LAST"))
      yield* connection.close
      expect(yield* Deferred.await(received)).toEqual(["ONE", "LAST"])
      expect((yield* connection.closed)._tag).toBe("ConnectionClosed")
    })
  )

  it.live("the server handler returns: the client's recv fails with ConnectionClosed and closed completes", () =>
    Effect.gen(function* () {
      // answers one command, then returns
      const { port } = yield* serve((connection) => Effect.flatMap(connection.recv, (field) => field.reply({ BYE: 1 })))
      const connection = yield* connect(port)
      const reply = yield* connection.request("DSPC", "ONCE")
      expect(Field.get(reply, "BYE")).toBe(1)
      expect(yield* Effect.flip(connection.recv)).toMatchObject({ _tag: "ConnectionClosed" })
      expect(yield* connection.closed).toMatchObject({ _tag: "ConnectionClosed" })
    })
  )

  it.live("a connection to a closed port fails with a NetworkError naming the address", () =>
    Effect.gen(function* () {
      // a port that was free a moment ago: the listener closes with its scope
      const { port } = yield* Effect.scoped(serve(node))
      const error = failureOf(yield* Effect.exit(Effect.scoped(connect(port))))
      expect(error).toMatchObject({ _tag: "NetworkError", remote: `${HOST}:${port}` })
      expect(error.message).toContain(`${HOST}:${port}`)
      expect(error.message).toContain("ECONNREFUSED")
    })
  )

  it.live("closing a client, then the server, leaves no sockets or timers behind", () =>
    Effect.gen(function* () {
      // the sockets of earlier tests close first
      const before = yield* settled()
      const serverScope = yield* Scope.make()
      const { port } = yield* Scope.provide(serve(node), serverScope)
      const clientScope = yield* Scope.make()
      const connection = yield* Scope.provide(connect(port), clientScope)
      yield* connection.request("DSPC", "ECHO")
      expect(activeResources().length).toBeGreaterThan(before.length)
      yield* Scope.close(clientScope, Exit.void)
      yield* Scope.close(serverScope, Exit.void)
      // No socket left, and no timer beyond those of earlier tests (which may have ended since).
      const after = yield* settled(before.length)
      expect(sockets(after)).toEqual([])
      expect(after.length).toBeLessThanOrEqual(before.length)
    })
  )

  it.live("closing the server closes its open connections and leaves no sockets or timers behind", () =>
    Effect.gen(function* () {
      // the sockets of earlier tests close first
      const before = yield* settled()
      const serverScope = yield* Scope.make()
      const { port } = yield* Scope.provide(serve(node), serverScope)
      const clientScope = yield* Scope.make()
      const connection = yield* Scope.provide(connect(port), clientScope)
      yield* connection.request("DSPC", "ECHO")
      yield* Scope.close(serverScope, Exit.void)
      // the server closed the connection gracefully
      expect((yield* connection.closed)._tag).toBe("ConnectionClosed")
      yield* Scope.close(clientScope, Exit.void)
      // No socket left, and no timer beyond those of earlier tests (which may have ended since).
      const after = yield* settled(before.length)
      expect(sockets(after)).toEqual([])
      expect(after.length).toBeLessThanOrEqual(before.length)
    })
  )
})

describe("TLS and authentication", () => {
  const certificate = SelfSignedCertificate.generate()

  it.live("TLS with a certificate made at test time, trusted through ca", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node, { tls: certificate })
      const connection = yield* connect(port, { tls: { ca: certificate.cert } })
      expect(Field.get(yield* connection.request("DSPC", "ECHO", { N: 5 }), "N")).toBe(5)
    })
  )

  it.live("TLS without the certificate's authority is refused with a NetworkError", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node, { tls: certificate })
      const error = failureOf(yield* Effect.exit(Effect.scoped(connect(port, { tls: true }))))
      expect(error).toMatchObject({ _tag: "NetworkError", remote: `${HOST}:${port}` })
      expect(error.message).toMatch(/self[- ]signed/i)
    })
  )

  const authenticate = (credentials: { readonly username: string; readonly password: Redacted.Redacted<string> }) =>
    Effect.succeed(credentials.username === "admin" && Redacted.value(credentials.password) === "secret")

  it.live("authentication with the right credentials, with and without TLS", () =>
    Effect.gen(function* () {
      const plain = yield* serve(node, { authenticate })
      const connection = yield* connect(plain.port, { username: "admin", password: "secret" })
      expect(Field.get(yield* connection.request("DSPC", "ECHO", { N: 6 }), "N")).toBe(6)

      const secure = yield* serve(node, { authenticate, tls: certificate })
      const overTls = yield* connect(secure.port, {
        username: "admin",
        password: Redacted.make("secret"),
        tls: { ca: certificate.cert }
      })
      expect(Field.get(yield* overTls.request("DSPC", "ECHO", { N: 7 }), "N")).toBe(7)
    })
  )

  it.live("wrong credentials fail with an AuthenticationError", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node, { authenticate })
      const error = failureOf(
        yield* Effect.exit(Effect.scoped(connect(port, { username: "admin", password: "guess" })))
      )
      expect(error).toMatchObject({ _tag: "AuthenticationError", remote: `${HOST}:${port}` })
      expect(error.message).toContain("401")
    })
  )

  it.live("a client that ignores the 401 and speaks NCP anyway gets no HELO: the server closes at once", () =>
    Effect.gen(function* () {
      const { port } = yield* serve(node, { authenticate })
      const peer = yield* RawPeer.connect(port)
      const token = Buffer.from("admin:guess").toString("base64")
      yield* peer.write(`CONNECT ncp.service HTTP/1.1\r\nProxy-Authorization: Basic ${token}\r\n\r\n`)
      const head = yield* peer.readHead
      expect(head.split("\r\n")[0]).toBe("HTTP/1.1 401 Unauthorized")
      expect(head).toContain('Proxy-Authenticate: Basic realm="CRFS RFeye Node", charset="utf-8"')
      yield* peer.send("LINK", "CCRE", 1, { CIW: "intruder", CUSR: "u", CDOM: "", LINK: 30 })
      const after = yield* peer.untilEnded
      expect(after.length).toBe(0)
    })
  )
})
