/**
 * A connection's warnings, rate-limited: a peer must not be able to turn its data into a log
 * storm, so at most {@link WARNINGS_PER_SECOND} entries a second are written and the rest are
 * counted, the count going out with the next entry allowed.
 */
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type { Decoded } from "../Decoder.js"
import * as Field from "../Field.js"
import type { Telemetry } from "./telemetry.js"

/** Warning log entries a connection may write per second. */
const WARNINGS_PER_SECOND = 10

export class WarningLog {
  private window = Number.NEGATIVE_INFINITY
  private inWindow = 0
  private suppressed = 0

  constructor(
    private readonly peer: { readonly annotations: Record<string, string> },
    private readonly clock: Clock.Clock,
    private readonly telemetry: Telemetry
  ) {}

  /**
   * Logs a warning about this connection, annotated with `ncp: kind`, the remote and
   * `annotations`, within the rate; the next entry allowed says how many were left out.
   */
  warn(kind: string, message: string, annotations: Record<string, unknown> = {}): Effect.Effect<void> {
    return Effect.suspend(() => {
      const now = this.clock.currentTimeMillisUnsafe()
      if (now - this.window >= 1000) {
        this.window = now
        this.inWindow = 0
      }
      if (this.inWindow >= WARNINGS_PER_SECOND) {
        this.suppressed++
        return Effect.void
      }
      this.inWindow++
      const suppressed = this.suppressed
      this.suppressed = 0
      return Effect.logWarning(
        suppressed === 0 ? message : `${message} (${suppressed} earlier warning(s) left out of the log)`
      ).pipe(
        Effect.annotateLogs({
          ...this.peer.annotations,
          ...annotations,
          ncp: kind,
          ...(suppressed === 0 ? {} : { suppressed })
        })
      )
    })
  }

  /**
   * Logs one packet's decode warnings: one entry per kind (count, first offset and where),
   * never one per param.
   */
  decodeWarnings(decoded: Decoded): Effect.Effect<void> {
    for (const summary of decoded.warningSummary) this.telemetry.decodeWarning(summary.kind, summary.count)
    return Effect.forEach(
      decoded.warningSummary,
      (summary) =>
        this.warn("DecodeWarning", summary.message, {
          kind: summary.kind,
          count: summary.count,
          offset: summary.offset,
          packetType: summary.packetType ?? "",
          field: summary.field ?? "",
          param: summary.param ?? ""
        }),
      { discard: true }
    )
  }

  /** A node's warning reply (`WARN`, `WARC`), as a warning of the connection. */
  commandWarning(packetType: string, field: Field.Field): Effect.Effect<void> {
    const detail = Field.get(field, "WARN")
    const code = Field.get(field, "WARC")
    return this.warn(
      "CommandWarning",
      `${packetType} ${field.name}: ${typeof detail === "string" ? detail : "warning"}${
        typeof code === "number" ? ` (code ${code})` : ""
      }`,
      {
        packetType,
        field: field.name,
        fieldId: field.id,
        detail: typeof detail === "string" ? detail : "",
        code: typeof code === "number" ? code : ""
      }
    )
  }

  /** Unclaimed fields dropped from a client's inbox, `count` so far. */
  inboxOverflow(count: number, capacity: number, bytes: number | undefined): Effect.Effect<void> {
    return this.warn(
      "InboxOverflow",
      `${count} unclaimed field(s) dropped so far: the inbox keeps the newest ${capacity} fields${
        bytes === undefined ? "" : ` and at most ${bytes} bytes of them`
      }; read them with recv, recvField or fields, or claim them with a Response`,
      { dropped: count }
    )
  }
}
