/**
 * The CLI's part of issue 23 ("No client takes the server from the others"): `ncp serve`
 * survives a reader that goes away (EPIPE) and checks its TLS files before listening; `ncp send`
 * gives up on a node that never answers (`--timeout` is the request deadline too) and refuses a
 * timeout the handshake cannot carry; `ncp decode` streams its input through
 * `Capture.CaptureScanner`, which finds the same events whatever the chunks, in flat memory.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as Net from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as V8 from "node:v8"
import * as Vm from "node:vm"
import { type Connection, Encoder, Field, Json } from "@effect-ncp/core"
import { NodeNcp } from "@effect-ncp/node"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Stream from "effect/Stream"
import { afterAll, describe, expect, it } from "vitest"
import * as Capture from "../src/Capture.js"
import { bin, exited, lines, ncp, root } from "./ncp.js"

const KiB = 1024
const MiB = 1024 * KiB

const dir = mkdtempSync(join(tmpdir(), "ncp-fairness-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A port nothing listens on: bound, then closed. */
const freePort = () =>
  new Promise<number>((resolve) => {
    const server = Net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1))
    })
  })

/** Whether something accepts connections on the port of 127.0.0.1. */
const accepting = (port: number) =>
  new Promise<boolean>((resolve) => {
    const socket = Net.connect({ host: "127.0.0.1", port })
    socket.once("connect", () => {
      socket.destroy()
      resolve(true)
    })
    socket.once("error", () => resolve(false))
  })

/** Runs `program` with a NodeNcp server of `handler` on a free port of 127.0.0.1. */
const withServer = <A>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, unknown>,
  program: (address: string) => Promise<A>
): Promise<A> =>
  Effect.runPromise(
    Effect.scoped(
      Effect.flatMap(NodeNcp.make(handler, { host: "127.0.0.1", port: 0, shutdownGrace: 0 }), ({ port }) =>
        Effect.promise(() => program(`127.0.0.1:${port}`))
      )
    )
  )

describe.concurrent("ncp serve", { timeout: 30_000 }, () => {
  it("keeps serving when the reader of its stdout goes away (EPIPE), and exits 0 on SIGTERM", async () => {
    const child = spawn(process.execPath, [bin, "serve", "--port", "0"], { cwd: root })
    let errors = ""
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      errors += chunk
    })
    const first = await new Promise<string>((resolve, reject) => {
      let output = ""
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
        output += chunk
        const line = /^listening on (\S+)\n/.exec(output)
        if (line?.[1] !== undefined) resolve(line[1])
      })
      child.once("exit", (code) => reject(new Error(`ncp serve exited with ${code}: ${errors}`)))
    })
    const [host = "", port = ""] = first.split(":")
    // `| head -1`: the reader takes the first line and goes; every later line meets a closed pipe
    child.stdout.destroy()
    const stat = Effect.scoped(
      Effect.flatMap(NodeNcp.connect({ host, port: Number(port), timeout: "10 seconds" }), (connection) =>
        connection.request("STAT", "STAT")
      )
    )
    // each connection prints two lines (opened, closed) into the broken pipe
    for (let i = 0; i < 3; i++) {
      const reply = await Effect.runPromise(stat)
      expect(Field.get(reply, "STAT")).toBe("OK")
    }
    child.kill("SIGTERM")
    expect(await exited(child)).toBe(0)
    expect(errors).not.toMatch(/EPIPE|Error/)
  })

  it("refuses TLS files that are not PEM before it listens: exit 1, one clear line, nothing on the port", async () => {
    const cert = join(dir, "cert.txt")
    const key = join(dir, "key.txt")
    writeFileSync(cert, "this is not a certificate\n")
    writeFileSync(key, "nor is this a key\n")
    const port = await freePort()
    const { status, stdout, stderr } = await ncp([
      "serve",
      "--port",
      String(port),
      "--tls-cert",
      cert,
      "--tls-key",
      key
    ])
    expect(status).toBe(1)
    expect(stdout).not.toMatch(/listening/)
    expect(lines(stderr)).toEqual([
      expect.stringMatching(
        /^ncp serve: --tls-cert .*cert\.txt and --tls-key .*key\.txt are not a usable PEM certificate and key: /
      )
    ])
    expect(await accepting(port)).toBe(false)
  })

  it("refuses --timeout 1e12 as a usage error naming the flag", async () => {
    const { status, stderr } = await ncp(["serve", "--port", "0", "--timeout", "1e12"])
    expect(status).toBe(2)
    expect(stderr).toMatch(/--timeout/)
  })
})

