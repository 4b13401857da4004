/**
 * What one connection reports about itself: its metrics (`NcpMetrics`), recorded synchronously
 * on the hot path, its log annotations, and the attributes of its spans. Spans are made only
 * when a tracer other than Effect's native one is installed, so that with nobody listening a
 * traced command costs a comparison, not a span.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as References from "effect/References"
import * as Tracer from "effect/Tracer"
import type { ConnectionError } from "../ConnectionError.js"
import * as NcpMetrics from "../NcpMetrics.js"

/** Which end of the connection this is. */
export type Role = "client" | "server"

/** The most distinct label values a process records for one label, before `other`. */
const COMMAND_LABELS = 256
const CODE_LABELS = 64

/** A cache of a metric with fixed label values, bounded: past `limit` keys every new key is `other`. */
class Labelled<I, S> {
  private readonly byKey = new Map<string, Metric.Metric<I, S>>()
  private other: Metric.Metric<I, S> | undefined

  constructor(
    private readonly metric: Metric.Metric<I, S>,
    private readonly limit: number
  ) {}

  get(key: string, attributes: () => Metric.Metric.Attributes): Metric.Metric<I, S> {
    const found = this.byKey.get(key)
    if (found !== undefined) return found
    if (this.byKey.size >= this.limit) {
      this.other ??= Metric.withAttributes(this.metric, otherAttributes(attributes()))
      return this.other
    }
    const made = Metric.withAttributes(this.metric, attributes())
    this.byKey.set(key, made)
    return made
  }
}

const otherAttributes = (attributes: Metric.Metric.Attributes): Metric.Metric.Attributes => {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(attributes)) out[key] = key === "role" ? String(value) : "other"
  return out
}

// Shared by every connection of the process: the label bounds hold per process, not per connection.
const commandsSent = new Labelled(NcpMetrics.commandsSent, COMMAND_LABELS)
const commandsHandled = new Labelled(NcpMetrics.commandsHandled, COMMAND_LABELS)
const requestDuration = new Labelled(NcpMetrics.requestDuration, COMMAND_LABELS)
const replyCodes = new Labelled(NcpMetrics.replies, CODE_LABELS)
const fixed = new Map<string, Metric.Metric<number, unknown>>()

/** A metric with fixed labels from a short list, made once. */
const withLabels = (metric: Metric.Metric<number, unknown>, attributes: Record<string, string>) => {
  const key = `${metric.id} ${JSON.stringify(attributes)}`
  const found = fixed.get(key)
  if (found !== undefined) return found
  const made = Metric.withAttributes(metric, attributes)
  fixed.set(key, made)
  return made
}

// Made once: a rate-limited connection counts a wait per packet over its rate.
const budgetWaits = {
  read: withLabels(NcpMetrics.budgetWaits, { budget: "read" }),
  write: withLabels(NcpMetrics.budgetWaits, { budget: "write" }),
  reserve: withLabels(NcpMetrics.budgetWaits, { budget: "reserve" }),
  rate: withLabels(NcpMetrics.budgetWaits, { budget: "rate" })
} as const

/** The reason label of a connection's end. */
export const closeReason = (error: ConnectionError): string => {
  switch (error._tag) {
    case "ConnectionClosed":
      return "closed"
    case "NetworkTimeout":
      return "timeout"
    case "NetworkError":
      return "network"
    case "AuthenticationError":
      return "refused_credentials"
    case "DecodeError":
      return "decode"
    case "EncodeError":
      return "encode"
    case "CommandError":
      return "command_error"
    case "ConnectionDefect":
      return "defect"
    case "NotConnected":
      return "not_connected"
  }
}

let nextConnectionId = 1

export class Telemetry {
  /** A process-wide number naming the connection in logs and spans (`c17`). */
  readonly id: string
  private readonly bytesIn: Metric.Metric<number, unknown>
  private readonly bytesOut: Metric.Metric<number, unknown>
  private readonly keepAlives: Metric.Metric<number, unknown>
  private readonly open: Metric.Metric<number, unknown>

  /**
   * Whether Debug entries were wanted when the connection opened (`References.MinimumLogLevel`):
   * the per-command and keep-alive lines are made only then, costing nothing otherwise.
   */
  readonly debug: boolean

