/**
 * `ncp serve`: runs a simulated RFeye node that answers NCP clients (`SimulatedNode` from the
 * core), or with `--echo` an echo server: every field gets an `ACKN` reply, then a reply with
 * its own params.
 *
 * The first line of output is `listening on HOST:PORT` (with the bound port, so `--port 0`
 * can be read back); then one line per connection opened and closed. TLS comes from PEM files
 * or a fresh self-signed certificate; `--auth USER:PASS` requires those credentials in the
 * CONNECT tunnel. The limits that keep one client from taking the server down are flags
 * (`--max-packet-bytes`, `--max-connections`, `--max-buffer-bytes`), with the library's
 * defaults. The server runs until interrupted (SIGINT, SIGTERM); then it refuses new
 * connections, gives the commands in flight `--shutdown-grace` seconds (5) to be answered,
 * closes every connection and exits 0.
 *
 * @since 0.1.0
 */
import type { Connection } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NcpSocketServer, NodeNcp, SelfSignedCertificate } from "@effect-ncp/node"
import * as Console from "effect/Console"
import { CliError, Command, Flag } from "effect/cli"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FileSystem from "effect/FileSystem"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as SocketServer from "effect/socket/SocketServer"
import * as Address from "../Address.js"
import { bytes, count, seconds } from "./options.js"
import * as Session from "./session.js"

/** Where the server's TLS certificate comes from. */
export type TlsSource =
  | { readonly _tag: "Files"; readonly certFile: string; readonly keyFile: string }
  | { readonly _tag: "SelfSigned" }

/** What `ncp serve` was asked to do. */
export interface ServeOptions {
  readonly host: string
  readonly port: number
  /** TLS, or `undefined` for plain NCP. */
  readonly tls: TlsSource | undefined
  /** Credentials clients must give in the CONNECT tunnel, or `undefined` for none. */
  readonly auth: { readonly username: string; readonly password: Redacted.Redacted<string> } | undefined
  /** Answer every command field with its own params instead of simulating a node. */
  readonly echo: boolean
  readonly timeoutSeconds: number | undefined
  readonly maxPacketBytes: number | undefined
  readonly maxConnections: number | undefined
  /** Per connection: what its received data and its replies waiting to be written may hold. */
  readonly maxBufferBytes: number | undefined
  readonly shutdownGraceSeconds: number | undefined
}

/** The `serve` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: ServeOptions) => Effect.Effect<void, E, R>) =>
  Command.make(
    "serve",
    {
      host: Flag.String("host").pipe(
        Flag.withDescription("Address to listen on (0.0.0.0 for every interface)"),
        Flag.withDefault("127.0.0.1")
      ),
      port: Flag.String("port").pipe(
        Flag.withDescription("TCP port; 0 picks a free one (read it from the first line of output)"),
        Flag.withDefault("9999"),
        Flag.mapTryCatch(
          (text) => {
            if (text === "0") return 0
            const port = Address.parsePort(text)
            if (typeof port === "string") throw new Error(port)
            return port
          },
          (error) => (error instanceof Error ? error.message : String(error))
        )
      ),
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
      timeout: seconds("timeout", "Network timeout in seconds, offered to clients"),
      maxPacketBytes: bytes(
        "max-packet-bytes",
        "Largest packet accepted from a client (default 1MiB); a larger one gets LINK ERRO 400"
      ),
      maxConnections: count("max-connections", "Most connections at once (default 1024); more are refused"),
      maxBufferBytes: bytes(
        "max-buffer-bytes",
        "Per connection: received data waiting for the node, and replies waiting for the client to read (defaults 1MiB and 256KiB)"
      ),
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
        timeoutSeconds: Option.getOrUndefined(input.timeout),
        maxPacketBytes: Option.getOrUndefined(input.maxPacketBytes),
        maxConnections: Option.getOrUndefined(input.maxConnections),
        maxBufferBytes: Option.getOrUndefined(input.maxBufferBytes),
        shutdownGraceSeconds: Option.getOrUndefined(input.shutdownGrace)
      })
  ).pipe(
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
        command: "ncp serve --host 0.0.0.0 --port 443 --tls-self-signed --auth admin:secret",
        description: "Serve NCP over TLS with a password"
      }
    ])
  )

/**
 * The echo server's handler: every field gets an `ACKN` reply, then a reply with its own
 * params. Fields are answered one after the other.
 */
export const echoHandler = (connection: Connection.Connection) =>
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
  return { cert: yield* read(tls.certFile), key: yield* read(tls.keyFile) }
})

/** Runs `ncp serve`. */
export const run = Effect.fn("serve.run")(function* (options: ServeOptions) {
  const tls = options.tls === undefined ? undefined : yield* readTls(options.tls)
  const node = options.echo ? echoHandler : SimulatedNode.handler
  const handler = (connection: Connection.Connection) =>
    Console.log(`connection from ${connection.remoteHostname}`).pipe(
      Effect.andThen(node(connection)),
      Effect.onExit((exit) =>
        Console.log(
          `connection from ${connection.remoteHostname} closed${Exit.isFailure(exit) ? ` (${describeExit(exit)})` : ""}`
        )
      )
    )
  const auth = options.auth
  // NodeNcp.make: the same listener, TLS handshake deadline and tunnel rule as the library's
  // own servers; closing the scope (SIGINT, SIGTERM) shuts down within the grace.
  const serving = Effect.gen(function* () {
    const listening = yield* NodeNcp.make(handler, {
      host: options.host,
      port: options.port,
      tls,
      hello: SimulatedNode.hello,
      timeout: options.timeoutSeconds,
      maxPacketBytes: options.maxPacketBytes,
      maxConnections: options.maxConnections,
      maxBufferedBytes: options.maxBufferBytes,
      maxWriteBufferBytes: options.maxBufferBytes,
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
        Session.fail("serve", `cannot listen on ${options.host}:${options.port}: ${describeServerError(error)}`)
      )
    )
    yield* Console.log(`listening on ${NcpSocketServer.formatAddress(listening.address)}`)
    return yield* listening.stopped.pipe(Effect.catch((error) => Session.fail("serve", describeServerError(error))))
  })
  return yield* Effect.scoped(serving).pipe(
    // The scope has closed, the grace included, when the interruption gets here: a stop asked
    // for and carried out
    Effect.onInterrupt(() =>
      Effect.sync(() => {
        shutdown.completed = true
      })
    )
  )
})

/**
 * Whether a serve run was stopped (SIGINT, SIGTERM) and shut down cleanly: the process then
 * exits 0 rather than with the code of an interrupted program (`bin.ts` reads it).
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
