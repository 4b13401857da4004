import { CommandRouter, NcpCommand, WireSchema } from "@effect-ncp/core"
import * as Effect from "effect/Effect"
import { describe, expect, it } from "vitest"
import { ncp } from "../../cli/test/ncp.js"
import { NodeNcp } from "../src/index.js"
import {
  CommandError,
  ConnectionClosed,
  connect,
  ErrorReply,
  type IncomingField,
  NcpError,
  NetworkError,
  serve
} from "../src/promise.js"
import { deferred, HOST, rejection } from "./promiseHarness.js"

// The Promise API's server over real sockets on 127.0.0.1: a handler per command, or a
// CommandRouter; answered by the Promise API's client, the Effect API's, and the built `ncp`.

describe("a handler per command", () => {
  it("the handler gets each command's field and replies to it, as often as it has replies", async () => {
    const seen: Array<IncomingField> = []
    await using server = await serve(
      async (field) => {
        seen.push(field)
        await field.reply({ SUM: Number(field.get("A")) + Number(field.get("B")) })
        await field.send({ DONE: 1 }) // ncplib's name for reply
      },
      { host: HOST, port: 0, shutdownGrace: 0 }
    )
    expect(server.host).toBe(HOST)
    expect(server.port).toBeGreaterThan(0)
    await using connection = await connect({ host: HOST, port: server.port, hostname: "client-a" })
    await using response = await connection.send("CALC", "ADD", { A: 2, B: 3 })
    expect((await response.recv()).toRecord()).toEqual({ SUM: 5 })
    expect((await response.recv()).toRecord()).toEqual({ DONE: 1 })
    const [field] = seen
    expect(field?.packetType).toBe("CALC")
    expect(field?.name).toBe("ADD")
    expect(field?.id).toBe(response.fieldId)
    expect(field?.toRecord()).toEqual({ A: 2, B: 3 })
    expect(field?.connection.remoteHostname).toBe("client-a")
    expect(field?.connection.remoteAddress).toBe(HOST)
  })

  it("a handler that throws answers with ERRO (the message) and ERRC 500; an ErrorReply with its code; the connection goes on", async () => {
    await using server = await serve(
      async (field) => {
        if (field.name === "FAIL") throw new Error("the sweep engine is busy")
        if (field.name === "REFU") throw new ErrorReply({ detail: "FSTA must be below FSTP", code: 400 })
        if (field.name === "SYNC") throw "not even an Error"
        await field.reply(field.params)
      },
      { host: HOST, port: 0, shutdownGrace: 0 }
    )
    await using connection = await connect({ host: HOST, port: server.port })
    const failed = await rejection(connection.request("DSPC", "FAIL"))
    expect(failed).toBeInstanceOf(CommandError)
    expect(failed).toMatchObject({ detail: "the sweep engine is busy", code: 500 })
    expect(await rejection(connection.request("DSPC", "REFU"))).toMatchObject({
      detail: "FSTA must be below FSTP",
      code: 400
    })
    expect(await rejection(connection.request("DSPC", "SYNC"))).toMatchObject({
      detail: "not even an Error",
      code: 500
    })
    expect((await connection.request("DSPC", "ECHO", { N: 1 })).get("N")).toBe(1)
    expect(connection.isClosing).toBe(false)
  })

  it("the commands of one connection run at once, up to concurrency", async () => {
    const running = new Set<string>()
    let most = 0
    const gate = deferred()
    const handler = async (field: IncomingField) => {
      running.add(field.name)
      most = Math.max(most, running.size)
      if (running.size === 2) gate.resolve()
      await Promise.race([gate.promise, new Promise((resolve) => setTimeout(resolve, 300))])
      running.delete(field.name)
      await field.reply({ N: 1 })
    }
    {
      await using server = await serve(handler, { host: HOST, port: 0, shutdownGrace: 0 })
      await using connection = await connect({ host: HOST, port: server.port })
      await Promise.all([connection.request("DSPC", "ONE"), connection.request("DSPC", "TWO")])
      expect(most).toBe(2)
    }
    most = 0
    {
      await using server = await serve(handler, { host: HOST, port: 0, shutdownGrace: 0, concurrency: 1 })
      await using connection = await connect({ host: HOST, port: server.port })
      await Promise.all([connection.request("DSPC", "THRE"), connection.request("DSPC", "FOUR")])
      expect(most).toBe(1)
    }
  })

  it("acknowledge: ACKN=1 goes out before the handler runs, as nodes do", async () => {
    await using server = await serve((field) => field.reply({ N: 2 }), {
      host: HOST,
      port: 0,
      shutdownGrace: 0,
      acknowledge: true
    })
    await using connection = await connect({ host: HOST, port: server.port, autoAckn: false })
    await using response = await connection.send("DSPC", "ECHO")
    expect((await response.recv()).toRecord()).toEqual({ ACKN: 1 })
    expect((await response.recv()).toRecord()).toEqual({ N: 2 })
  })
})