  constructor(
    /** The services of the fiber that opened the connection: its metric registry and attributes. */
    private readonly context: Context.Context<never>,
    readonly role: Role
  ) {
    this.debug = LogLevel.isLessThanOrEqualTo(Context.get(context, References.MinimumLogLevel), "Debug")
    this.id = `c${nextConnectionId++}`
    this.bytesIn = withLabels(NcpMetrics.bytesReceived, { role })
    this.bytesOut = withLabels(NcpMetrics.bytesSent, { role })
    this.keepAlives = withLabels(NcpMetrics.keepAlivesSent, { role })
    this.open = withLabels(NcpMetrics.connectionsOpen, { role })
  }

  received(bytes: number): void {
    this.bytesIn.updateUnsafe(bytes, this.context)
  }

  sent(bytes: number): void {
    this.bytesOut.updateUnsafe(bytes, this.context)
  }

  keepAliveSent(): void {
    this.keepAlives.updateUnsafe(1, this.context)
  }

  opened(): void {
    withLabels(NcpMetrics.connectionsOpened, { role: this.role }).updateUnsafe(1, this.context)
    this.open.modifyUnsafe(1, this.context)
  }

  closed(error: ConnectionError): void {
    this.open.modifyUnsafe(-1, this.context)
    withLabels(NcpMetrics.connectionsClosed, { role: this.role, reason: closeReason(error) }).updateUnsafe(
      1,
      this.context
    )
    if (error._tag === "DecodeError") {
      withLabels(NcpMetrics.decodeErrors, { reason: error.reason }).updateUnsafe(1, this.context)
    }
  }

  commandSent(packetType: string, field: string): void {
    commandsSent.get(`${packetType} ${field}`, () => ({ packet_type: packetType, field })).updateUnsafe(1, this.context)
  }

  commandHandled(packetType: string, field: string): void {
    commandsHandled
      .get(`${packetType} ${field}`, () => ({ packet_type: packetType, field }))
      .updateUnsafe(1, this.context)
  }

  /** A reply waited for: its outcome, and for one that came (ok or error), the time it took. */
  reply(packetType: string, field: string, outcome: ReplyOutcome, code: number | undefined, seconds: number): void {
    const codeLabel = code === undefined ? "" : String(code)
    replyCodes.get(`${outcome} ${codeLabel}`, () => ({ outcome, code: codeLabel })).updateUnsafe(1, this.context)
    if (outcome === "ok" || outcome === "error") {
      requestDuration
        .get(`${packetType} ${field}`, () => ({ packet_type: packetType, field }))
        .updateUnsafe(seconds, this.context)
    }
  }

  decodeWarning(kind: string, count: number): void {
    withLabels(NcpMetrics.decodeWarnings, { kind }).updateUnsafe(count, this.context)
  }

  budgetWait(budget: "read" | "write" | "reserve" | "rate"): void {
    budgetWaits[budget].updateUnsafe(1, this.context)
  }
}

/** How a reply waited for ended. */
export type ReplyOutcome = "ok" | "error" | "timeout" | "closed"

/** The outcome of a wait for a reply that failed with `error`. */
export const failedOutcome = (error: ConnectionError): ReplyOutcome =>
  error._tag === "CommandError" ? "error" : error._tag === "NetworkTimeout" ? "timeout" : "closed"

/** A connection refused by a server, by reason. */
export const refused = (
  context: Context.Context<never>,
  reason: "max_connections" | "max_connections_per_address" | "shutting_down"
): void => withLabels(NcpMetrics.connectionsRefused, { reason }).updateUnsafe(1, context)

/** An attempt that failed before its handshake completed. */
export const handshakeFailed = (context: Context.Context<never>, role: Role, reason: string): void =>
  withLabels(NcpMetrics.handshakesFailed, { role, reason }).updateUnsafe(1, context)

/** An attempt of a reconnecting client. */
export const reconnected = (context: Context.Context<never>, outcome: "connected" | "failed"): void =>
  withLabels(NcpMetrics.reconnects, { outcome }).updateUnsafe(1, context)

/**
 * `effect` under a span named `name`, unless the installed tracer is Effect's native one
 * (nobody exports its spans): then `effect` as it is, for the price of one comparison.
 */
export const traced = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  options: Tracer.SpanOptionsNoTrace
): Effect.Effect<A, E, R> =>
  Effect.flatMap(Effect.tracer, (tracer) =>
    tracer === Tracer.nativeTracer ? effect : Effect.withSpan(effect, name, { ...options, captureStackTrace: false })
  )

/**
 * Our spans carry no stack trace: it would point into the connection's internals, never at the
 * caller (whose own spans carry theirs), and taking one (an `Error` per span) cost more than
 * the rest of the span.
 */
