import { spawn } from "node:child_process"
import { mkdtempSync, writeFileSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { CliOutput, Command } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { VERSION } from "../src/Cli.js"
import * as Send from "../src/commands/send.js"
import * as Serve from "../src/commands/serve.js"
import * as Status from "../src/commands/status.js"
import * as Sweep from "../src/commands/sweep.js"
import { bin, exited, lines, ncp, root, type Served, serve } from "./ncp.js"

// The `--nodes` commands of the built `ncp` against `ncp serve --nodes 3` (one process, three
// simulated nodes on free ports), and their parsing.

const silent = Layer.mergeAll(NodeServices.layer, CliOutput.layerPresenter({ present: () => Effect.void }))

const parse = async <Options, Name extends string, Input, ContextInput>(
  make: (run: (options: Options) => Effect.Effect<void>) => Command.Command<Name, Input, ContextInput, never, never>,
  args: ReadonlyArray<string>
): Promise<{ readonly options: Options | undefined; readonly errors: string }> => {
  let options: Options | undefined
  const command = make((parsed) =>
    Effect.sync(() => {
      options = parsed
    })
  )
  const exit = await Effect.runPromiseExit(
    Command.runWith(command, { version: VERSION })(args).pipe(Effect.provide(silent))
  )
  if (Exit.isSuccess(exit)) return { options, errors: "" }
  const error = exit.cause.reasons.find((reason) => reason._tag === "Fail")?.error
  const errors = error !== undefined && error._tag === "ShowHelp" ? error.errors.map((e) => e.message) : [String(error)]
  return { options, errors: errors.join("\n") }
}

/** A port nothing listens on: bound, then closed. */
const closedPort = () =>
  new Promise<number>((resolve) => {
    const server = createServer()
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      server.close(() => resolve(typeof address === "object" && address !== null ? address.port : 1))
    })
  })

let fleet: Served
let addresses: ReadonlyArray<string>

beforeAll(async () => {
  fleet = await serve(["--nodes", "3"])
  await fleet.waitFor(/^(listening on \S+\n){3}/)
  addresses = lines(fleet.output())
    .slice(0, 3)
    .map((line) => line.replace("listening on ", ""))
}, 30_000)

afterAll(() => {
  fleet?.process.kill("SIGKILL")
})

describe("--nodes parsing", () => {
  it("send: with --nodes, the positionals are PACKET FIELD PARAMS", async () => {
    const { options, errors } = await parse(Send.make<never, never>, [
      "--nodes",
      "a:9999,[::1]:10000,b",
      "DSPC",
      "SWEP",
      "FSTA=88",
      "FSTP=108"
    ])
    expect(errors).toBe("")
    expect(options?.nodes?.listed).toEqual([
      { host: "a", port: 9999 },
      { host: "::1", port: 10000 },
      { host: "b", port: undefined }
    ])
    expect(options?.packetType).toBe("DSPC")
    expect(options?.field).toBe("SWEP")
    expect(options?.params.map((param) => param.name)).toEqual(["FSTA", "FSTP"])
    const two = await parse(Send.make<never, never>, ["--nodes", "a", "STAT", "RFLO"])
    expect([two.options?.packetType, two.options?.field, two.options?.params]).toEqual(["STAT", "RFLO", []])
  })

  it("send: one node as before, and the mistakes named", async () => {
    const { options } = await parse(Send.make<never, never>, ["h:1", "STAT", "RFLO"])
    expect(options?.nodes).toBeUndefined()
    expect(options?.connection).toMatchObject({ host: "h", port: 1 })
    expect((await parse(Send.make<never, never>, ["h", "DSPC"])).errors).toContain("FIELD")
    expect((await parse(Send.make<never, never>, ["h", "DSPC", "swep"])).errors).toContain("NCP identifier")
    expect((await parse(Send.make<never, never>, ["--nodes", "a", "h:1", "DSPC", "SWEP"])).errors).toContain(
      "with --nodes, the arguments are PACKET FIELD"
    )
    expect((await parse(Send.make<never, never>, ["--nodes", "a:0", "STAT", "RFLO"])).errors).toContain(
      "port 0 is outside 1-65535"
    )
  })

  it("sweep: --nodes instead of the address, not both", async () => {
    const { options } = await parse(Sweep.make<never, never>, ["--nodes", "a,b", "--start", "1e6", "--stop", "2e6"])
    expect(options?.nodes?.listed).toHaveLength(2)
    expect(
      (await parse(Sweep.make<never, never>, ["h", "--nodes", "a", "--start", "1e6", "--stop", "2e6"])).errors
    ).toContain("not both")
    expect((await parse(Sweep.make<never, never>, ["--start", "1e6", "--stop", "2e6"])).errors).toContain("HOST")
  })

  it("status needs nodes; serve --nodes N stays within the ports", async () => {
    expect((await parse(Status.make<never, never>, [])).errors).toContain("--nodes")
    expect((await parse(Serve.make<never, never>, ["--nodes", "3"])).options).toMatchObject({ nodes: 3, port: 9999 })
    expect((await parse(Serve.make<never, never>, ["--nodes", "10", "--port", "65530"])).errors).toContain("65535")
    expect((await parse(Serve.make<never, never>, ["--nodes", "0"])).errors).toContain("--nodes")
  })
})

