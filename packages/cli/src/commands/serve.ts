/**
 * `ncp serve`: runs a simulated RFeye node that answers NCP clients.
 *
 * @since 0.1.0
 */

import { CliError, Command, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Address from "../Address.js"
import { notImplemented, seconds } from "./options.js"

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
        Flag.withDescription("TCP port"),
        Flag.withDefault("9999"),
        Flag.mapTryCatch(
          (text) => {
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
      timeout: seconds("timeout", "Network timeout in seconds, offered to clients")
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
        timeoutSeconds: Option.getOrUndefined(input.timeout)
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

/** Runs `ncp serve`. */
export const run = (_options: ServeOptions) => notImplemented("serve")

/** The `serve` command. */
export const command = make(run)
