import { type ChildProcess, spawn } from "node:child_process"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { expect } from "vitest"

// The built command, as a user runs it: `node packages/cli/bin/ncp.js ...`, which runs the bundle
// in dist/ (`npm test` builds it first).
export const root = fileURLToPath(new URL("../../..", import.meta.url))
export const bin = join(root, "packages/cli/bin/ncp.js")

export interface Ran {
  readonly status: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs `ncp args...` to its end, with `input` on standard input; fails if it runs past `timeout` ms. */
export const ncp = (
  args: ReadonlyArray<string>,
  options: { readonly input?: string | Uint8Array; readonly timeout?: number } = {}
): Promise<Ran> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, NO_COLOR: "1" } })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`ncp ${args.join(" ")} still running after ${options.timeout ?? 20_000} ms: ${stderr}`))
    }, options.timeout ?? 20_000)
    child.on("error", reject)
    child.on("close", (status) => {
      clearTimeout(timer)
      resolve({ status, stdout, stderr })
    })
    child.stdin.end(options.input)
  })

export const lines = (text: string) => text.split("\n").filter((line) => line !== "")

/** The `key=value` annotations at the end of an `ncp` log line (`... [ncp=TimeoutChanged requested=100]`). */
export const logAnnotations = (line: string): ReadonlyArray<string> =>
  /\[(.*)\]$/.exec(line)?.[1]?.match(/\w+=("(?:[^"\\]|\\.)*"|\S+)/g) ?? []

export const noStackTrace = (stderr: string) => expect(stderr).not.toMatch(/\n\s+at |Error:|\.[jt]s:\d+/)

export interface Served {
  readonly process: ChildProcess
  readonly address: string
  /** stdout and stderr as they arrived. */
  readonly output: () => string
  /** stderr alone. */
  readonly errors: () => string
  /** Waits until the output matches `pattern`, at most 20 s. */
  readonly waitFor: (pattern: RegExp) => Promise<void>
}

/** Starts `ncp serve --port 0 ...` and waits for its first line, `listening on HOST:PORT`. */
export const serve = (args: ReadonlyArray<string>): Promise<Served> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "serve", "--port", "0", ...args], { cwd: root })
    let output = ""
    let errors = ""
    let waiters: Array<() => void> = []
    const append = (chunk: string) => {
      output += chunk
      const waiting = waiters
      waiters = []
      for (const wake of waiting) wake()
    }
    const waitFor = (pattern: RegExp) =>
      new Promise<void>((done, fail) => {
        const deadline = setTimeout(() => fail(new Error(`ncp serve never printed ${pattern}: ${output}`)), 20_000)
        const check = () => {
          if (pattern.test(output)) {
            clearTimeout(deadline)
            done()
          } else waiters.push(check)
        }
        check()
      })
    child.stdout.setEncoding("utf8").on("data", append)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      errors += chunk
      append(chunk)
    })
    child.on("exit", (code) => reject(new Error(`ncp serve exited with ${code}: ${output}`)))
    waitFor(/^listening on (\S+)\n/).then(() => {
      const address = /^listening on (\S+)\n/.exec(output)?.[1] ?? ""
      resolve({ process: child, address, output: () => output, errors: () => errors, waitFor })
    }, reject)
  })

export const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode)
    else child.on("exit", (code) => resolve(code))
  })
