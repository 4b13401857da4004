/**
 * `ncp serve`: runs a simulated RFeye node that answers NCP clients (`SimulatedNode` from the
 * core), or with `--echo` an echo server: every field gets an `ACKN` reply, then a reply with
 * its own params.
 *
 * The first line of output is `listening on HOST:PORT` (with the bound port, so `--port 0`
 * can be read back); then one line per connection opened and closed.
 *
 * `--nodes N` serves N simulated nodes from one process, a fleet to try `--nodes` commands and
 * `Fleet` programs against: node `i` (from 0) listens on `--port` + `i` (with `--port 0`, on a
 * free port of its own), is named `simulated-000i` (its `SEID`) and shows carriers of its own
 * (`SimulatedNode.fleetIdentity`). The output starts with one `listening on HOST:PORT` line per
 * node, in order (so the first line is still the first node's), and each connection line is
 * prefixed with its node's name. The flags (TLS, `--auth`, limits, ...) apply to every node. TLS comes from PEM files
 * or a fresh self-signed certificate; `--auth USER:PASS` requires those credentials in the
 * CONNECT tunnel. The limits that keep one client from taking the server down are flags, one
 * per limit of `Limits.table` (`--max-packet-bytes`, `--max-connections`, ...), with the
 * library's server defaults. The server runs until interrupted (SIGINT, SIGTERM); then it refuses new
 * connections, gives the commands in flight `--shutdown-grace` seconds (5) to be answered,
 * closes every connection and exits 0.
 *
 * @since 0.1.0
 */
import * as Tls from "node:tls"
import { type Connection, type ConnectionError, type Field, Limits } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NodeListener, NodeNcp, NodeObservability, SelfSignedCertificate } from "@effect-ncp/node"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import { CliError, Command, Flag } from "effect/cli"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as SocketServer from "effect/socket/SocketServer"
import type * as Address from "../Address.js"
import {
  bytes,
  count,
  limitFlags,
  listenHost,
  listenPort,
  metricsFlag,
  otlpFlag,
  otlpLayer,
  seconds,
  toLimitOptions
} from "./options.js"
import * as Session from "./session.js"

/** Where the server's TLS certificate comes from. */
export type TlsSource =
  | { readonly _tag: "Files"; readonly certFile: string; readonly keyFile: string }
  | { readonly _tag: "SelfSigned" }

/** What `ncp serve` was asked to do. */
export interface ServeOptions extends Limits.Options<Limits.ServerLimits> {
  readonly host: string
  readonly port: number
  /** TLS, or `undefined` for plain NCP. */
  readonly tls: TlsSource | undefined
  /** Credentials clients must give in the CONNECT tunnel, or `undefined` for none. */
  readonly auth: { readonly username: string; readonly password: Redacted.Redacted<string> } | undefined
  /** Answer every command field with its own params instead of simulating a node. */
  readonly echo: boolean
  readonly timeoutSeconds: number | undefined
  readonly shutdownGraceSeconds: number | undefined
  /** `--backlog`: connections the kernel may queue before they are accepted. */
  readonly backlog: number | undefined
  /** `--metrics HOST:PORT`: serve Prometheus' `/metrics` there. */
  readonly metrics: Address.Address | undefined
  /** `--otlp URL`: export traces, metrics and logs there. */
  readonly otlp: string | undefined
  /** `--nodes N`: serve N simulated nodes, on `port`, `port + 1`, ... (or N free ports). */
  readonly nodes?: number | undefined
}

