/**
 * Arguments and flags several commands share: the node address, identifiers, params, and
 * the connection flags of `send` and `sweep`.
 *
 * @since 0.1.0
 */
import { type Field, Identifier, Limits } from "@effect-ncp/core"
import { NodeObservability } from "@effect-ncp/node"
import { Argument, CliError, Flag } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Result from "effect/Result"
import * as Address from "../Address.js"
import * as Params from "../Params.js"

/** The `HOST[:PORT]` argument. */
export const address = Argument.String("address").pipe(
  Argument.withMetavar("HOST[:PORT]"),
  Argument.withDescription("The node: host name or IP address, optionally with a port"),
  Argument.mapEffect((text) =>
    Result.match(Address.parseAddress(text), {
      onSuccess: Effect.succeed,
      onFailure: (detail) => Effect.fail(new CliError.ValidationError({ message: `address "${text}": ${detail}` }))
    })
  )
)

/** The `--host HOST` a server listens on. */
export const listenHost = Flag.String("host").pipe(
  Flag.withMetavar("HOST"),
  Flag.withDescription("Address to listen on (0.0.0.0 for every interface)"),
  Flag.withDefault("127.0.0.1")
)

/** The `--port` a server listens on: an integer 0-65535, 0 picking a free port. */
export const listenPort = Flag.Int("port").pipe(
  Flag.withDescription("TCP port; 0 picks a free one (read it from the first line of output)"),
  Flag.filter(
    (port) => port >= 0 && port <= 65535,
    (port) => `port ${port} is outside 0-65535`
  ),
  Flag.withDefault(9999)
)

/** A packet type or field name argument. */
export const identifier = (name: string, description: string) =>
  Argument.String(name).pipe(
    Argument.withMetavar(name.toUpperCase()),
    Argument.withDescription(description),
    Argument.filter(Identifier.isIdentifier, () => "an NCP identifier: 1-4 characters of A-Z and 0-9")
  )

/** The `NAME[:TYPE]=VALUE ...` arguments, as params. */
export const params = Argument.String("param").pipe(
  Argument.withMetavar("NAME[:TYPE]=VALUE"),
  Argument.withDescription(
    "A param; TYPE is i32, u32, i64, u64, f32, f64, string, raw (hex) or a data type such as u8[] or f32[] " +
      "(a comma list). Without TYPE: an integer is i32, another number f64, anything else a string"
  ),
  Argument.mapEffect(
    (text): Effect.Effect<Field.Param, CliError.CliError> =>
      Result.match(Params.parseParam(text), {
        onSuccess: Effect.succeed,
        onFailure: (error) => Effect.fail(new CliError.ValidationError({ message: error.message }))
      })
  ),
  Argument.variadic()
)

/**
 * The longest timeout a flag takes, in seconds: the handshake carries it as an i32, and a day
 * is far beyond any wait a node needs.
 */
const MAX_TIMEOUT_SECONDS = 86_400

/** A positive number of seconds, at most a day. */
export const seconds = (name: string, description: string) =>
  Flag.Finite(name).pipe(
    Flag.withMetavar("S"),
    Flag.withDescription(description),
    Flag.filter(
      (s) => s > 0 && s <= MAX_TIMEOUT_SECONDS,
      () => `a number of seconds above 0, at most ${MAX_TIMEOUT_SECONDS} (a day)`
    ),
    Flag.optional
  )

const BYTE_UNITS: Record<string, number> = {
  "": 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3
}

/** A number of bytes, `N` or with a binary unit: `64KiB`, `1MiB`, `2GiB` (or `k`, `m`, `g`). */
export const parseBytes = (text: string): number | string => {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim())
  const unit = BYTE_UNITS[match?.[2]?.toLowerCase() ?? "?"]
  if (match === null || unit === undefined) return `"${text}" is not a number of bytes (e.g. 1048576, 512KiB, 1MiB)`
  const bytes = Math.floor(Number(match[1]) * unit)
  return bytes >= 1 && Number.isSafeInteger(bytes) ? bytes : `"${text}" is not a number of bytes above 0`
}

/** A number of bytes (see {@link parseBytes}). */
export const bytes = (name: string, description: string) =>
  Flag.String(name).pipe(
    Flag.withMetavar("BYTES"),
    Flag.withDescription(description),
    Flag.mapTryCatch(
      (text) => {
        const parsed = parseBytes(text)
        if (typeof parsed === "string") throw new Error(parsed)
        return parsed
      },
      (error) => (error instanceof Error ? error.message : String(error))
    ),
    Flag.optional
  )

