/**
 * The `ncp` command's exporters, as operators run them: `ncp serve --metrics` answers a
 * Prometheus scrape whose counters match what clients did, and `ncp send --otlp` delivers its
 * spans to an OTLP receiver before it exits.
 */
import * as Http from "node:http"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exited, ncp, type Served, serve } from "./ncp.js"

describe("ncp serve --metrics", { timeout: 60_000 }, () => {
  let node: Served
  let metricsUrl = ""
  beforeAll(async () => {
    node = await serve(["--metrics", "127.0.0.1:0"])
    await node.waitFor(/\nmetrics on (\S+)\n/)
    metricsUrl = /\nmetrics on (\S+)\n/.exec(node.output())?.[1] ?? ""
  }, 60_000)
  afterAll(async () => {
    node.process.kill("SIGTERM")
    expect(await exited(node.process)).toBe(0)
  }, 60_000)

  it("a scrape parses as Prometheus text and counts the commands and connections clients made", async () => {
    for (let i = 0; i < 3; i++) {
      const { status } = await ncp(["send", node.address, "STAT", "STAT", "--json"])
      expect(status).toBe(0)
    }
    const { status } = await ncp(["send", node.address, "DSPC", "NOPE"])
    expect(status).toBe(1)
    // the server counts a connection closed once the client's close reached it
    await node.waitFor(/(connection from \S+ closed\n[\s\S]*){4}/)
    const response = await fetch(metricsUrl)
    expect(response.status).toBe(200)
    const text = await response.text()
    const samples = new Map<string, number>()
    for (const line of text.split("\n")) {
      if (line === "" || line.startsWith("#")) continue
      const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line)
      expect(match, `a sample line: ${line}`).not.toBeNull()
      samples.set(match?.[1] ?? "", Number(match?.[2]))
    }
    expect(samples.get('ncp_commands_handled_total{packet_type="STAT",field="STAT"}')).toBe(3)
    expect(samples.get('ncp_commands_handled_total{packet_type="DSPC",field="NOPE"}')).toBe(1)
    expect(samples.get('ncp_connections_opened_total{role="server"}')).toBe(4)
    expect(samples.get('ncp_connections_open{role="server"}')).toBe(0)
    expect(text).toContain("# HELP ncp_commands_handled_total ")
  })
})

describe("ncp send --otlp", { timeout: 60_000 }, () => {
  it("exports the command's spans to a real OTLP receiver before exiting", async () => {
    const node = await serve([])
    const bodies: Array<{ readonly path: string; readonly body: string }> = []
    const receiver = Http.createServer((request, response) => {
      let body = ""
      request.setEncoding("utf8").on("data", (chunk: string) => {
        body += chunk
      })
      request.on("end", () => {
        bodies.push({ path: request.url ?? "", body })
        response.writeHead(200, { "content-type": "application/json" }).end("{}")
      })
    })
    await new Promise<void>((listening) => receiver.listen(0, "127.0.0.1", listening))
    const address = receiver.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    try {
      const { status } = await ncp(["send", node.address, "STAT", "STAT", "--otlp", `http://127.0.0.1:${port}`])
      expect(status).toBe(0)
      const traces = bodies.filter((item) => item.path === "/v1/traces").map((item) => JSON.parse(item.body))
      const names = JSON.stringify(traces)
      expect(names).toContain('"name":"ncp.connect"')
      expect(names).toContain('"name":"STAT STAT"')
      expect(names).toContain('"stringValue":"ncp"')
    } finally {
      receiver.close()
      node.process.kill("SIGTERM")
      await exited(node.process)
    }
  })
})