describe.concurrent("ncp send --timeout", { timeout: 30_000 }, () => {
  // a node that keeps the link alive (keep-alives) and reads every command, answering none
  const silent = (connection: Connection.Connection) => connection.fields.pipe(Stream.runDrain)

  it("is the deadline of the reply: a node that keeps the link but never answers fails the command (exit 1)", () =>
    withServer(silent, async (address) => {
      const { status, stdout, stderr } = await ncp([
        "send",
        address,
        "DSPC",
        "SWEP",
        "FSTA=400",
        "FSTP=500",
        "--timeout",
        "2"
      ])
      expect(status).toBe(1)
      expect(stdout).toBe("")
      expect(lines(stderr).at(-1)).toMatch(
        /^ncp send: timeout: .*timed out after 2 s waiting for a reply to DSPC SWEP$/
      )
    }))

  it("bounds ncp sweep's reply too", () =>
    withServer(silent, async (address) => {
      const { status, stderr } = await ncp(["sweep", address, "--start", "400e6", "--stop", "500e6", "--timeout", "2"])
      expect(status).toBe(1)
      expect(lines(stderr).at(-1)).toMatch(/^ncp sweep: timeout: .*timed out after 2 s/)
    }))

  it("refuses 1e12, 0 and a negative number as usage errors (exit 2) naming the flag, before connecting", async () => {
    for (const value of ["1e12", "0", "-1", "86401"]) {
      const { status, stderr } = await ncp(["send", "127.0.0.1:1", "STAT", "STAT", "--timeout", value])
      expect(status).toBe(2)
      expect(lines(stderr)).toEqual([
        expect.stringMatching(/^ncp send: Invalid value for flag --timeout: .*at most 86400/)
      ])
    }
  })

  it("takes a day, the largest", () =>
    withServer(
      (connection) => connection.fields.pipe(Stream.runForEach((field) => field.reply({ OK: 1 }))),
      async (address) => {
        const { status, stdout } = await ncp(["send", address, "STAT", "STAT", "--timeout", "86400", "--json"])
        expect(status).toBe(0)
        expect(JSON.parse(lines(stdout)[0] ?? "{}")).toMatchObject({ name: "STAT" })
      }
    ))
})

// ---------------------------------------------------------------------------------------------
// ncp decode and the scanner it streams through

interface Vector {
  readonly name: string
  readonly hex: string
}
const vectors = JSON.parse(readFileSync(join(root, "packages/core/test/fixtures/codec.json"), "utf8")) as {
  readonly packets: ReadonlyArray<Vector>
  readonly malformed: ReadonlyArray<Vector>
}
const bytes = (hex: string) => Uint8Array.from(Buffer.from(hex, "hex"))
const all = vectors.packets.map((v) => v.hex).join("")

/** The captures of Capture.test.ts and bin.test.ts: clean, garbage first, each malformed vector between good packets, cut short. */
const captures: ReadonlyArray<readonly [string, Uint8Array]> = [
  ["clean", bytes(all)],
  ["leading garbage", bytes(`00112233445566${all}`)],
  ["trailing garbage", bytes(`${all}0011223344`)],
  ["cut inside the last packet", bytes(all.slice(0, all.length - 20))],
  ["cut inside a header", bytes(`${all}ddccbbaa0000`)],
  ...vectors.malformed.map((v): readonly [string, Uint8Array] => [
    `${v.name} between good packets`,
    bytes(`${vectors.packets[0]?.hex ?? ""}${v.hex}${all}`)
  ])
]

/** An event as plain data: what a reader of the events sees. */
const plain = (event: Capture.CaptureEvent) =>
  event._tag === "Packet"
    ? {
        _tag: event._tag,
        offset: event.offset,
        packet: JSON.stringify(Json.fromPacket(event.decoded.packet)),
        warnings: event.decoded.warnings.map((warning) => warning.message)
      }
    : { _tag: event._tag, offset: event.offset, length: event.length, problem: Capture.describeProblem(event) }

/** The events of a capture pushed in these chunks, each taken as soon as it is found. */
const streamed = (chunks: ReadonlyArray<Uint8Array>) => {
  const scanner = new Capture.CaptureScanner()
  const events: Array<ReturnType<typeof plain>> = []
  const drain = () => {
    for (let event = scanner.next(); event !== undefined; event = scanner.next()) events.push(plain(event))
  }
  for (const chunk of chunks) {
    // a fresh copy: the scanner may view what it was given
    scanner.push(chunk.slice())
    drain()
  }
  scanner.end()
  drain()
  return events
}

