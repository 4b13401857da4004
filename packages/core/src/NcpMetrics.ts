/**
 * The metrics every NCP connection keeps, as `effect/Metric` values: connections open, opened,
 * closed and refused; commands sent and handled; replies by outcome; request latency; bytes in
 * and out; reconnects; decode warnings and errors; waits on the byte budgets. They are
 * recorded whatever exporter is installed (an update costs tens of nanoseconds); add
 * `PrometheusMetrics` or `OtlpMetrics` from `effect/observability` at the edge of a program to
 * export them (`@effect-ncp/node`'s `NodeObservability` does both), or read them with
 * `Metric.value` in a test.
 *
 * Names follow Prometheus' conventions: a unit suffix (`_seconds`, `_bytes`) and `_total` on
 * counters. Labels stay bounded: `role` is `client` or `server`; `packet_type` and `field` are
 * the command's names (the first 256 distinct pairs a process sees, `other` after that, so a
 * peer inventing names cannot grow the series without bound); `reason`, `outcome`, `kind` and
 * `budget` come from fixed lists; `code` is the `ERRC` of an error reply (the first 64 distinct
 * codes, `other` after that).
 *
 * @example
 * ```ts
 * import { NcpMetrics } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 * import * as Metric from "effect/Metric"
 *
 * const openNow = Effect.map(Metric.value(NcpMetrics.connectionsOpen), (state) => state.value)
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/** Connections open now, by `role`. */
export const connectionsOpen = Metric.gauge("ncp_connections_open", {
  description: "NCP connections open now, by role (client or server)"
})

/** Connections opened (the handshake done), by `role`. */
export const connectionsOpened = Metric.counter("ncp_connections_opened_total", {
  description: "NCP connections opened (handshake done), by role",
  incremental: true
})

/**
 * Connections closed, by `role` and `reason`: `closed` (gracefully, by either side), `timeout`,
 * `network`, `refused_credentials`, `decode`, `command_error` (a `LINK ERRO`), `defect`.
 */
export const connectionsClosed = Metric.counter("ncp_connections_closed_total", {
  description: "NCP connections closed, by role and reason",
  incremental: true
})

/**
 * Connections a server turned away, by `reason`: `max_connections`, `max_connections_per_address`,
 * `shutting_down`.
 */
export const connectionsRefused = Metric.counter("ncp_connections_refused_total", {
  description: "NCP connections refused by a server, by reason",
  incremental: true
})

/** Connection attempts that failed before the handshake completed, by `role` and `reason`. */
export const handshakesFailed = Metric.counter("ncp_handshakes_failed_total", {
  description: "NCP connection attempts that failed before the handshake completed, by role and reason",
  incremental: true
})

/** Commands (fields) a client sent, by `packet_type` and `field`. */
export const commandsSent = Metric.counter("ncp_commands_sent_total", {
  description: "NCP commands sent by clients, by packet type and field",
  incremental: true
})

/** Commands (fields of packets other than LINK) a server received for its handler, by `packet_type` and `field`. */
export const commandsHandled = Metric.counter("ncp_commands_handled_total", {
  description: "NCP commands received by servers for their handlers, by packet type and field",
  incremental: true
})

/**
 * Replies a client waited for, by `outcome`: `ok`, `error` (an error reply; its `ERRC` as
 * `code`), `timeout` (the reply deadline passed), `closed` (the connection ended first).
 */
export const replies = Metric.counter("ncp_replies_total", {
  description: "Replies NCP clients waited for, by outcome (ok, error, timeout, closed) and ERRC code",
  incremental: true
})

/** How long a request waited for its reply, in seconds, by `packet_type` and `field`. */
export const requestDuration = Metric.histogram("ncp_request_duration_seconds", {
  description: "NCP request latency from sending the command to its first reply, in seconds",
  boundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
})

/** Bytes received from peers, by `role`. */
export const bytesReceived = Metric.counter("ncp_received_bytes_total", {
  description: "Bytes received on NCP connections, by role",
  incremental: true
})

/** Bytes sent to peers (handed to the socket), by `role`. */
export const bytesSent = Metric.counter("ncp_sent_bytes_total", {
  description: "Bytes sent on NCP connections, by role",
  incremental: true
})

/** Keep-alives sent, by `role`. */
export const keepAlivesSent = Metric.counter("ncp_keepalives_sent_total", {
  description: "NCP keep-alives sent, by role",
  incremental: true
})

/** Reconnection attempts of reconnecting clients, by `outcome`: `connected` or `failed`. */
export const reconnects = Metric.counter("ncp_reconnects_total", {
  description: "Connection attempts of reconnecting NCP clients, by outcome (connected or failed)",
  incremental: true
})

/** Decode warnings in received packets, by `kind` (`UnknownType`, `LegacyFooter`, `NanosOutOfRange`). */
export const decodeWarnings = Metric.counter("ncp_decode_warnings_total", {
  description: "Decode warnings in received NCP packets, by kind",
  incremental: true
})

/** Received bytes that ended a connection as a `DecodeError`, by `reason` (`PacketTooLarge`, ...). */
export const decodeErrors = Metric.counter("ncp_decode_errors_total", {
  description: "Decode errors that ended NCP connections, by reason",
  incremental: true
})

/**
 * Times a connection waited on a byte budget, by `budget`: `read` (received fields not taken
 * yet), `write` (replies not written yet), `reserve` (a reply's bytes reserved before it was
 * generated), `rate` (the packet rate of a server).
 */
export const budgetWaits = Metric.counter("ncp_budget_waits_total", {
  description: "Waits of NCP connections on their byte budgets and packet rate, by budget",
  incremental: true
})