describe.concurrent("ncp serve --nodes and the --nodes commands (subprocesses on 127.0.0.1)", {
  timeout: 30_000
}, () => {
  it("serve --nodes 3 --port 0 prints a listening line per node first, each its own free port", () => {
    expect(addresses).toHaveLength(3)
    for (const address of addresses) expect(address).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(new Set(addresses).size).toBe(3)
  })

  it("serve --nodes listens on consecutive ports from --port", async () => {
    const first = await closedPort()
    const child = spawn(process.execPath, [bin, "serve", "--nodes", "2", "--port", String(first)], { cwd: root })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
    })
    try {
      for (let i = 0; i < 200 && lines(output).length < 2; i++) await new Promise((r) => setTimeout(r, 50))
      expect(lines(output).slice(0, 2)).toEqual([
        `listening on 127.0.0.1:${first}`,
        `listening on 127.0.0.1:${first + 1}`
      ])
    } finally {
      child.kill("SIGINT")
      expect(await exited(child)).toBe(0)
    }
  })

  it("send --nodes --json: a JSON line per node, tagged with it, each node its own SEID", async () => {
    const { status, stdout, stderr } = await ncp(["send", "--nodes", addresses.join(","), "STAT", "STAT", "--json"])
    expect(stderr).toBe("")
    expect(status).toBe(0)
    const replies = lines(stdout).map((line) => JSON.parse(line))
    expect(replies.map((reply) => reply.node).sort()).toEqual([...addresses].sort())
    const seid = (reply: { readonly params: ReadonlyArray<[string, { readonly value: unknown }]> }) =>
      reply.params.find(([name]) => name === "SEID")?.[1].value
    expect(new Set(replies.map(seid))).toEqual(new Set(["simulated-0000", "simulated-0001", "simulated-0002"]))
  })

  it("send --nodes with a node that is down: its error as a line of its own, the others answered, exit 1", async () => {
    const down = `127.0.0.1:${await closedPort()}`
    const { status, stdout, stderr } = await ncp([
      "send",
      "--nodes",
      [...addresses, down].join(","),
      "DSPC",
      "SWEP",
      "FSTA=88",
      "FSTP=108",
      "BINS=8",
      "REPT=2",
      "--count",
      "2",
      "--json"
    ])
    expect(status).toBe(1)
    // one line on stderr (with --json, the failure as JSON)
    expect(lines(stderr)).toEqual([expect.stringContaining("1 of 4 node(s) failed")])
    const results = lines(stdout).map((line) => JSON.parse(line))
    for (const address of addresses) expect(results.filter((r) => r.node === address)).toHaveLength(2)
    expect(results.filter((r) => r.node === down)).toEqual([
      { node: down, error: { tag: "NotConnected", message: expect.stringContaining("ECONNREFUSED") } }
    ])
  })

  it("send --nodes-file reads the nodes, one per line, # comments", async () => {
    const directory = mkdtempSync(join(tmpdir(), "ncp-nodes-"))
    const file = join(directory, "nodes.txt")
    writeFileSync(file, `# the simulated fleet\n${addresses[0]}\n\n${addresses[1]}  # the second\n`)
    const { status, stdout } = await ncp(["send", "--nodes-file", file, "STAT", "STAT"])
    expect(status).toBe(0)
    expect(lines(stdout).filter((line) => /^127\.0\.0\.1:\d+ {2}STAT STAT/.test(line))).toHaveLength(2)
    writeFileSync(file, "a:0\n")
    const bad = await ncp(["send", "--nodes-file", file, "STAT", "STAT"])
    expect(bad.status).toBe(1)
    expect(bad.stderr).toContain("line 1")
  })

  it("sweep --nodes --json: a sweep per node, tagged with it", async () => {
    const { status, stdout } = await ncp([
      "sweep",
      "--nodes",
      addresses.join(","),
      "--start",
      "88e6",
      "--stop",
      "108e6",
      "--json"
    ])
    expect(status).toBe(0)
    const sweeps = lines(stdout).map((line) => JSON.parse(line))
    expect(sweeps.map((sweep) => sweep.node).sort()).toEqual([...addresses].sort())
    for (const sweep of sweeps) expect(sweep).toMatchObject({ start_hz: 88e6, stop_hz: 108e6, bins: 1024 })
    // each node its own spectrum
    expect(new Set(sweeps.map((sweep) => JSON.stringify(sweep.levels_dbm))).size).toBe(3)
  })

  it("status --nodes: a table of node, state, uptime, round trip, last error; exit 1 with a node down", async () => {
    const down = `127.0.0.1:${await closedPort()}`
    const { status, stdout, stderr } = await ncp(["status", "--nodes", [...addresses, down].join(",")])
    expect(status).toBe(1)
    expect(lines(stderr)).toEqual(["ncp status: 1 of 4 node(s) not open"])
    const rows = lines(stdout)
    expect(rows[0]).toMatch(/^NODE\s+STATE\s+UPTIME\s+ROUND TRIP\s+LAST ERROR$/)
    for (const address of addresses) {
      expect(rows.find((row) => row.startsWith(address))).toMatch(/ Open\s+\d+s\s+\d+ ms$/)
    }
    expect(rows.find((row) => row.startsWith(down))).toMatch(/BackingOff \(\d+\)\s+-\s+-\s+.*ECONNREFUSED/)
    const json = await ncp(["status", "--nodes", addresses.join(","), "--json"])
    expect(json.status).toBe(0)
    for (const line of lines(json.stdout)) {
      expect(JSON.parse(line)).toMatchObject({ state: "Open", round_trip_ms: expect.any(Number), last_error: null })
    }
  })

  it("watch --nodes keeps the table live until SIGINT, then exits 0", async () => {
    const child = spawn(process.execPath, [bin, "watch", "--nodes", addresses.join(","), "--interval", "1"], {
      cwd: root
    })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk
    })
    for (let i = 0; i < 200 && (output.match(/^NODE/gm) ?? []).length < 2; i++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    child.kill("SIGINT")
    expect(await exited(child)).toBe(0)
    const tables = output.split(/\n\n/).filter((table) => table.startsWith("NODE"))
    expect(tables.length).toBeGreaterThanOrEqual(2)
    for (const address of addresses) expect(tables[1]).toMatch(new RegExp(`${address}\\s+Open`))
  })
})
