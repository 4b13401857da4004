import { inspect } from "node:util"
import { NcpCommand, WireSchema } from "@effect-ncp/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { NodeNcp, SelfSignedCertificate } from "../src/index.js"
import {
  CommandError,
  ConnectionClosed,
  type ConnectionError,
  connect,
  InvalidParams,
  isNcpError,
  NcpError,
  NetworkError,
  NetworkTimeout,
  serve,
  Value
} from "../src/promise.js"
import { deferred, HOST, MANY, rejection, testNode } from "./promiseHarness.js"

// The Promise API's client over real sockets on 127.0.0.1, against a test node served with the
// Promise API. Every test awaits real events, never a fixed delay.

const Echo = NcpCommand.make("DSPC", "ECHO", {
  params: { SEQN: WireSchema.i32, NAME: Schema.optionalKey(WireSchema.string) },
  reply: { SEQN: WireSchema.i32 }
})

const Gated = NcpCommand.make("DSPC", "GATE", { reply: { N: WireSchema.i32 }, stream: true })

describe("connect and request", () => {
  it("request resolves with the reply: params with their wire types, get and toRecord; the connection names the node", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port })
    expect(connection.remoteHostname).toBe(`${HOST}:${server.port}`)
    expect(connection.remoteAddress).toBe(HOST)
    expect(connection.remotePort).toBe(server.port)
    expect(connection.timeout).toBe(60)
    expect(connection.isClosing).toBe(false)

    const reply = await connection.request("DSPC", "ECHO", [
      ["SEQN", 7],
      ["BIG", Value.u64(2n ** 40n)],
      ["NAME", "x"],
      ["PDAT", new Float32Array([1.5, 2.5])]
    ])
    expect(reply.packetType).toBe("DSPC")
    expect(reply.name).toBe("ECHO")
    expect(reply.get("SEQN")).toBe(7)
    expect(reply.get("BIG")).toBe(2n ** 40n)
    expect(reply.has("NAME")).toBe(true)
    expect(reply.has("NONE")).toBe(false)
    expect(reply.get("NONE")).toBeUndefined()
    expect(reply.params.find((param) => param.name === "BIG")?.value.type).toBe("u64")
    expect(reply.toRecord()).toEqual({ SEQN: 7, BIG: 2n ** 40n, NAME: "x", PDAT: new Float32Array([1.5, 2.5]) })
    expect(reply.packetTimestamp.seconds).toBeGreaterThan(1_700_000_000)
    expect(inspect(reply, { breakLength: Number.POSITIVE_INFINITY })).toBe(
      `DSPC ECHO #${reply.id} { SEQN: 7, BIG: 1099511627776n, NAME: 'x', PDAT: Float32Array(2) [ 1.5, 2.5 ] }`
    )
  })

  it("TLS: a connection trusting the server's certificate through ca", async () => {
    const certificate = SelfSignedCertificate.generate()
    await using server = await testNode({ tls: certificate })
    await using connection = await connect({ host: HOST, port: server.port, tls: { ca: certificate.cert } })
    expect((await connection.request("DSPC", "ECHO", { N: 5 })).get("N")).toBe(5)
    const refused = await rejection(connect({ host: HOST, port: server.port, tls: true }))
    expect(refused).toBeInstanceOf(NetworkError)
    expect((refused as NetworkError).message).toMatch(/self[- ]signed/i)
  })

  it("the tunnel's credentials: the right ones connect, wrong ones reject with an AuthenticationError", async () => {
    await using server = await testNode({
      authenticate: async ({ username, password }) => username === "admin" && password === "secret"
    })
    await using connection = await connect({ host: HOST, port: server.port, username: "admin", password: "secret" })
    expect((await connection.request("DSPC", "ECHO", { N: 6 })).get("N")).toBe(6)
    const refused = await rejection(connect({ host: HOST, port: server.port, username: "admin", password: "guess" }))
    expect(refused).toMatchObject({ _tag: "AuthenticationError" })
    expect(refused).toBeInstanceOf(NcpError)
  })
})

