/**
 * A time capture: ask for `DSPC TIME` (IQ samples around a centre frequency), wait for the
 * data reply on the command's typed Response, and compute its power. Shows `CommandClient.send`
 * (a scoped Response whose replies come decoded, each with its field and packet timestamp)
 * and a data i16 param. Runs against a simulated node started in-process on a free port.
 *
 *   npx tsx examples/time-capture.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Client, CommandClient, Timestamp } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NodeListener, NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as SocketServer from "effect/socket/SocketServer"

const program = Effect.gen(function* () {
  const server = yield* NodeListener.make({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(SimulatedNode.serve().pipe(Effect.provideService(SocketServer.SocketServer, server)))
  const connection = yield* Client.connect({ host: "127.0.0.1", port: NodeListener.port(server.address) })

  // FCTR in MHz, NSMP complex samples, SRAT in Hz (see SimulatedNode.Time).
  const response = yield* CommandClient.send(connection, SimulatedNode.Time, {
    FCTR: 2400,
    NSMP: 65_536,
    SRAT: 1_000_000
  })
  const { params: capture, field } = yield* response.recv

  const iq = capture.DATA
  let power = 0
  for (let n = 0; n < iq.length; n += 2) power += (iq[n] ?? 0) ** 2 + (iq[n + 1] ?? 0) ** 2
  const rms = Math.sqrt(power / (iq.length / 2))
  yield* Console.log(
    `${iq.length / 2} IQ samples at ${capture.SRAT} S/s around ${capture.FCTR} MHz, taken ${Timestamp.toIsoString(field.packetTimestamp)}`
  )
  yield* Console.log(`RMS ${rms.toFixed(1)} (${(20 * Math.log10(rms / 32768)).toFixed(1)} dBFS)`)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

NodeRuntime.runMain(program)
