/**
 * A backend that embeds a node connection as a Layer: `Client.NcpClient.layer(options)`,
 * provided with `NodeTransport.layer`, is the connection; a `SpectrumMonitor` service uses it
 * (`yield* Client.NcpClient`) for typed calls of the simulated node's catalog, without knowing
 * how it was opened. The connection opens when the layer is built and closes when the program
 * ends. Runs against a simulated node started in-process on a free port.
 *
 *   npx tsx examples/backend.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Client, CommandClient, type NcpCommand, SweepLevel } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NodeListener, NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as SocketServer from "effect/socket/SocketServer"

/** A channel whose level is above the threshold. */
interface Occupied {
  readonly mhz: number
  readonly dbm: number
}

/** The backend's own service: which frequencies in a range are in use. */
class SpectrumMonitor extends Context.Service<
  SpectrumMonitor,
  {
    readonly occupied: (
      startMhz: number,
      stopMhz: number,
      thresholdDbm: number
    ) => Effect.Effect<ReadonlyArray<Occupied>, NcpCommand.CallError>
  }
>()("examples/SpectrumMonitor") {
  static readonly layer = Layer.effect(
    SpectrumMonitor,
    Effect.gen(function* () {
      const node = yield* Client.NcpClient
      const occupied = Effect.fn("SpectrumMonitor.occupied")(function* (
        startMhz: number,
        stopMhz: number,
        thresholdDbm: number
      ) {
        const bins = 200
        const { PDAT: levels } = yield* CommandClient.call(
          node,
          SimulatedNode.Sweep,
          { FSTA: startMhz, FSTP: stopMhz, BINS: bins },
          { timeout: "10 seconds" }
        )
        const found: Array<Occupied> = []
        for (let bin = 0; bin < bins; bin++) {
          const dbm = SweepLevel.toDbm(levels[bin] ?? 0)
          if (dbm > thresholdDbm) found.push({ mhz: startMhz + ((stopMhz - startMhz) * bin) / (bins - 1), dbm })
        }
        return found
      })
      return SpectrumMonitor.of({ occupied })
    })
  )
}

const program = Effect.gen(function* () {
  const server = yield* NodeListener.make({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(SimulatedNode.serve().pipe(Effect.provideService(SocketServer.SocketServer, server)))

  // The backend's layers: the service, on a connection, on Node's transport.
  const backend = SpectrumMonitor.layer.pipe(
    Layer.provide(Client.NcpClient.layer({ host: "127.0.0.1", port: NodeListener.port(server.address) })),
    Layer.provide(NodeTransport.layer)
  )

  yield* Effect.gen(function* () {
    const monitor = yield* SpectrumMonitor
    const occupied = yield* monitor.occupied(430, 440, -90)
    yield* Console.log(`${occupied.length} of 200 channels in 430-440 MHz above -90 dBm`)
    const strongest = occupied.reduce<Occupied | undefined>(
      (a, b) => (a === undefined || b.dbm > a.dbm ? b : a),
      undefined
    )
    if (strongest !== undefined)
      yield* Console.log(`strongest: ${strongest.dbm} dBm at ${strongest.mhz.toFixed(3)} MHz`)
  }).pipe(Effect.provide(backend))
}).pipe(Effect.scoped)

NodeRuntime.runMain(program)