describe("send and Responses", () => {
  it("recv takes the replies one by one; for await takes the rest in order", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port })
    await using response = await connection.send("DSPC", "MANY")
    expect(response.packetType).toBe("DSPC")
    expect(response.fieldName).toBe("MANY")
    const first = await response.recv()
    expect(first.id).toBe(response.fieldId)
    expect(first.get("N")).toBe(1)
    const rest: Array<unknown> = []
    for await (const reply of response) {
      rest.push(reply.get("N"))
      if (rest.length === MANY - 1) break
    }
    expect(rest).toEqual([2, 3, 4, 5])
  })

  it("leaving a for await loop releases the Response: the command's later replies are no longer its", async () => {
    const gate = deferred()
    await using server = await testNode({}, gate.promise)
    await using connection = await connect({ host: HOST, port: server.port })
    const response = await connection.send("DSPC", "GATE")
    for await (const reply of response) {
      expect(reply.get("N")).toBe(1)
      break
    }
    gate.resolve()
    // the later replies reach the connection's inbox, as fields no Response claims
    const unclaimed = await connection.recvField("DSPC", "GATE")
    expect(unclaimed.get("N")).toBe(2)
    // a closed Response rejects instead of waiting for replies that no longer reach it
    expect(await rejection(response.recv())).toBeInstanceOf(ConnectionClosed)
    expect(await response[Symbol.asyncIterator]().next()).toEqual({ done: true, value: undefined })
  })

  it("sendPacket: one Response for the replies to every field; recvField picks one field's", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port })
    await using response = await connection.sendPacket("DSPC", [{ name: "ECHO", params: { N: 1 } }, { name: "MANY" }])
    expect((await response.recvField("ECHO")).get("N")).toBe(1)
    expect((await response.recvField("MANY")).get("N")).toBe(1)
    expect((await response.recv()).name).toBe("MANY")
  })

  it("for await pulls: while the loop waits, the node's replies stop at the connection's buffers", async () => {
    const total = 400
    let sent = 0
    const allSent = deferred()
    const data = new Uint8Array(64 * 1024)
    await using server = await serve(
      async (field) => {
        for (let n = 1; n <= total; n++) {
          await field.reply({ N: n, DATA: data })
          sent = n
        }
        allSent.resolve()
      },
      { host: HOST, port: 0, shutdownGrace: 0 }
    )
    await using connection = await connect({ host: HOST, port: server.port, bufferCapacity: 4 })
    await using response = await connection.send("DSPC", "FLOD")
    let received = 0
    for await (const reply of response) {
      expect(reply.get("N")).toBe(++received)
      if (received === 1) {
        // the loop is not asking: the node gets ahead by what the buffers hold, then waits
        let before = -1
        while (sent !== before) {
          before = sent
          await new Promise((resolve) => setTimeout(resolve, 200))
        }
        expect(sent).toBeLessThan(total)
      }
      if (received === total) break
    }
    await allSent.promise
    expect(received).toBe(total)
  }, 20_000)
})

describe("fields no Response claims", () => {
  it("recv, recvField and for await over the connection take them", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port })
    expect((await connection.request("DSPC", "NOIS", { N: 3 })).get("N")).toBe(3)
    const other = await connection.recvField("DSPC", "OTHR")
    expect(other.get("N")).toBe(2)
    const status = await connection.recv()
    expect(status.packetType).toBe("STAT")
    expect(status.get("OCON")).toBe(1)
    expect(status.connection).toBe(connection)

    await connection.request("DSPC", "NOIS", { N: 4 })
    const names: Array<string> = []
    for await (const field of connection) {
      names.push(`${field.packetType} ${field.name}`)
      if (names.length === 2) break
    }
    expect(names).toEqual(["STAT STAT", "DSPC OTHR"])
  })
})

