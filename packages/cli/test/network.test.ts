import { createServer } from "node:net"
import { Field } from "@effect-ncp/core"
import { NodeNcp } from "@effect-ncp/node"
import * as Effect from "effect/Effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exited, lines, logAnnotations, ncp, noStackTrace, type Served, serve } from "./ncp.js"

// The built command against real `ncp serve` processes on 127.0.0.1. One server per mode,
// started together and shared; each test runs its own clients, so the tests run concurrently.

/** A port nothing listens on: bound, then closed. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1))
    })
  })

let node: Served
let echo: Served
let auth: Served
let tls: Served

beforeAll(async () => {
  ;[node, echo, auth, tls] = await Promise.all([
    serve([]),
    serve(["--echo"]),
    serve(["--auth", "admin:secret"]),
    serve(["--tls-self-signed"])
  ])
}, 30_000)

afterAll(() => {
  for (const served of [node, echo, auth, tls]) served?.process.kill("SIGKILL")
})

describe.concurrent("ncp serve and send (subprocesses on 127.0.0.1)", { timeout: 30_000 }, () => {
  it("serve prints listening on HOST:PORT first", async () => {
    expect(node.address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(lines(node.output())[0]).toBe(`listening on ${node.address}`)
  })

  it("send prints the sweep reply in a readable layout", async () => {
    const { status, stdout, stderr } = await ncp([
      "send",
      node.address,
      "DSPC",
      "SWEP",
      "FSTA=400",
      "FSTP=500",
      "BINS=64"
    ])
    expect(stderr).toBe("")
    expect(status).toBe(0)
    expect(lines(stdout)[0]).toMatch(/^DSPC SWEP id \d+ packet 1 at \d{4}-/)
    expect(stdout).toMatch(/FSTA\s+i32\s+400/)
    expect(stdout).toMatch(/FSTP\s+i32\s+500/)
    expect(stdout).toMatch(/PDAT\s+u8\[\]\s+64 values: /)
  })

  it("send --json --count 3 prints three JSON lines in the form ncp decode prints", async () => {
    const { status, stdout } = await ncp([
      "send",
      node.address,
      "DSPC",
      "SWEP",
      "FSTA=88",
      "FSTP=108",
      "BINS=8",
      "REPT=3",
      "--count",
      "3",
      "--json"
    ])
    expect(status).toBe(0)
    const fields = lines(stdout).map((line) => JSON.parse(line))
    expect(fields).toHaveLength(3)
    for (const field of fields) {
      expect(Object.keys(field)).toEqual(["packet_type", "packet_id", "timestamp", "name", "id", "params"])
      expect(field).toMatchObject({ packet_type: "DSPC", name: "SWEP", id: fields[0].id })
      expect(field.params.map((param: [string, unknown]) => param[0])).toEqual(["FSTA", "FSTP", "BINS", "PDAT"])
      expect(field.params[3][1].value).toHaveLength(8)
    }
  })

  it("send gets a time capture and a status", async () => {
    const time = await ncp(["send", node.address, "DSPC", "TIME", "FCTR=2400", "NSMP=1000", "--json"])
    expect(time.status).toBe(0)
    const params = Object.fromEntries(JSON.parse(time.stdout).params)
    expect(params.DATA.type).toBe("i16[]")
    expect(params.DATA.value).toHaveLength(2000)
    const stat = await ncp(["send", node.address, "STAT", "RFLO"])
    expect(stat.status).toBe(0)
    expect(stat.stdout).toMatch(/STAT\s+string\s+"OK"/)
  })

  it("sweep draws a chart of the range", async () => {
    const { status, stdout, stderr } = await ncp([
      "sweep",
      node.address,
      "--start",
      "88e6",
      "--stop",
      "108e6",
      "--width",
      "40"
    ])
    expect(stderr).toBe("")
    expect(status).toBe(0)
    expect(lines(stdout)[0]).toMatch(/^88-108 MHz, 1024 bins, peak -?\d+(\.\d)? dBm at/)
    expect(stdout).toContain("dBm")
    expect(stdout).toMatch(/108 MHz/)
  })

  it("a command error from the node: one stderr line, exit 1", async () => {
    const { status, stdout, stderr } = await ncp(["send", node.address, "DSPC", "NOPE"])
    expect(status).toBe(1)
    expect(stdout).toBe("")
    expect(lines(stderr)).toEqual(["ncp send: command error from the node: DSPC NOPE: Unknown command (code 400)"])
  })

  it("a closed port: one clear stderr line, exit 1", async () => {
    const port = await closedPort()
    const { status, stderr } = await ncp(["send", `127.0.0.1:${port}`, "STAT", "RFLO"])
    expect(status).toBe(1)
    expect(lines(stderr)).toEqual([
      expect.stringMatching(new RegExp(`^ncp send: 127\\.0\\.0\\.1:${port}: cannot connect`))
    ])
    noStackTrace(stderr)
  })

  it("serve logs each connection, opened and closed", async () => {
    const { status } = await ncp(["send", node.address, "STAT", "RFLO", "--json"])
    expect(status).toBe(0)
    await node.waitFor(/\nconnection from \S+ closed\n/)
    expect(node.output()).toMatch(/\nconnection from \S+\n/)
  })

  it("send --json to a node that changes the timeout: only JSON lines on stdout, the warning as one stderr line", async () => {
    // The node agrees to at most 60 s, so asking for 100 s is answered with 60 s.
    const { status, stdout, stderr } = await ncp(["send", node.address, "STAT", "RFLO", "--timeout", "100", "--json"])
    expect(status).toBe(0)
    expect(lines(stdout)).toHaveLength(1)
    for (const line of lines(stdout)) expect(JSON.parse(line)).toMatchObject({ packet_type: "STAT", name: "RFLO" })
    // One line: the level, a message, the annotations in brackets.
    expect(lines(stderr)).toEqual([expect.stringMatching(/^ncp: warning: \S.* \[.*\]$/)])
    expect(logAnnotations(stderr.trim())).toEqual(
      expect.arrayContaining([
        "ncp=TimeoutChanged",
        expect.stringMatching(/^remote=127\.0\.0\.1:\d+$/),
        "requested=100",
        "agreed=60"
      ])
    )
    // The server logs its side of it on its own stderr, one line too.
    await node.waitFor(/ncp=TimeoutChanged.*\n/)
    const serverSide = lines(node.errors()).filter((line) => line.includes("ncp=TimeoutChanged"))
    expect(serverSide).toEqual([expect.stringMatching(/^ncp: warning: \S.* \[.*\]$/)])
    expect(logAnnotations(serverSide[0] ?? "")).toEqual(expect.arrayContaining(["requested=100", "agreed=60"]))
    expect(node.errors()).not.toMatch(/\{\n/)
  })

  it("send --json and a reply carrying a WARN: the reply as JSON on stdout, the warning as one stderr line", async () => {
    const { status, stdout, stderr } = await ncp([
      "send",
      echo.address,
      "ABC",
      "DEF",
      "WARN=mind the gap",
      "WARC=7",
      "--json"
    ])
    expect(status).toBe(0)
    expect(lines(stdout).map((line) => JSON.parse(line))).toEqual([
      expect.objectContaining({
        packet_type: "ABC",
        name: "DEF",
        params: [
          ["WARN", { type: "string", value: "mind the gap" }],
          ["WARC", { type: "i32", value: 7 }]
        ]
      })
    ])
    // One line: the level, a message naming the warning, the annotations in brackets.
    expect(lines(stderr)).toEqual([expect.stringMatching(/^ncp: warning: \S.*mind the gap.* \[.*\]$/)])
    expect(logAnnotations(stderr.trim())).toEqual(
      expect.arrayContaining(["ncp=CommandWarning", 'detail="mind the gap"', "code=7"])
    )
  })

  it("--echo answers every field with its own params", async () => {
    const { status, stdout } = await ncp([
      "send",
      echo.address,
      "ABC",
      "DEF",
      "X=1",
      "Y=hello",
      "Z:f32[]=1.5,2",
      "--json"
    ])
    expect(status).toBe(0)
    const field = JSON.parse(stdout)
    expect(field).toMatchObject({ packet_type: "ABC", name: "DEF" })
    expect(field.params).toEqual([
      ["X", { type: "i32", value: 1 }],
      ["Y", { type: "string", value: "hello" }],
      ["Z", { type: "f32[]", value: [1.5, 2] }]
    ])
  })

  it("--auth lets the right credentials in and refuses wrong ones with an authentication error", async () => {
    const right = await ncp(["send", auth.address, "STAT", "RFLO", "--user", "admin", "--password", "secret"])
    expect(right.stderr).toBe("")
    expect(right.status).toBe(0)
    const wrong = await ncp(["send", auth.address, "STAT", "RFLO", "--user", "admin", "--password", "nope"])
    expect(wrong.status).toBe(1)
    expect(lines(wrong.stderr)).toEqual([expect.stringMatching(/^ncp send: authentication refused: /)])
    // Without credentials the client waits for HELO while the node waits for the tunnel.
    const none = await ncp(["send", auth.address, "STAT", "RFLO", "--timeout", "1"])
    expect(none.status).toBe(1)
    expect(lines(none.stderr)).toEqual([expect.stringMatching(/^ncp send: timeout: .*timed out after 1 s/)])
  })

  it("--tls-self-signed serves TLS that send --tls --insecure accepts and send --tls refuses", async () => {
    const insecure = await ncp([
      "send",
      tls.address,
      "DSPC",
      "SWEP",
      "FSTA=1",
      "FSTP=2",
      "--tls",
      "--insecure",
      "--json"
    ])
    expect(insecure.stderr).toBe("")
    expect(insecure.status).toBe(0)
    expect(JSON.parse(insecure.stdout)).toMatchObject({ packet_type: "DSPC", name: "SWEP" })
    const verified = await ncp(["send", tls.address, "STAT", "RFLO", "--tls"])
    expect(verified.status).toBe(1)
    expect(lines(verified.stderr)).toEqual([expect.stringMatching(/^ncp send: .*certificate/)])
  })

  it("demo runs a node and a client in one process, draws a sweep and exits 0", async () => {
    const { status, stdout, stderr } = await ncp(["demo"])
    expect(stderr).toBe("")
    expect(status).toBe(0)
    expect(stdout).toContain("88-108 MHz, 1024 bins")
    expect(stdout).toContain("IQ capture: 262144 samples")
  })

  it("serve stops cleanly on SIGTERM and on SIGINT and exits 0", async () => {
    for (const signal of ["SIGTERM", "SIGINT"] as const) {
      const own = await serve(["--echo"])
      own.process.kill(signal)
      expect(await exited(own.process)).toBe(0)
    }
  })

  it("serve stops cleanly on SIGTERM while a client is connected, after answering its command", async () => {
    const own = await serve(["--shutdown-grace", "5"])
    const [host = "", port = ""] = own.address.split(":")
    const reply = await Effect.runPromise(
      Effect.gen(function* () {
        const connection = yield* NodeNcp.connect({ host, port: Number(port), autoAckn: false })
        const response = yield* connection.send("DSPC", "TIME", { NSMP: 1048576 })
        // the node has the command (its ACKN came back): now stop it
        expect(Field.has(yield* response.recv, "ACKN")).toBe(true)
        own.process.kill("SIGTERM")
        return yield* response.recv
      }).pipe(Effect.scoped)
    )
    // the command in flight was answered before the server closed
    expect(Field.get(reply, "NSMP")).toBe(1048576)
    expect(await exited(own.process)).toBe(0)
  })

  it("send --tls to a peer that accepts TCP but never answers TLS fails after --timeout instead of hanging", async () => {
    const silent = createServer(() => {})
    const port = await new Promise<number>((resolve) =>
      silent.listen(0, "127.0.0.1", () => {
        const address = silent.address()
        resolve(typeof address === "object" && address !== null ? address.port : 1)
      })
    )
    try {
      const { status, stderr } = await ncp(["send", `127.0.0.1:${port}`, "STAT", "STAT", "--tls", "--timeout", "1"])
      expect(status).toBe(1)
      expect(lines(stderr)).toEqual([expect.stringMatching(/^ncp send: .*timed out connecting/)])
    } finally {
      silent.close()
    }
  })

  it("serve takes its limits as flags: a packet over --max-packet-bytes gets LINK ERRO 400", async () => {
    const own = await serve(["--echo", "--max-packet-bytes", "1KiB"])
    try {
      const { status, stderr } = await ncp(["send", own.address, "DSPC", "ECHO", `DATA:raw=${"00".repeat(2048)}`])
      expect(status).toBe(1)
      expect(lines(stderr)).toEqual([expect.stringMatching(/^ncp send: .*Bad request \(code 400\)/)])
    } finally {
      own.process.kill("SIGKILL")
    }
  })
})
