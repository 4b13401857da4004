/**
 * A server's command spans: with a tracer installed, each command received is a span (kind
 * server, a root named after the command, `DSPC SWEP`) that the field carries and its first
 * reply ends, with the `ERRC` of an error reply; a command never answered ends with the
 * connection.
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Tracer from "effect/Tracer"
import type { ConnectionError } from "../ConnectionError.js"
import type * as Field from "../Field.js"
import { commandAttributes } from "./telemetry.js"
import type { Wire } from "./wire.js"

/** The `ERRC` of an error reply's params, or `undefined`. */
const errorCode = (params: Field.ParamsInput): number | undefined => {
  let value: unknown
  if (Array.isArray(params)) {
    for (const entry of params) if (Array.isArray(entry) && entry[0] === "ERRC") value = entry[1]
  } else if (typeof params === "object" && params !== null && "ERRC" in params) value = params.ERRC
  if (typeof value === "number") return value
  if (typeof value === "object" && value !== null && "value" in value && typeof value.value === "number")
    return value.value
  return undefined
}

/** The most command spans one connection keeps open, waiting for their reply. */
const MAX_OPEN_SPANS = 1024

export class CommandSpans {
  /** Spans not ended yet: ended with the connection if never answered. */
  private readonly open = new Set<Tracer.Span>()

  constructor(
    private readonly wire: Wire,
    private readonly tracer: Tracer.Tracer,
    /** The connection's attributes: the peer's address and port. */
    private readonly attributes: Record<string, unknown>
  ) {}

  /** Starts the span of a command received. */
  start(packetType: string, field: Field.Field): Tracer.Span {
    const clock = this.wire.clock
    const method = `${packetType} ${field.name}`
    const span = this.tracer.span({
      name: method,
      parent: Option.none(),
      annotations: Context.empty(),
      links: [],
      startTime: clock.currentTimeNanosUnsafe(),
      kind: "server",
      root: true,
      sampled: true
    })
    for (const [key, value] of Object.entries(commandAttributes(packetType, method, this.attributes))) {
      span.attribute(key, value)
    }
    span.attribute("ncp.field_id", field.id)
    span.attribute("ncp.connection", this.wire.telemetry.id)
    this.open.add(span)
    // Commands a handler never answers (events, fire-and-forget) would keep their spans for the
    // connection's life: past the bound, the oldest ends now, marked unanswered.
    if (this.open.size > MAX_OPEN_SPANS) {
      const oldest = this.open.values().next().value as Tracer.Span
      this.open.delete(oldest)
      oldest.attribute("ncp.unanswered", true)
      oldest.end(clock.currentTimeNanosUnsafe(), Exit.void)
    }
    return span
  }

  /** `reply` (writing the first reply to the command of `span`, with `params`), ending the span with its outcome. */
  replied(
    span: Tracer.Span,
    params: Field.ParamsInput,
    reply: Effect.Effect<void, ConnectionError>
  ): Effect.Effect<void, ConnectionError> {
    return Effect.onExit(reply, (exit) =>
      Effect.sync(() => {
        if (!this.open.delete(span)) return
        const code = errorCode(params)
        if (code !== undefined) span.attribute("ncp.error_code", code)
        span.end(this.wire.clock.currentTimeNanosUnsafe(), code === undefined ? exit : Exit.fail(code))
      })
    )
  }

  /** Ends every span not ended yet: the connection has ended with `error`. */
  endAll(error: ConnectionError): void {
    if (this.open.size === 0) return
    const now = this.wire.clock.currentTimeNanosUnsafe()
    for (const span of this.open) span.end(now, Exit.fail(error))
    this.open.clear()
  }
}