describe("Capture.CaptureScanner", { timeout: 30_000 }, () => {
  it.each(captures)("%s: the events of scanCapture, split at every position", (_, capture) => {
    const whole = [...Capture.scanCapture(capture)].map(plain)
    expect(whole.length).toBeGreaterThan(0)
    for (let at = 0; at <= capture.length; at++) {
      expect(streamed([capture.subarray(0, at), capture.subarray(at)]), `split at ${at}`).toEqual(whole)
    }
  })

  it.each(captures)("%s: the events of scanCapture, one byte at a time", (_, capture) => {
    const whole = [...Capture.scanCapture(capture)].map(plain)
    expect(streamed(Array.from(capture, (_, i) => capture.subarray(i, i + 1)))).toEqual(whole)
  })

  it("holds flat memory: 64 MiB of 10 kB packets pushed in 64 KiB chunks keep a few hundred KiB", () => {
    V8.setFlagsFromString("--expose-gc")
    const gc = Vm.runInNewContext("gc") as () => void
    const packet = Encoder.encodePacketOrThrow({
      type: "DSPC",
      fields: [{ name: "TIME", id: 1, params: { DATA: new Uint8Array(10_000 - 60) } }]
    }).slice()
    expect(packet.length % 4).toBe(0)
    // the capture: the packet over and over, cut into 64 KiB chunks across packet boundaries
    const chunk = new Uint8Array(64 * KiB)
    const chunks = (64 * MiB) / chunk.length
    const scanner = new Capture.CaptureScanner()
    let packets = 0
    let malformed = 0
    let position = 0
    gc()
    gc()
    const before = process.memoryUsage().arrayBuffers
    let most = 0
    for (let c = 0; c < chunks; c++) {
      for (let filled = 0; filled < chunk.length; ) {
        const from = position % packet.length
        const take = Math.min(packet.length - from, chunk.length - filled)
        chunk.set(packet.subarray(from, from + take), filled)
        filled += take
        position += take
      }
      scanner.push(chunk)
      for (let event = scanner.next(); event !== undefined; event = scanner.next()) {
        if (event._tag === "Packet") packets++
        else malformed++
      }
      if (c % 64 === 63) {
        // twice: buffers the first collection finds dead are released by the second
        gc()
        gc()
        most = Math.max(most, process.memoryUsage().arrayBuffers - before)
      }
    }
    expect(malformed).toBe(0)
    // every whole packet followed by the 4 bytes that show where the next one starts
    expect(packets).toBe(Math.floor((64 * MiB - 4) / packet.length))
    // about one packet and two chunks, never the capture
    expect(most).toBeLessThan(512 * KiB)
  })
})

describe("Capture.HexDecoder", () => {
  it("decodes hex text split at every position as parseHex decodes it whole", () => {
    const text = `${all.slice(0, 40)}\n${all.slice(40, 200).toUpperCase()} \r\n\t${all.slice(200)}`
    const whole = Capture.parseHex(text)
    if (Result.isFailure(whole)) throw new Error(whole.failure.detail)
    const units = new TextEncoder().encode(text)
    for (let at = 0; at <= units.length; at++) {
      const decoder = new Capture.HexDecoder()
      const parts = [decoder.push(units.subarray(0, at)), decoder.push(units.subarray(at))]
      const out = parts.map((part) => {
        if (Result.isFailure(part)) throw new Error(part.failure.detail)
        return Buffer.from(part.success).toString("hex")
      })
      expect(Result.isSuccess(decoder.end())).toBe(true)
      expect(out.join(""), `split at ${at}`).toBe(Buffer.from(whole.success).toString("hex"))
    }
  })
})

describe.concurrent("ncp decode streams", { timeout: 30_000 }, () => {
  it("prints a packet's line once the next packet begins, before the input has ended", async () => {
    const child = spawn(process.execPath, [bin, "decode", "--packets"], { cwd: root })
    let output = ""
    let wake: (() => void) | undefined
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
      wake?.()
    })
    const lineCount = (n: number) =>
      new Promise<void>((resolve) => {
        const check = () => {
          if (lines(output).length >= n) resolve()
          else wake = check
        }
        check()
      })
    const first = bytes(vectors.packets[0]?.hex ?? "")
    const second = bytes(vectors.packets[1]?.hex ?? "")
    // the first packet and the start of the next: where the first one ends is known
    child.stdin.write(Buffer.concat([first, second.subarray(0, 12)]))
    // standard input is still open: the first packet is out all the same
    await lineCount(1)
    expect(child.exitCode).toBe(null)
    child.stdin.end(second.subarray(12))
    expect(await exited(child)).toBe(0)
    expect(lines(output)).toHaveLength(2)
  })
})