describe("timeouts, in seconds", () => {
  it("a request's timeout rejects with a NetworkTimeout naming the command; the connection goes on", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port })
    const started = performance.now()
    const error = await rejection(connection.request("DSPC", "SLOW", {}, { timeout: 0.2 }))
    expect(performance.now() - started).toBeGreaterThanOrEqual(190)
    expect(error).toBeInstanceOf(NetworkTimeout)
    expect(error).toMatchObject({ command: "DSPC SLOW", seconds: 0.2 })
    expect((await connection.request("DSPC", "ECHO", { N: 1 })).get("N")).toBe(1)
  })

  it("requestTimeout is each reply's default deadline; { timeout: 0 } is none", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port, requestTimeout: 0.1 })
    expect(await rejection(connection.request("DSPC", "SLOW"))).toMatchObject({ _tag: "NetworkTimeout", seconds: 0.1 })
    await using response = await connection.send("DSPC", "SLOW")
    expect(await rejection(response.recv())).toBeInstanceOf(NetworkTimeout)
    // no deadline: still waiting when the connection closes
    const waiting = connection.request("DSPC", "SLOW", {}, { timeout: 0 })
    const outcome = await Promise.race([
      waiting.then(
        () => "replied",
        () => "rejected"
      ),
      new Promise((resolve) => setTimeout(() => resolve("waiting"), 300))
    ])
    expect(outcome).toBe("waiting")
    await connection.close()
    expect(await rejection(waiting)).toBeInstanceOf(ConnectionClosed)
  })

  it("a timeout that is not a number of seconds rejects with a RangeError", async () => {
    await using server = await testNode()
    expect(await rejection(connect({ host: HOST, port: server.port, timeout: -1 }))).toBeInstanceOf(RangeError)
    await using connection = await connect({ host: HOST, port: server.port })
    expect(await rejection(connection.request("DSPC", "ECHO", {}, { timeout: Number.NaN }))).toBeInstanceOf(RangeError)
  })
})

describe("errors", () => {
  it("every rejection is a tagged class of the library, and an NcpError", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port })

    const failed = await rejection(connection.request("DSPC", "FAIL"))
    expect(failed).toBeInstanceOf(CommandError)
    expect(failed).toMatchObject({ _tag: "CommandError", detail: "bad range", code: 400, fieldName: "FAIL" })

    const refused = await rejection(connect({ host: HOST, port: 1 }))
    expect(refused).toBeInstanceOf(NetworkError)

    await connection.close()
    const closed = await rejection(connection.request("DSPC", "ECHO"))
    expect(closed).toBeInstanceOf(ConnectionClosed)

    for (const error of [failed, refused, closed]) {
      expect(error).toBeInstanceOf(NcpError)
      expect(isNcpError(error)).toBe(true)
      expect(error).toBeInstanceOf(Error)
    }
    expect(isNcpError(new Error("other"))).toBe(false)
    expect(new Error("other")).not.toBeInstanceOf(NcpError)
  })

  it("the Effect API fails with the same classes: instanceof holds across the two APIs", async () => {
    await using server = await testNode()
    const refused = await Effect.runPromise(Effect.flip(Effect.scoped(NodeNcp.connect({ host: HOST, port: 1 }))))
    expect(refused).toBeInstanceOf(NetworkError)
    expect(refused).toBeInstanceOf(NcpError)
    const failed = await Effect.runPromise(
      Effect.scoped(
        Effect.flatMap(NodeNcp.connect({ host: HOST, port: server.port }), (connection) =>
          Effect.flip(connection.request("DSPC", "FAIL"))
        )
      )
    )
    expect(failed).toBeInstanceOf(CommandError)
    expect(isNcpError(failed)).toBe(true)
    // and a rejection of the Promise API is what Effect's catchTag catches
    await using connection = await connect({ host: HOST, port: server.port })
    const caught = await Effect.runPromise(
      Effect.tryPromise({
        try: () => connection.request("DSPC", "FAIL"),
        catch: (error) => error as CommandError
      }).pipe(Effect.catchTag("CommandError", (error) => Effect.succeed(error.code)))
    )
    expect(caught).toBe(400)
  })

  it("with autoErro off, an error reply is a reply", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port, autoErro: false })
    expect((await connection.request("DSPC", "FAIL")).toRecord()).toEqual({ ERRO: "bad range", ERRC: 400 })
  })
})

