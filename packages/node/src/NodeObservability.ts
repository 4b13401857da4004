/**
 * Exporting what NCP connections record, on Node: their metrics (`NcpMetrics`) for Prometheus
 * to scrape over HTTP, and their traces, metrics and logs over OTLP/HTTP to an OpenTelemetry
 * collector. One Layer at the edge of a program turns either or both on; it uses the exporters
 * of `effect/observability` (`PrometheusMetrics`, `Otlp`) on `effect/http`'s server and client.
 *
 * With no exporter, metrics are still recorded (in memory) and spans are not made at all, so
 * instrumentation costs next to nothing until someone listens.
 *
 * @example
 * ```ts
 * import { NodeNcp, NodeObservability } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 * import * as Layer from "effect/Layer"
 *
 * // A backend whose connections are scraped at http://127.0.0.1:9464/metrics and traced to a
 * // collector on localhost.
 * const Observability = NodeObservability.layer({
 *   prometheus: { host: "127.0.0.1", port: 9464 },
 *   otlp: { url: "http://localhost:4318", serviceName: "rf-monitor" }
 * })
 * const program = Effect.gen(function* () {
 *   const connection = yield* NodeNcp.connect({ host: "rfeye000123.local" })
 *   return yield* connection.request("STAT", "STAT")
 * }).pipe(Effect.scoped, Effect.provide(Observability))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { FetchHttpClient, HttpMiddleware, HttpRouter, HttpServer } from "effect/http"
import type { ServeError } from "effect/http/HttpServerError"
import * as Layer from "effect/Layer"
import { Otlp, OtlpSerialization, PrometheusMetrics } from "effect/observability"

/** Where to serve Prometheus' text format. */
export interface PrometheusOptions {
  /** The address to listen on. Default `"127.0.0.1"`: metrics are not for everyone. */
  readonly host?: string | undefined
  /** The port; 0 picks a free one (read it back from {@link MetricsEndpoint}). */
  readonly port: number
  /** The path. Default `"/metrics"`. */
  readonly path?: `/${string}` | undefined
}

/** Where and how to export over OTLP/HTTP. */
export interface OtlpOptions {
  /** The collector's base URL; traces, metrics and logs go to `/v1/traces`, `/v1/metrics`, `/v1/logs` under it. */
  readonly url: string
  /** The `service.name` of the resource. Default `"effect-ncp"`. */
  readonly serviceName?: string | undefined
  /** Protobuf bodies (a third of JSON's size) instead of OTLP/JSON. Default false. */
  readonly protobuf?: boolean | undefined
  /**
   * How often spans, metrics and logs are sent (each kind on its own timer). Default 5
   * seconds. What is left is sent when the layer is released (at most 3 seconds more), so a
   * short command exports everything before it exits.
   */
  readonly exportInterval?: Duration.Input | undefined
}

/** Options of {@link layer}: either exporter, or both. */
export interface Options {
  readonly prometheus?: PrometheusOptions | undefined
  readonly otlp?: OtlpOptions | undefined
}

/** Where Prometheus scrapes a running {@link layer}: its URL, e.g. `http://127.0.0.1:9464/metrics`. */
export class MetricsEndpoint extends Context.Service<MetricsEndpoint, { readonly url: string }>()(
  "@effect-ncp/node/NodeObservability/MetricsEndpoint"
) {}

/**
 * An HTTP server answering `GET /metrics` (or `path`) with every metric of the program's
 * registry in Prometheus' text format, `NcpMetrics` included, for the life of the layer. Its
 * own requests are not traced.
 */
export const layerPrometheus = (options: PrometheusOptions): Layer.Layer<MetricsEndpoint, ServeError> => {
  const path = options.path ?? "/metrics"
  const server = NodeHttpServer.layer(createServer, { host: options.host ?? "127.0.0.1", port: options.port })
  const endpoint = Layer.effect(
    MetricsEndpoint,
    Effect.map(HttpServer.HttpServer, (running) => ({
      url: `${HttpServer.formatAddress(running.address)}${path}`
    }))
  )
  const routes = HttpRouter.serve(PrometheusMetrics.layerHttp({ path }), {
    disableLogger: true,
    disableListenLog: true
  }).pipe(Layer.provide(HttpMiddleware.layerTracerDisabledForUrls([path])))
  return Layer.merge(routes, endpoint).pipe(Layer.provide(server))
}

/** How long after release the OTLP exporter may take to flush what it holds: what a process may wait at exit. */
export const flushTimeout = Duration.seconds(3)

/**
 * Traces, metrics and logs exported over OTLP/HTTP while the layer lives, and flushed when it
 * is released. Spans of connections and commands are made only while a tracer such as this
 * one is installed.
 */
export const layerOtlp = (options: OtlpOptions): Layer.Layer<never> => {
  const interval = options.exportInterval ?? "5 seconds"
  return Otlp.layer({
    baseUrl: options.url,
    resource: { serviceName: options.serviceName ?? "effect-ncp" },
    tracerExportInterval: interval,
    metricsExportInterval: interval,
    loggerExportInterval: interval,
    shutdownTimeout: flushTimeout
  }).pipe(
    Layer.provide(options.protobuf === true ? OtlpSerialization.layerProtobuf : OtlpSerialization.layerJson),
    Layer.provide(FetchHttpClient.layer),
    Layer.orDie
  )
}

/** Prometheus, OTLP, or both, as `options` says; nothing when neither is given. */
export const layer = (options: Options): Layer.Layer<never, ServeError> => {
  const prometheus =
    options.prometheus === undefined
      ? Layer.empty
      : Layer.effectDiscard(Effect.void).pipe(Layer.provide(layerPrometheus(options.prometheus)))
  const otlp = options.otlp === undefined ? Layer.empty : layerOtlp(options.otlp)
  return Layer.merge(prometheus, otlp)
}
