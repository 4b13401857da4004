import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { SelfSignedCertificate } from "../src/index.js"
import { ConnectionClosed, type ConnectionError, type ServeOptions, serve } from "../src/promise.js"
import { HOST } from "./promiseHarness.js"

// What a Promise-API script does to its process: it ends by itself once its work is done, a
// connection it forgot included (closed on the way out), and never before a call it awaits has
// settled. Each script is a real `node` process running the package's sources (through tsx),
// against a server of this process.

const root = fileURLToPath(new URL("../../..", import.meta.url))

interface Ran {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `script` (an ES module importing `@effect-ncp/node/promise`) in a new `node` to its end. */
const runScript = (script: string, env: Record<string, string> = {}): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--conditions=@effect-ncp/source", "--import", "tsx", "--input-type=module", "--eval", script],
      { cwd: root, env: { ...process.env, ...env, NO_COLOR: "1" } }
    )
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    // a script that hangs fails the test with what it printed
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`the script still runs after 60 s; stdout: ${stdout}; stderr: ${stderr}`))
    }, 60_000)
    child.on("error", reject)
    child.on("close", (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
  })

/**
 * A server for the scripts: `ECHO` gets its params back, `SLOW` after `millis` ms, `REPT` gets
 * `N` replies 300 ms apart. It keeps, for each command, how its connection ended.
 */
const scriptServer = async (options: ServeOptions = {}) => {
  const ended: Array<Promise<ConnectionError>> = []
  const server = await serve(
    async (field) => {
      ended.push(field.connection.closed)
      switch (field.name) {
        case "SLOW":
          await new Promise((resolve) => setTimeout(resolve, Number(field.get("MILS"))))
          return field.reply(field.params)
        case "REPT":
          for (let n = 1; n <= Number(field.get("N")); n++) {
            if (n > 1) await new Promise((resolve) => setTimeout(resolve, 300))
            await field.reply({ N: n })
          }
          return
        default:
          return field.reply(field.params)
      }
    },
    { host: HOST, port: 0, shutdownGrace: 0, ...options }
  )
  return Object.assign(server, { ended })
}

describe.concurrent("a Promise-API script's process", { timeout: 90_000 }, () => {
  it("exits by itself with a connection it forgot to close, which is closed on the way out", async () => {
    await using server = await scriptServer()
    const ran = await runScript(
      `
      import { connect } from "@effect-ncp/node/promise"
      const connection = await connect({ host: "${HOST}", port: ${server.port} })
      const reply = await connection.request("DSPC", "ECHO", { N: 7 })
      console.log("reply", reply.get("N"))
      process.on("exit", (code) => console.log("exit", code, "closing:", connection.isClosing))
      `
    )
    expect(ran.stderr).toBe("")
    expect(ran.stdout).toBe("reply 7\nexit 0 closing: true\n")
    expect(ran.status).toBe(0)
    // the server saw the connection end cleanly, not reset
    expect(await server.ended[0]).toBeInstanceOf(ConnectionClosed)
  })

  it("waits for a reply it awaits, however long it takes; code after close runs", async () => {
    await using server = await scriptServer()
    const ran = await runScript(
      `
      import { connect } from "@effect-ncp/node/promise"
      const connection = await connect({ host: "${HOST}", port: ${server.port} })
      const reply = await connection.request("DSPC", "SLOW", { MILS: 1500 })
      console.log("reply after", reply.get("MILS"))
      await connection.close()
      console.log("closed")
      `
    )
    expect(ran.stderr).toBe("")
    expect(ran.stdout).toBe("reply after 1500\nclosed\n")
    expect(ran.status).toBe(0)
  })

  it("waits between the replies a for await loop pulls", async () => {
    await using server = await scriptServer()
    const ran = await runScript(
      `
      import { connect } from "@effect-ncp/node/promise"
      const connection = await connect({ host: "${HOST}", port: ${server.port} })
      const response = await connection.send("DSPC", "REPT", { N: 3 })
      for await (const reply of response) {
        console.log("reply", reply.get("N"))
        if (reply.get("N") === 3) break
      }
      `
    )
    expect(ran.stderr).toBe("")
    expect(ran.stdout).toBe("reply 1\nreply 2\nreply 3\n")
    expect(ran.status).toBe(0)
  })

  it("exits by itself with a TLS connection it forgot", async () => {
    const certificate = SelfSignedCertificate.generate()
    await using server = await scriptServer({ tls: certificate })
    const ran = await runScript(
      `
      import { connect } from "@effect-ncp/node/promise"
      const connection = await connect({ host: "${HOST}", port: ${server.port}, tls: { ca: process.env.NCP_CA } })
      console.log("reply", (await connection.request("DSPC", "ECHO", { N: 8 })).get("N"))
      `,
      { NCP_CA: certificate.cert }
    )
    expect(ran.stderr).toBe("")
    expect(ran.stdout).toBe("reply 8\n")
    expect(ran.status).toBe(0)
    expect(await server.ended[0]).toBeInstanceOf(ConnectionClosed)
  })

  it("keeps running while it serves, and exits once its server is closed", async () => {
    const ran = await runScript(
      `
      import { connect, serve } from "@effect-ncp/node/promise"
      const server = await serve((field) => field.reply(field.params), { host: "${HOST}", port: 0 })
      // a timer that does not keep the process alive: only the server does
      setTimeout(async () => {
        const connection = await connect({ host: server.host, port: server.port })
        console.log("reply", (await connection.request("DSPC", "ECHO", { N: 9 })).get("N"))
        await server.close()
        console.log("server closed")
      }, 300).unref()
      `
    )
    expect(ran.stderr).toBe("")
    expect(ran.stdout).toBe("reply 9\nserver closed\n")
    expect(ran.status).toBe(0)
  })
})
