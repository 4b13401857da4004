import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { lines, ncp, noStackTrace, type Served, serve } from "./ncp.js"

// What the built command says when something goes wrong: the bad param named, errors as one
// JSON object with --json, integer flags typed in --help, --insecure suggested where a
// certificate is refused (docs/cli.md documents each of these).

let node: Served
let tls: Served

beforeAll(async () => {
  ;[node, tls] = await Promise.all([serve([]), serve(["--tls-self-signed"])])
}, 30_000)

afterAll(() => {
  for (const served of [node, tls]) served?.process.kill("SIGKILL")
})

/** The one JSON object a failure with --json writes on stderr. */
const errorObject = (stderr: string): Record<string, unknown> => {
  const [line, ...rest] = lines(stderr)
  expect(rest).toEqual([])
  const parsed: unknown = JSON.parse(line ?? "")
  expect(parsed).toEqual({ error: expect.any(Object) })
  return (parsed as { readonly error: Record<string, unknown> }).error
}

describe.concurrent("ncp's failure messages", { timeout: 30_000 }, () => {
  it("a bad param names the param, not the error's tag", async () => {
    const { status, stderr } = await ncp(["send", node.address, "DSPC", "SWEP", "FSTA"])
    expect(status).toBe(2)
    expect(lines(stderr)).toEqual([
      'ncp send: param "FSTA": expected NAME[:TYPE]=VALUE, e.g. FSTA=400 (see ncp send --help)'
    ])
    const typed = await ncp(["send", node.address, "DSPC", "SWEP", "FSTA:u32=-1"])
    expect(lines(typed.stderr)).toEqual([expect.stringMatching(/^ncp send: param "FSTA": -1 is outside the u32 range/)])
    expect(typed.stderr).not.toContain("ParamError")
  })

  it("with --json, a usage error is one JSON object on stderr, exit 2", async () => {
    const { status, stdout, stderr } = await ncp(["send", node.address, "DSPC", "SWEP", "FSTA", "--json"])
    expect(status).toBe(2)
    expect(stdout).toBe("")
    expect(errorObject(stderr)).toEqual({
      tag: "UsageError",
      message: 'param "FSTA": expected NAME[:TYPE]=VALUE, e.g. FSTA=400 (see ncp send --help)',
      command: "ncp send",
      exitCode: 2
    })
  })

  it("with --json, a command error is one JSON object with its tag and code, exit 1", async () => {
    const { status, stdout, stderr } = await ncp(["send", node.address, "DSPC", "NOPE", "--json"])
    expect(status).toBe(1)
    expect(stdout).toBe("")
    expect(errorObject(stderr)).toEqual({
      tag: "CommandError",
      message: "command error from the node: DSPC NOPE: Unknown command (code 400)",
      command: "ncp send",
      exitCode: 1,
      code: 400
    })
  })

  it("with --json, a network error names the node", async () => {
    const { status, stderr } = await ncp(["send", "127.0.0.1:1", "STAT", "STAT", "--json", "--timeout", "5"])
    expect(status).toBe(1)
    expect(errorObject(stderr)).toMatchObject({ tag: "NetworkError", command: "ncp send", remote: "127.0.0.1:1" })
    noStackTrace(stderr)
  })

  it("a refused certificate suggests --insecure, as text and as JSON", async () => {
    const text = await ncp(["send", tls.address, "STAT", "STAT", "--tls"])
    expect(text.status).toBe(1)
    expect(lines(text.stderr)).toEqual([expect.stringMatching(/^ncp send: .*self-signed certificate.*add --insecure$/)])
    const json = await ncp(["send", tls.address, "STAT", "STAT", "--tls", "--json"])
    expect(errorObject(json.stderr)).toMatchObject({
      tag: "NetworkError",
      message: expect.stringContaining("--insecure")
    })
  })

  it("--help types integer flags as integers", async () => {
    const { stdout } = await ncp(["serve", "--help"])
    expect(stdout).toMatch(/--port integer\s/)
    expect(stdout).toMatch(/--host HOST\s/)
    expect(stdout).not.toMatch(/--port string/)
    const refused = await ncp(["serve", "--port", "70000"])
    expect(refused.status).toBe(2)
    expect(lines(refused.stderr)).toEqual([expect.stringMatching(/^ncp serve: .*--port.*outside 0-65535/)])
  })
})