/** A whole number above 0. */
export const count = (name: string, description: string) =>
  Flag.Int(name).pipe(
    Flag.withMetavar("N"),
    Flag.withDescription(description),
    Flag.filter(
      (n) => n > 0,
      () => "a whole number above 0"
    ),
    Flag.optional
  )

const kebab = (name: string): string => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)

const formatDefault = (entry: Limits.Entry, value: number): string => {
  if (entry.unit === "seconds") return `${value} s`
  if (entry.unit !== "bytes") return value.toLocaleString("en-US")
  for (const [unit, size] of [
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024]
  ] as const) {
    if (value >= size && value % size === 0) return `${value / size}${unit}`
  }
  return `${value}`
}

/**
 * One flag per limit of `Limits.table` that `side` has, named after it (`maxPacketBytes` is
 * `--max-packet-bytes`), with its summary and default: a limit added to the table is a flag
 * with no edit here.
 */
export const limitFlags = <K extends Limits.Name>(
  names: ReadonlyArray<K>,
  side: "client" | "server"
): { readonly [N in K]: Flag.Flag<Option.Option<number>> } => {
  const flags: Partial<Record<K, Flag.Flag<Option.Option<number>>>> = {}
  for (const name of names) {
    const entry: Limits.Entry = Limits.table[name]
    const value = entry[side]
    const description =
      value === undefined ? entry.summary : `${entry.summary} (default ${formatDefault(entry, value)})`
    flags[name] =
      entry.unit === "bytes"
        ? bytes(kebab(name), description)
        : entry.unit === "count"
          ? count(kebab(name), description)
          : atLeastZero(kebab(name), description, entry.unit === "seconds" ? "S" : "N")
  }
  return flags as { readonly [N in K]: Flag.Flag<Option.Option<number>> }
}

/** The values given to {@link limitFlags}' flags, as limit options. */
export const toLimitOptions = <K extends Limits.Name>(
  flags: {
    readonly [N in K]: Option.Option<number>
  }
): { readonly [N in K]?: number | undefined } => {
  const options: Partial<Record<K, number | undefined>> = {}
  for (const name of Object.keys(flags) as Array<K>) options[name] = Option.getOrUndefined(flags[name])
  return options
}

/** A whole number, 0 or more (0 turning the limit off), up to 2^31-1. */
const atLeastZero = (name: string, description: string, metavar: string) =>
  Flag.Int(name).pipe(
    Flag.withMetavar(metavar),
    Flag.withDescription(description),
    Flag.filter(
      (n) => n >= 0 && n <= 2_147_483_647,
      () => "a whole number from 0 to 2147483647"
    ),
    Flag.optional
  )

/** `--metrics HOST:PORT`: serve Prometheus' `/metrics` there (port 0 picks a free one). */
export const metricsFlag = Flag.String("metrics").pipe(
  Flag.withMetavar("HOST:PORT"),
  Flag.withDescription("Serve Prometheus metrics at http://HOST:PORT/metrics (port 0 picks a free one)"),
  Flag.mapTryCatch(
    (text) => {
      const parsed = text.endsWith(":0")
        ? Result.succeed({ host: text.slice(0, -2).replace(/^\[|\]$/g, ""), port: 0 })
        : Address.parseAddress(text)
      if (Result.isFailure(parsed)) throw new Error(parsed.failure)
      if (parsed.success.port === undefined) throw new Error(`"${text}" has no port: HOST:PORT`)
      return parsed.success
    },
    (error) => (error instanceof Error ? error.message : String(error))
  ),
  Flag.optional
)

/** `--otlp URL`: export traces, metrics and logs over OTLP/HTTP. */
export const otlpFlag = Flag.String("otlp").pipe(
  Flag.withMetavar("URL"),
  Flag.withDescription("Export traces, metrics and logs over OTLP/HTTP to this collector (http://host:4318)"),
  Flag.filter(
    (text) => /^https?:\/\/[^/\s]+/.test(text),
    () => "an http:// or https:// URL, e.g. http://localhost:4318"
  ),
  Flag.optional
)

/** The OTLP exporter of `--otlp`, or nothing: what a command that talks to nodes is provided with. */
export const otlpLayer = (url: string | undefined) =>
  url === undefined ? Layer.empty : NodeObservability.layerOtlp({ url, serviceName: "ncp" })

