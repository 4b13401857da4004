/**
 * A sweep: connect to a node, ask for `DSPC SWEP` over 400-500 MHz and read the spectrum.
 * Shows `Client.connect`, a typed call of a described command (`SimulatedNode.Sweep`: its
 * params and reply are Schemas, so the reply comes back decoded and checked), and the sweep
 * level mapping. Runs against a simulated node started in-process on a free port.
 *
 *   npx tsx examples/sweep.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Client, CommandClient, SweepLevel } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NodeListener, NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as SocketServer from "effect/socket/SocketServer"

const program = Effect.gen(function* () {
  // The simulated node, for as long as this program runs. Point `host` at a real node instead.
  const server = yield* NodeListener.make({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(SimulatedNode.serve().pipe(Effect.provideService(SocketServer.SocketServer, server)))

  const connection = yield* Client.connect({ host: "127.0.0.1", port: NodeListener.port(server.address) })
  // FSTA and FSTP are in MHz, as RFeye nodes take them. The ACKN reply is skipped by default.
  const sweep = yield* CommandClient.call(connection, SimulatedNode.Sweep, { FSTA: 400, FSTP: 500, BINS: 500 })

  // PDAT comes padded to whole 4-byte words; BINS says how many levels are real.
  const dbm = Array.from(sweep.PDAT.subarray(0, sweep.BINS), SweepLevel.toDbm)
  const peak = dbm.reduce((best, level, bin) => (level > (dbm[best] ?? -Infinity) ? bin : best), 0)
  yield* Console.log(`${dbm.length} bins from ${sweep.FSTA} to ${sweep.FSTP} MHz`)
  yield* Console.log(`peak ${dbm[peak]} dBm at ${(400 + (peak * 100) / (dbm.length - 1)).toFixed(2)} MHz`)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

NodeRuntime.runMain(program)