describe("typed commands", () => {
  it("call resolves with the reply decoded; bad params reject with InvalidParams and send nothing", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port })
    expect(await connection.call(Echo, { SEQN: 9, NAME: "n" }, { timeout: 5 })).toEqual({ SEQN: 9 })
    const invalid = await rejection(connection.call(Echo, { SEQN: 1.5 }))
    expect(invalid).toBeInstanceOf(InvalidParams)
    expect(invalid).toMatchObject({ param: "SEQN" })
    expect(invalid).toBeInstanceOf(NcpError)
    const failed = await rejection(connection.call(NcpCommand.make("DSPC", "FAIL")))
    expect(failed).toBeInstanceOf(CommandError)
  })

  it("stream iterates over the decoded replies, sent when the loop starts; leaving the loop ends it", async () => {
    const gate = deferred()
    await using server = await testNode({}, gate.promise)
    await using connection = await connect({ host: HOST, port: server.port })
    const replies = connection.stream(Gated)
    const seen: Array<number> = []
    for await (const reply of replies) {
      seen.push(reply.N)
      break
    }
    expect(seen).toEqual([1])
    gate.resolve()
    // the stream's registration is gone: its later replies are unclaimed
    expect((await connection.recvField("DSPC", "GATE")).get("N")).toBe(2)
    for await (const _ of replies) throw new Error("a stream left is over")
  })
})

describe("closing", () => {
  it("close: isClosing at once, closed resolves with ConnectionClosed, waiting calls reject, twice is once", async () => {
    await using server = await testNode()
    const connection = await connect({ host: HOST, port: server.port })
    const waiting = connection.request("DSPC", "SLOW")
    const closing = connection.close()
    expect(connection.isClosing).toBe(true)
    expect(connection.close()).toBe(closing)
    await closing
    expect(await rejection(waiting)).toBeInstanceOf(ConnectionClosed)
    const reason: ConnectionError = await connection.closed
    expect(reason).toBeInstanceOf(ConnectionClosed)
    // every call after it rejects the same way
    expect(await rejection(connection.send("DSPC", "ECHO"))).toBeInstanceOf(ConnectionClosed)
    expect(await rejection(connection.recv())).toBeInstanceOf(ConnectionClosed)
    expect(await rejection(connection.call(Echo, { SEQN: 1 }))).toBeInstanceOf(ConnectionClosed)
    expect(await rejection(connection.stream(Gated)[Symbol.asyncIterator]().next())).toBeInstanceOf(ConnectionClosed)
  })

  it("await using closes the connection and its Response at the end of the block", async () => {
    await using server = await testNode()
    let outside: Awaited<ReturnType<typeof connect>> | undefined
    {
      await using connection = await connect({ host: HOST, port: server.port })
      await using response = await connection.send("DSPC", "MANY")
      expect((await response.recv()).get("N")).toBe(1)
      outside = connection
    }
    expect(outside.isClosing).toBe(true)
    expect(await outside.closed).toBeInstanceOf(ConnectionClosed)
  })

  it("the node closing the connection: closed resolves, isClosing turns true, a for await loop ends", async () => {
    await using server = await testNode()
    await using connection = await connect({ host: HOST, port: server.port })
    const response = await connection.send("DSPC", "SLOW")
    const loop = (async () => {
      const replies: Array<unknown> = []
      for await (const reply of response) replies.push(reply)
      return replies
    })()
    expect((await connection.request("DSPC", "BYE", { N: 1 })).get("N")).toBe(1)
    expect(await connection.closed).toBeInstanceOf(ConnectionClosed)
    expect(connection.isClosing).toBe(true)
    expect(await loop).toEqual([])
  })
})