export const noStackTrace = { captureStackTrace: false } as const

/**
 * Whether the connection being opened belongs to a reconnecting client, which logs its own
 * connects and disconnects (with the attempt); the connection itself then does not.
 */
export const Supervised = Context.Reference<boolean>("@effect-ncp/core/internal/Supervised", {
  defaultValue: () => false
})

/** What the open and close lines name. */
export interface Named {
  readonly remote: string
  readonly peerHostname: string | undefined
  readonly telemetry: Telemetry
}

/** An error's message without the remote it starts with, for lines that name the remote already. */
export const reasonOf = (error: ConnectionError, remote: string): string => {
  const message = error.message
  return message.startsWith(`${remote}: `) ? message.slice(remote.length + 2) : message
}

/** The Info line of a connection opened, as ncplib words it. */
export const logOpen = (connection: Named): Effect.Effect<void> =>
  connection.telemetry.role === "client"
    ? Effect.logInfo(`Connected to ${connection.remote} over NCP`).pipe(Effect.annotateLogs({ ncp: "Connected" }))
    : Effect.logInfo(
        `Client ${connection.remote}${connection.peerHostname === undefined ? "" : ` (${connection.peerHostname})`} connected over NCP`
      ).pipe(Effect.annotateLogs({ ncp: "ClientConnected" }))

/** The Info line of a connection closed, with why. */
export const logClose = (connection: Named, reason: ConnectionError): Effect.Effect<void> =>
  connection.telemetry.role === "client"
    ? Effect.logInfo(`Disconnected from ${connection.remote} over NCP`).pipe(
        Effect.annotateLogs({ ncp: "Disconnected", reason: reasonOf(reason, connection.remote) })
      )
    : Effect.logInfo(`Client ${connection.remote} disconnected`).pipe(
        Effect.annotateLogs({ ncp: "ClientDisconnected", reason: reasonOf(reason, connection.remote) })
      )

/** The attributes of a command's span. */
export const commandAttributes = (
  packetType: string,
  method: string,
  peer: Record<string, unknown>
): Record<string, unknown> => {
  // One object per connection and command, made once: spans only read their attributes, and
  // building it (a spread of the peer's) was a tenth of a traced round trip. A connection
  // keeps at most `MAX_ATTRIBUTE_SETS` of them; past that, they are made each time.
  let byMethod = attributeSets.get(peer)
  if (byMethod === undefined) {
    byMethod = new Map()
    attributeSets.set(peer, byMethod)
  }
  const known = byMethod.get(method)
  if (known !== undefined) return known
  const made = Object.freeze({
    ...peer,
    "rpc.system": "ncp",
    "rpc.method": method,
    "ncp.packet_type": packetType,
    "ncp.packet_id": 1
  })
  if (byMethod.size < MAX_ATTRIBUTE_SETS) byMethod.set(method, made)
  return made
}

const attributeSets = new WeakMap<Record<string, unknown>, Map<string, Record<string, unknown>>>()
const MAX_ATTRIBUTE_SETS = 64

/**
 * A client's command under its span (kind client, named `DSPC SWEP`), which records the
 * outcome: the typed error of a failure, and the `ERRC` of an error reply.
 */
export const commandSpan = <A, R>(
  exchange: Effect.Effect<A, ConnectionError, R>,
  packetType: string,
  fieldName: string,
  peer: Record<string, unknown>
): Effect.Effect<A, ConnectionError, R> => {
  const method = `${packetType} ${fieldName}`
  const outcome = exchange.pipe(
    Effect.tapError((error) =>
      error._tag === "CommandError" && error.code !== undefined
        ? Effect.annotateCurrentSpan("ncp.error_code", error.code)
        : Effect.void
    ),
    Effect.tap(() => Effect.annotateCurrentSpan("ncp.replies", 1))
  )
  // data-first: the data-last form of `withSpan` takes a stack trace whatever its options say
  return Effect.withSpan(outcome, method, {
    kind: "client",
    attributes: commandAttributes(packetType, method, peer),
    ...noStackTrace
  })
}

/** The attributes of a connection's spans: OpenTelemetry's server and network attributes. */
export const peerAttributes = (role: Role, host: string, port: number | undefined): Record<string, unknown> =>
  role === "client"
    ? { "rpc.system": "ncp", "server.address": host, ...(port === undefined ? {} : { "server.port": port }) }
    : {
        "rpc.system": "ncp",
        "network.peer.address": host,
        ...(port === undefined ? {} : { "network.peer.port": port })
      }
