import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { lines, ncp, noStackTrace, root } from "./ncp.js"

// The built command as a process, the way a user runs it. Each test runs its own processes, so
// the tests run concurrently.

interface Vector {
  readonly name: string
  readonly hex: string
}
const vectors = JSON.parse(readFileSync(join(root, "packages/core/test/fixtures/codec.json"), "utf8")) as {
  readonly packets: ReadonlyArray<Vector>
  readonly malformed: ReadonlyArray<Vector>
}
const packet = (name: string) => vectors.packets.find((v) => v.name === name)?.hex ?? ""
const malformed = (name: string) => vectors.malformed.find((v) => v.name === name)?.hex ?? ""

const dir = mkdtempSync(join(tmpdir(), "ncp-cli-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))
const file = (name: string, content: string | Uint8Array) => {
  const path = join(dir, name)
  writeFileSync(path, content)
  return path
}

// multi-field: 3 fields (SWEP, TIME, NOPA); short-identifiers: 1; real-node-helo: 1; keepalive: 0.
const good = [packet("multi-field"), packet("short-identifiers"), packet("real-node-helo"), packet("keepalive")]

describe.concurrent("ncp decode (subprocess)", { timeout: 30_000 }, () => {
  it("decodes a binary capture into one JSON line per field", async () => {
    const path = file("good.bin", Buffer.from(good.join(""), "hex"))
    const { status, stdout, stderr } = await ncp(["decode", path])
    expect(stderr).toBe("")
    expect(status).toBe(0)
    const fields = lines(stdout).map((line) => JSON.parse(line))
    expect(fields.map((f) => `${f.packet_type} ${f.name}`)).toEqual([
      "DSPC SWEP",
      "DSPC TIME",
      "DSPC NOPA",
      "CMD AB",
      "LINK HELO"
    ])
    expect(Object.keys(fields[0])).toEqual(["packet_type", "packet_id", "timestamp", "name", "id", "params"])
    expect(fields[0]).toMatchObject({
      packet_type: "DSPC",
      packet_id: 1,
      timestamp: "2024-05-17T12:30:45.123456+00:00",
      name: "SWEP",
      id: 7
    })
    expect(fields[0].params[0]).toEqual(["FSTA", { type: "i32", value: 10000 }])
  })

  it("decodes the same capture as hex text, from a file or standard input", async () => {
    const hex = good.join("").replace(/(.{64})/g, "$1\n")
    const fromBinary = (await ncp(["decode", file("same.bin", Buffer.from(good.join(""), "hex"))])).stdout
    const fromFile = await ncp(["decode", "--hex", file("good.hex", hex)])
    expect(fromFile.status).toBe(0)
    expect(fromFile.stdout).toBe(fromBinary)
    const fromStdin = await ncp(["decode", "--hex", "-"], { input: hex })
    expect(fromStdin.status).toBe(0)
    expect(fromStdin.stdout).toBe(fromBinary)
  })

  it("prints one line per packet with --packets, in the vectors' packet form", async () => {
    const { status, stdout } = await ncp(["decode", "--hex", "--packets"], { input: good.join("") })
    expect(status).toBe(0)
    const packets = lines(stdout).map((line) => JSON.parse(line))
    expect(packets.map((p) => p.packet_type)).toEqual(["DSPC", "CMD", "LINK", "LINK"])
    expect(packets[3]).toMatchObject({ fields: [] })
  })

  it("reports a malformed packet in the middle with its offset and still decodes the packets after it", async () => {
    const first = packet("multi-field")
    const bad = malformed("bad-footer-magic")
    const capture = first + bad + packet("short-identifiers") + packet("real-node-helo")
    const badOffset = first.length / 2
    const { status, stdout, stderr } = await ncp(["decode", file("bad-footer.bin", Buffer.from(capture, "hex"))])
    expect(status).toBe(1)
    const problems = lines(stderr)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toContain(`malformed packet at offset ${badOffset}:`)
    expect(problems[0]).toContain("bad footer magic")
    expect(problems[0]).toContain(`skipped ${bad.length / 2} bytes`)
    noStackTrace(stderr)
    expect(lines(stdout).map((line) => JSON.parse(line).name)).toEqual(["SWEP", "TIME", "NOPA", "AB", "HELO"])
  })

  it("after a bad header magic, resumes at the next packet and says what it skipped", async () => {
    const first = packet("short-identifiers")
    const bad = malformed("bad-header-magic")
    const capture = first + bad + packet("real-node-helo")
    const { status, stdout, stderr } = await ncp(["decode", "--hex"], { input: capture })
    expect(status).toBe(1)
    expect(lines(stderr)).toEqual([
      expect.stringContaining(
        `malformed packet at offset ${first.length / 2}: bad header magic de ad be ef, expected dd cc bb aa`
      )
    ])
    expect(stderr).toContain(`skipped ${bad.length / 2} bytes`)
    expect(lines(stdout).map((line) => JSON.parse(line).name)).toEqual(["AB", "HELO"])
  })

  it("survives every malformed vector between good packets, one stderr line each", async () => {
    // A truncated packet is only truncated at the end of a capture.
    const bad = vectors.malformed.filter((vector) => vector.name !== "truncated")
    const good = packet("short-identifiers")
    let capture = good
    const offsets: Array<number> = []
    for (const vector of bad) {
      offsets.push(capture.length / 2)
      capture += vector.hex + good
    }
    const { status, stdout, stderr } = await ncp(["decode", "--hex"], { input: capture })
    expect(status).toBe(1)
    const problems = lines(stderr)
    expect(problems).toHaveLength(bad.length)
    problems.forEach((problem, i) => {
      expect(problem, bad[i]?.name).toMatch(new RegExp(`^ncp decode: malformed packet at offset ${offsets[i]}: `))
    })
    noStackTrace(stderr)
    expect(lines(stdout)).toHaveLength(bad.length + 1)
    expect(lines(stdout).every((line) => JSON.parse(line).name === "AB")).toBe(true)
  })

  it("reports a capture that ends inside a packet", async () => {
    const capture = packet("short-identifiers") + malformed("truncated")
    const { status, stdout, stderr } = await ncp(["decode", "--hex"], { input: capture })
    expect(status).toBe(1)
    expect(stderr).toMatch(/^ncp decode: malformed packet at offset 76: capture ends inside a packet/)
    expect(lines(stdout)).toHaveLength(1)
  })

  it("refuses text that is not hex, and a missing file, in one line", async () => {
    const notHex = await ncp(["decode", "--hex"], { input: "ddccbbaa zz" })
    expect(notHex.status).toBe(1)
    expect(lines(notHex.stderr)).toEqual([expect.stringMatching(/^ncp decode: standard input is not hex: /)])
    const missing = await ncp(["decode", join(dir, "no-such-file.bin")])
    expect(missing.status).toBe(1)
    expect(lines(missing.stderr)).toEqual([expect.stringMatching(/^ncp decode: cannot read .*no-such-file\.bin/)])
    noStackTrace(missing.stderr)
  })
})

describe.concurrent("ncp (subprocess)", { timeout: 30_000 }, () => {
  it("--help lists the subcommands on stdout and exits 0", async () => {
    const { status, stdout, stderr } = await ncp(["--help"])
    expect(status).toBe(0)
    expect(stderr).toBe("")
    for (const command of ["demo", "serve", "send", "sweep", "decode"]) expect(stdout).toContain(command)
  })

  it("a subcommand's --help shows its flags", async () => {
    const { status, stdout } = await ncp(["send", "--help"])
    expect(status).toBe(0)
    for (const flag of ["--tls", "--insecure", "--user", "--password", "--timeout", "--count", "--follow", "--json"]) {
      expect(stdout).toContain(flag)
    }
  })

  it.each([
    [["bogus"], /^ncp: Unknown subcommand "bogus"/],
    [["send", "node1", "DSPC"], /^ncp send: .*field/],
    [["send", "node1", "DSPC", "SWEP", "N:u32=-1"], /^ncp send: param "N": -1 is outside the u32 range/],
    [["sweep", "node1", "--start", "2e6", "--stop", "1e6"], /^ncp sweep: --stop must be above --start/],
    [["serve", "--port", "nope"], /^ncp serve: .*--port/],
    [["decode", "--bogus"], /^ncp decode: .*--bogus/]
  ])("bad arguments %j: one clear stderr line, exit 2, no stack trace", async (args, message) => {
    const { status, stdout, stderr } = await ncp(args)
    expect(status).toBe(2)
    expect(stdout).toBe("")
    expect(lines(stderr)).toHaveLength(1)
    expect(stderr).toMatch(message)
    noStackTrace(stderr)
  })

  it("a node address without a port after the colon is a usage error", async () => {
    const { status, stderr } = await ncp(["send", "node1:", "STAT", "RFLO"])
    expect(status).toBe(2)
    expect(lines(stderr)).toEqual([expect.stringMatching(/^ncp send: address "node1:"/)])
  })
})