describe("a CommandRouter", () => {
  const Add = NcpCommand.make("CALC", "ADD", {
    params: { A: WireSchema.i32, B: WireSchema.i32 },
    reply: { SUM: WireSchema.i32 }
  })
  const router = CommandRouter.make(CommandRouter.route(Add, ({ A, B }) => Effect.succeed({ SUM: A + B })))

  it("answers its typed commands, bad params with ERRC 400, others with Unknown command", async () => {
    await using server = await serve(router, { host: HOST, port: 0, shutdownGrace: 0 })
    await using connection = await connect({ host: HOST, port: server.port })
    expect(await connection.call(Add, { A: 20, B: 22 })).toEqual({ SUM: 42 })
    expect(await rejection(connection.request("CALC", "ADD", { A: 1 }))).toMatchObject({ code: 400 })
    expect(await rejection(connection.request("CALC", "MUL"))).toMatchObject({ detail: "Unknown command", code: 400 })
  })
})

describe("the server's life", () => {
  it("serve rejects with a NetworkError when it cannot listen", async () => {
    await using server = await serve(() => {}, { host: HOST, port: 0 })
    const error = await rejection(serve(() => {}, { host: HOST, port: server.port }))
    expect(error).toBeInstanceOf(NetworkError)
    expect(error).toBeInstanceOf(NcpError)
    expect((error as NetworkError).message).toContain(`${HOST}:${server.port}`)
  })

  it("close ends the connections and refuses new ones; await using closes at the end of the block", async () => {
    let port = 0
    let connection: Awaited<ReturnType<typeof connect>> | undefined
    {
      await using server = await serve((field) => field.reply(field.params), { host: HOST, port: 0, shutdownGrace: 0 })
      port = server.port
      connection = await connect({ host: HOST, port })
      expect((await connection.request("DSPC", "ECHO", { N: 1 })).get("N")).toBe(1)
    }
    expect(await connection.closed).toBeInstanceOf(ConnectionClosed)
    expect(await rejection(connect({ host: HOST, port }))).toBeInstanceOf(NetworkError)
  })

  it("the Effect API's client and a Promise server", async () => {
    await using server = await serve((field) => field.reply({ N: Number(field.get("N")) + 1 }), {
      host: HOST,
      port: 0,
      shutdownGrace: 0
    })
    const reply = await Effect.runPromise(
      Effect.scoped(
        Effect.flatMap(NodeNcp.connect({ host: HOST, port: server.port }), (connection) =>
          connection.request("DSPC", "INCR", { N: 41 })
        )
      )
    )
    expect(reply.params).toEqual([{ name: "N", value: { type: "i32", value: 42 } }])
  })

  it("ncp send, the built command line (ncplib's client's behaviour), talks to a Promise server", async () => {
    await using server = await serve(
      async (field) => {
        if (field.name === "FAIL") throw new ErrorReply({ detail: "no such band", code: 404 })
        await field.reply({ ECHO: `${field.get("TEXT")}!`, N: Number(field.get("N")) * 2 })
      },
      { host: HOST, port: 0, shutdownGrace: 0 }
    )
    const sent = await ncp(["send", `${HOST}:${server.port}`, "DSPC", "ECHO", "TEXT=hello", "N=21", "--json"])
    expect(sent.stderr).toBe("")
    expect(sent.status).toBe(0)
    expect(JSON.parse(sent.stdout)).toMatchObject({
      packet_type: "DSPC",
      name: "ECHO",
      params: [
        ["ECHO", { type: "string", value: "hello!" }],
        ["N", { type: "i32", value: 42 }]
      ]
    })
    const failed = await ncp(["send", `${HOST}:${server.port}`, "DSPC", "FAIL"])
    expect(failed.status).toBe(1)
    expect(failed.stderr).toContain("no such band (code 404)")
  }, 30_000)
})