/** The flags of a command that connects to a node. */
export const connectionFlags = {
  tls: Flag.Boolean("tls").pipe(Flag.withDefault(false), Flag.withDescription("Connect with TLS (default port 443)")),
  insecure: Flag.Boolean("insecure").pipe(
    Flag.withDefault(false),
    Flag.withDescription("With --tls: accept a certificate that does not verify (self-signed)")
  ),
  user: Flag.String("user").pipe(
    Flag.withMetavar("U"),
    Flag.withDescription("User name for the node's CONNECT tunnel (default port 80 without TLS)"),
    Flag.optional
  ),
  password: Flag.Redacted("password").pipe(Flag.withMetavar("P"), Flag.withDescription("Password"), Flag.optional),
  timeout: seconds("timeout", "Network timeout in seconds, also each reply's deadline (default 60)"),
  otlp: otlpFlag
} as const

/** The parsed connection flags. */
export interface ConnectionFlags {
  readonly tls: boolean
  readonly insecure: boolean
  readonly user: Option.Option<string>
  readonly password: Option.Option<Redacted.Redacted<string>>
  readonly timeout: Option.Option<number>
  readonly otlp: Option.Option<string>
}

/** What a command that connects needs to know about the connection. */
export interface ConnectionOptions {
  readonly host: string
  readonly port: number | undefined
  readonly tls: boolean
  /** Accept a TLS certificate that does not verify. */
  readonly insecure: boolean
  readonly username: string | undefined
  readonly password: Redacted.Redacted<string> | undefined
  readonly timeoutSeconds: number | undefined
  /** `--otlp`: the collector's URL. */
  readonly otlp: string | undefined
}

/** Rules between connection flags, as a `Command.validate` step. */
export const validateConnection = (flags: ConnectionFlags): Effect.Effect<void, CliError.CliError> =>
  flags.insecure && !flags.tls
    ? Effect.fail(new CliError.ValidationError({ message: "--insecure only applies with --tls" }))
    : Option.isSome(flags.password) && Option.isNone(flags.user)
      ? Effect.fail(new CliError.ValidationError({ message: "--password needs --user" }))
      : Effect.void

/** The connection options of an address and the connection flags. */
export const toConnectionOptions = (address: Address.Address, flags: ConnectionFlags): ConnectionOptions => ({
  host: address.host,
  port: address.port,
  tls: flags.tls,
  insecure: flags.insecure,
  username: Option.getOrUndefined(flags.user),
  password: Option.getOrUndefined(flags.password),
  timeoutSeconds: Option.getOrUndefined(flags.timeout),
  otlp: Option.getOrUndefined(flags.otlp)
})

/** How many replies to wait for: a count, or every reply until interrupted. */
export type ReplyLimit = { readonly _tag: "Count"; readonly count: number } | { readonly _tag: "Follow" }

/** The `--count N | --follow` flags. */
export const replyLimitFlags = {
  count: Flag.Int("count").pipe(
    Flag.withMetavar("N"),
    Flag.withDescription("Stop after N replies (default 1)"),
    Flag.filter(
      (n) => n >= 1,
      () => "a count of at least 1"
    ),
    Flag.optional
  ),
  follow: Flag.Boolean("follow").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Print replies until interrupted (Ctrl-C)")
  )
} as const

/** `--count` and `--follow` exclude each other. */
export const validateReplyLimit = (flags: {
  readonly count: Option.Option<number>
  readonly follow: boolean
}): Effect.Effect<void, CliError.CliError> =>
  flags.follow && Option.isSome(flags.count)
    ? Effect.fail(new CliError.ValidationError({ message: "--count and --follow exclude each other" }))
    : Effect.void

/** The reply limit of the `--count` / `--follow` flags. */
export const toReplyLimit = (flags: { readonly count: Option.Option<number>; readonly follow: boolean }): ReplyLimit =>
  flags.follow ? { _tag: "Follow" } : { _tag: "Count", count: Option.getOrElse(flags.count, () => 1) }

/** The chart size flags. */
export const chartFlags = {
  width: Flag.Int("width").pipe(
    Flag.withDescription("Chart width in columns"),
    Flag.filter(
      (n) => n >= 8 && n <= 1000,
      () => "a width of 8-1000 columns"
    ),
    Flag.withDefault(72)
  ),
  height: Flag.Int("height").pipe(
    Flag.withDescription("Chart height in rows"),
    Flag.filter(
      (n) => n >= 2 && n <= 200,
      () => "a height of 2-200 rows"
    ),
    Flag.withDefault(16)
  )
} as const