/** The `serve` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: ServeOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "serve",
    {
      host: listenHost,
      port: listenPort,
      tlsCert: Flag.File("tls-cert", { mustExist: true }).pipe(
        Flag.withMetavar("F"),
        Flag.withDescription("TLS certificate (PEM); needs --tls-key"),
        Flag.optional
      ),
      tlsKey: Flag.File("tls-key", { mustExist: true }).pipe(
        Flag.withMetavar("F"),
        Flag.withDescription("TLS private key (PEM); needs --tls-cert"),
        Flag.optional
      ),
      tlsSelfSigned: Flag.Boolean("tls-self-signed").pipe(
        Flag.withDefault(false),
        Flag.withDescription("TLS with a freshly generated self-signed certificate")
      ),
      auth: Flag.String("auth").pipe(
        Flag.withMetavar("USER:PASS"),
        Flag.withDescription("Require these credentials in the CONNECT tunnel"),
        Flag.filter(
          (text) => text.includes(":"),
          () => "USER:PASS"
        ),
        Flag.optional
      ),
      echo: Flag.Boolean("echo").pipe(
        Flag.withDefault(false),
        Flag.withDescription("Reply to every command with its own params")
      ),
      nodes: Flag.Int("nodes").pipe(
        Flag.withMetavar("N"),
        Flag.withDescription(
          "Serve N simulated nodes, each with its own name and spectrum, on --port, --port + 1, ... (--port 0: N free ports)"
        ),
        Flag.filter(
          (n) => n >= 1 && n <= MAX_NODES,
          () => `a number of nodes from 1 to ${MAX_NODES}`
        ),
        Flag.optional
      ),
      timeout: seconds("timeout", "Network timeout in seconds, offered to clients"),
      limits: limitFlags(Limits.serverNames, "server"),
      maxBufferBytes: bytes(
        "max-buffer-bytes",
        "Per connection: sets both --max-buffered-bytes and --max-write-buffer-bytes"
      ),
      backlog: count(
        "backlog",
        "Connections the kernel may queue before they are accepted (default 4096; the kernel caps it)"
      ),
      metrics: metricsFlag,
      otlp: otlpFlag,
      shutdownGrace: Flag.Finite("shutdown-grace").pipe(
        Flag.withMetavar("S"),
        Flag.withDescription("On SIGINT/SIGTERM, seconds for the commands in flight to be answered (default 5)"),
        Flag.filter(
          (s) => s >= 0,
          () => "a number of seconds, 0 or more"
        ),
        Flag.optional
      )
    },
    (input) =>
      run({
        host: input.host,
        port: input.port,
        tls:
          Option.isSome(input.tlsCert) && Option.isSome(input.tlsKey)
            ? { _tag: "Files", certFile: input.tlsCert.value, keyFile: input.tlsKey.value }
            : input.tlsSelfSigned
              ? { _tag: "SelfSigned" }
              : undefined,
        auth: Option.match(input.auth, {
          onNone: () => undefined,
          onSome: (text) => {
            const colon = text.indexOf(":")
            return { username: text.slice(0, colon), password: Redacted.make(text.slice(colon + 1)) }
          }
        }),
        echo: input.echo,
        nodes: Option.getOrUndefined(input.nodes),
        timeoutSeconds: Option.getOrUndefined(input.timeout),
        // the limits given as flags; the others keep the server's defaults (`Limits.server`)
        ...toLimitOptions(input.limits),
        // the shorthand gives both per-connection byte budgets, unless each is given itself
        ...Option.match(input.maxBufferBytes, {
          onNone: () => ({}),
          onSome: (both) => ({
            maxBufferedBytes: Option.getOrElse(input.limits.maxBufferedBytes, () => both),
            maxWriteBufferBytes: Option.getOrElse(input.limits.maxWriteBufferBytes, () => both)
          })
        }),
        shutdownGraceSeconds: Option.getOrUndefined(input.shutdownGrace),
        backlog: Option.getOrUndefined(input.backlog),
        metrics: Option.getOrUndefined(input.metrics),
        otlp: Option.getOrUndefined(input.otlp)
      })
  ).pipe(
    Command.validate(({ nodes, port, echo }) => {
      if (Option.isNone(nodes)) return Effect.void
      if (echo)
        return Effect.fail(new CliError.ValidationError({ message: "--nodes serves simulated nodes, not --echo" }))
      return port !== 0 && port + nodes.value - 1 > 65535
        ? Effect.fail(
            new CliError.ValidationError({
              message: `--nodes ${nodes.value} from --port ${port} goes past port 65535`
            })
          )
        : Effect.void
    }),
    Command.validate(({ tlsCert, tlsKey, tlsSelfSigned }) => {
      if (Option.isSome(tlsCert) !== Option.isSome(tlsKey)) {
        return Effect.fail(new CliError.ValidationError({ message: "--tls-cert and --tls-key go together" }))
      }
      if (tlsSelfSigned && Option.isSome(tlsCert)) {
        return Effect.fail(
          new CliError.ValidationError({ message: "--tls-self-signed excludes --tls-cert and --tls-key" })
        )
      }
      return Effect.void
    }),
    Command.withDescription("Run a simulated RFeye node"),
    Command.withExamples([
      { command: "ncp serve --port 9999", description: "Serve plain NCP on localhost:9999" },
      {
        command: "ncp serve --nodes 100 --port 10000",
        description: "Serve 100 simulated nodes on localhost:10000-10099"
      },
      {
        command: "ncp serve --host 0.0.0.0 --port 443 --tls-self-signed --auth admin:secret",
        description: "Serve NCP over TLS with a password"
      }
    ])
  )

/**
 * The echo server's handler: every field gets an `ACKN` reply, then a reply with its own
 * params. Fields are answered one after the other.
 */
