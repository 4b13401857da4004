/**
 * Exporting for real: a client's spans, metrics and logs reach an OTLP/HTTP receiver the test
 * runs (their JSON bodies decoded and checked), and Prometheus scrapes a server's metrics over
 * HTTP, the counters matching what a client did.
 */
import * as Http from "node:http"
import { expect, it } from "@effect/vitest"
import { CommandClient, NcpMetrics } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import { NodeNcp, NodeObservability } from "../src/index.js"
import { HOST } from "./harness.js"

interface Received {
  readonly path: string
  readonly body: unknown
}

/** An OTLP/HTTP receiver on a free port that keeps every JSON body POSTed to it. */
const receiver = Effect.acquireRelease(
  Effect.callback<{ readonly url: string; readonly received: Array<Received>; readonly server: Http.Server }>(
    (resume) => {
      const received: Array<Received> = []
      const server = Http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          received.push({ path: request.url ?? "", body: JSON.parse(Buffer.concat(chunks).toString("utf8")) })
          response.writeHead(200, { "content-type": "application/json" }).end("{}")
        })
      })
      server.listen(0, HOST, () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({ url: `http://${HOST}:${port}`, received, server }))
      })
    }
  ),
  ({ server }) =>
    Effect.callback<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
)

interface OtlpAttribute {
  readonly key: string
  readonly value: { readonly stringValue?: string; readonly intValue?: string | number }
}
interface OtlpSpan {
  readonly name: string
  readonly kind: number
  readonly spanId: string
  readonly parentSpanId?: string
  readonly attributes: ReadonlyArray<OtlpAttribute>
  readonly status: { readonly code?: number }
}

const spansOf = (received: ReadonlyArray<Received>): Array<OtlpSpan> =>
  received
    .filter((item) => item.path === "/v1/traces")
    .flatMap(
      (item) => (item.body as { resourceSpans: Array<{ scopeSpans: Array<{ spans: Array<OtlpSpan> }> }> }).resourceSpans
    )
    .flatMap((resource) => resource.scopeSpans)
    .flatMap((scope) => scope.spans)

const attribute = (span: OtlpSpan, key: string) => {
  const found = span.attributes.find((entry) => entry.key === key)?.value
  return found?.stringValue ?? (found?.intValue === undefined ? undefined : Number(found.intValue))
}

it.live(
  "a client's connect and command reach a real OTLP receiver as spans with their attributes, and its metrics too",
  () =>
    Effect.gen(function* () {
      const otlp = yield* receiver
      const server = yield* NodeNcp.make(SimulatedNode.handler, { host: HOST, port: 0, hello: SimulatedNode.hello })
      // The exporter lives in its own scope: releasing it flushes what it holds.
      yield* Effect.scoped(
        Effect.gen(function* () {
          const connection = yield* NodeNcp.connect({ host: HOST, port: server.port })
          yield* CommandClient.call(connection, SimulatedNode.Status)
        }).pipe(
          Effect.provide(
            NodeObservability.layerOtlp({
              url: otlp.url,
              serviceName: "observability-test",
              exportInterval: "1 minute"
            })
          )
        )
      )
      const spans = spansOf(otlp.received)
      const connect = spans.find((span) => span.name === "ncp.connect")
      expect(connect).toBeDefined()
      expect(connect?.kind).toBe(3) // client
      expect(attribute(connect as OtlpSpan, "server.address")).toBe(HOST)
      expect(attribute(connect as OtlpSpan, "server.port")).toBe(server.port)
      const tcp = spans.find((span) => span.name === "ncp.tcp")
      expect(tcp?.parentSpanId).toBe(connect?.spanId)
      const handshake = spans.find((span) => span.name === "ncp.handshake" && span.parentSpanId === connect?.spanId)
      expect(handshake).toBeDefined()
      const status = spans.find((span) => span.name === "STAT STAT" && span.kind === 3)
      expect(status).toBeDefined()
      expect(attribute(status as OtlpSpan, "rpc.system")).toBe("ncp")
      expect(attribute(status as OtlpSpan, "rpc.method")).toBe("STAT STAT")
      const metrics = otlp.received.filter((item) => item.path === "/v1/metrics")
      expect(JSON.stringify(metrics.map((item) => item.body))).toContain("ncp_commands_sent_total")
    }).pipe(Effect.scoped)
)

it.live("Prometheus scrapes a server's metrics over HTTP: its command counter matches what a client sent", () =>
  Effect.gen(function* () {
    const registry = new Map()
    const scraped = yield* Effect.gen(function* () {
      const server = yield* NodeNcp.make(SimulatedNode.handler, { host: HOST, port: 0, hello: SimulatedNode.hello })
      const connection = yield* NodeNcp.connect({ host: HOST, port: server.port })
      for (let i = 0; i < 5; i++) yield* CommandClient.call(connection, SimulatedNode.Status)
      const { url } = yield* NodeObservability.MetricsEndpoint
      const response = yield* Effect.promise(() => fetch(url))
      expect(response.headers.get("content-type")).toContain("text/plain")
      return yield* Effect.promise(() => response.text())
    }).pipe(
      Effect.provide(NodeObservability.layerPrometheus({ host: HOST, port: 0 }).pipe(Layer.orDie)),
      Effect.scoped,
      Effect.provideService(Metric.MetricRegistry, registry)
    )
    expect(scraped).toContain("# TYPE ncp_commands_handled_total counter")
    expect(scraped).toMatch(/^ncp_commands_handled_total\{packet_type="STAT",field="STAT"\} 5$/m)
    expect(scraped).toMatch(/^ncp_commands_sent_total\{packet_type="STAT",field="STAT"\} 5$/m)
    expect(scraped).toMatch(/^ncp_connections_open\{role="server"\} 1$/m)
    // every sample line parses as Prometheus text: NAME{LABELS} VALUE
    for (const line of scraped.split("\n")) {
      if (line === "" || line.startsWith("#")) continue
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.eE+-]+|NaN|[+-]Inf$/)
    }
    void NcpMetrics
  })
)