export const echoHandler = (connection: Connection.Connection): Effect.Effect<void, ConnectionError.ConnectionError> =>
  connection.fields.pipe(
    Stream.runForEach((field) =>
      field.packetType === "LINK" ? Effect.void : Effect.andThen(field.reply({ ACKN: 1 }), field.reply(field.params))
    )
  )

const readTls = Effect.fnUntraced(function* (tls: TlsSource) {
  if (tls._tag === "SelfSigned") return SelfSignedCertificate.generate()
  const fs = yield* FileSystem.FileSystem
  const read = (path: string) =>
    fs
      .readFileString(path)
      .pipe(Effect.catch((error) => Session.fail("serve", `cannot read ${path}: ${error.message}`)))
  const pem = { cert: yield* read(tls.certFile), key: yield* read(tls.keyFile) }
  // checked now, not at the first client: a server that listens and then fails every TLS
  // handshake looks up while it is not
  try {
    Tls.createSecureContext(pem)
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    return yield* Session.fail(
      "serve",
      `--tls-cert ${tls.certFile} and --tls-key ${tls.keyFile} are not a usable PEM certificate and key: ${reason}`
    )
  }
  return pem
})

/** The most nodes `--nodes` serves from one process. */
export const MAX_NODES = 10_000

/** One node `ncp serve` runs: its handler, greeting, port, and the prefix of its connection lines. */
interface Served {
  readonly handler: (connection: Connection.Connection) => Effect.Effect<void, ConnectionError.ConnectionError>
  readonly hello: Field.ParamsInput
  readonly port: number
  readonly prefix: string
}

/** The nodes `ncp serve` runs: one (the simulated node, or the echo server), or `--nodes N` simulated ones. */
const servedNodes = (options: ServeOptions): ReadonlyArray<Served> => {
  if (options.nodes === undefined) {
    return [
      {
        handler: options.echo ? echoHandler : SimulatedNode.handler,
        hello: SimulatedNode.hello,
        port: options.port,
        prefix: ""
      }
    ]
  }
  return Array.from({ length: options.nodes }, (_, index) => {
    const identity = SimulatedNode.fleetIdentity(index)
    return {
      handler: SimulatedNode.makeHandler(identity),
      hello: SimulatedNode.helloOf(identity),
      port: options.port === 0 ? 0 : options.port + index,
      prefix: `${identity.name ?? SimulatedNode.fleetName(index)}: `
    }
  })
}

/** Runs `ncp serve`. */
export const run = Effect.fn("serve.run")(function* (options: ServeOptions) {
  const tls = options.tls === undefined ? undefined : yield* readTls(options.tls)
  let open = 0
  const logged = (served: Served) => (connection: Connection.Connection) => {
    // the client's address and port (its own name for itself is in the logs, as `node`)
    const peer =
      connection.remoteAddress === undefined
        ? connection.remoteHostname
        : `${connection.remoteAddress.includes(":") ? `[${connection.remoteAddress}]` : connection.remoteAddress}:${connection.remotePort}`
    return Console.log(`${served.prefix}connection from ${peer}`).pipe(
      Effect.andThen(
        Effect.suspend(() => {
          open++
          return served.handler(connection)
        })
      ),
      Effect.onExit((exit) =>
        Effect.andThen(
          Effect.sync(() => {
            open--
          }),
          Console.log(
            `${served.prefix}connection from ${peer} closed${Exit.isFailure(exit) ? ` (${describeExit(exit)})` : ""}`
          )
        )
      )
    )
  }
  const auth = options.auth
  // NodeNcp.make: the same listener, TLS handshake deadline and tunnel rule as the library's
  // own servers; closing the scope (SIGINT, SIGTERM) shuts down within the grace.
  // how many connections were open when the stop began (the handlers have ended by the time it is printed)
  let stoppedWith = 0
  const listen = (served: Served) =>
    NodeNcp.make(logged(served), {
      host: options.host,
      port: served.port,
      tls,
      hello: served.hello,
      timeout: options.timeoutSeconds === undefined ? undefined : Duration.seconds(options.timeoutSeconds),
      ...Limits.resolve(Limits.server, options),
      backlog: options.backlog,
      shutdownGrace:
        options.shutdownGraceSeconds === undefined ? undefined : Duration.seconds(options.shutdownGraceSeconds),
      authenticate:
        auth === undefined
          ? undefined
          : (credentials) =>
              Effect.succeed(
                credentials.username === auth.username &&
                  Redacted.value(credentials.password) === Redacted.value(auth.password)
              )
    }).pipe(
      Effect.catch((error) =>
        Session.fail("serve", `cannot listen on ${options.host}:${served.port}: ${describeServerError(error)}`)
      )
    )
  const serving = Effect.gen(function* () {
    // every node listening before the first line, so that a reader of line 1 can connect to all
    const listenings = yield* Effect.forEach(servedNodes(options), listen, { concurrency: 64 })
    for (const listening of listenings) {
      yield* Console.log(`listening on ${NodeListener.formatAddress(listening.address)}`)
    }
    if (options.metrics !== undefined) {
      const endpoint = yield* Layer.build(
        NodeObservability.layerPrometheus({ host: options.metrics.host, port: options.metrics.port ?? 0 })
      ).pipe(
        Effect.map((context) => Context.get(context, NodeObservability.MetricsEndpoint)),
        Effect.catch((error) =>
          Session.fail(
            "serve",
            `cannot serve metrics on ${options.metrics?.host}:${options.metrics?.port}: ${error.message}`
          )
        )
      )
      yield* Console.log(`metrics on ${endpoint.url}`)
    }
    yield* Effect.addFinalizer(() =>
      Effect.sync(() => {
        stoppedWith = open
      })
    )
    // runs until interrupted, or until a listener fails
    return yield* Effect.raceAll(
      listenings.map((listening) =>
        listening.stopped.pipe(Effect.catch((error) => Session.fail("serve", describeServerError(error))))
      )
    )
  })
  return yield* Effect.scoped(serving).pipe(
    Effect.provide(otlpLayer(options.otlp)),
    // The scope has closed, the grace included, when the interruption gets here: a stop asked
    // for and carried out
    Effect.onInterrupt(() =>
      Effect.andThen(
        Effect.sync(() => {
          shutdown.completed = true
        }),
        Console.log(`stopped; ${stoppedWith} connection(s) were open`)
      )
    )
  )
})

/**
 * Whether a command that runs until stopped (`serve`, `watch`) was stopped (SIGINT, SIGTERM)
 * and shut down cleanly: the process then exits 0 rather than with the code of an interrupted
 * program (`bin.ts` reads it).
 */
export const shutdown = { completed: false }

const describeServerError = (error: SocketServer.SocketServerError): string => {
  const cause = error.reason.cause
  return typeof cause === "object" && cause !== null && "message" in cause ? String(cause.message) : error.message
}

const describeExit = (exit: Exit.Failure<unknown, unknown>): string => {
  const reason = exit.cause.reasons[0]
  if (reason === undefined) return "failed"
  if (reason._tag === "Interrupt") return "server stopping"
  const error = reason._tag === "Fail" ? reason.error : reason.defect
  return typeof error === "object" && error !== null && "message" in error ? String(error.message) : String(error)
}

/** The `serve` command. */
export const command = make(run)
