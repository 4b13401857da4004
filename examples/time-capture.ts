/**
 * A time capture: ask for `DSPC TIME` (IQ samples around a centre frequency), wait for the
 * data reply on the command's `Response`, and compute its power. Shows `connection.send`
 * (a scoped `Response`) and reading a data i16 param. Runs against a simulated node started
 * in-process on a free port.
 *
 *   npx tsx examples/time-capture.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Client, Field, SimulatedNode } from "@effect-ncp/core"
import { NcpSocketServer, NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as SocketServer from "effect/socket/SocketServer"

const program = Effect.gen(function* () {
  const server = yield* NcpSocketServer.make({ host: "127.0.0.1", port: 0 })
  yield* Effect.forkScoped(SimulatedNode.serve().pipe(Effect.provideService(SocketServer.SocketServer, server)))
  const connection = yield* Client.connect({ host: "127.0.0.1", port: NcpSocketServer.port(server.address) })

  // FCTR in MHz, NSMP complex samples, SRAT in Hz (see SimulatedNode).
  const response = yield* connection.send("DSPC", "TIME", { FCTR: 2400, NSMP: 65_536, SRAT: 1_000_000 })
  const reply = yield* response.recv

  const iq = Field.get(reply, "DATA")
  if (!(iq instanceof Int16Array)) return yield* Effect.die("the reply has no DATA")
  let power = 0
  for (let n = 0; n < iq.length; n += 2) power += (iq[n] ?? 0) ** 2 + (iq[n + 1] ?? 0) ** 2
  const rms = Math.sqrt(power / (iq.length / 2))
  yield* Console.log(
    `${iq.length / 2} IQ samples at ${Field.get(reply, "SRAT")} S/s around ${Field.get(reply, "FCTR")} MHz`
  )
  yield* Console.log(`RMS ${rms.toFixed(1)} (${(20 * Math.log10(rms / 32768)).toFixed(1)} dBFS)`)
}).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))

NodeRuntime.runMain(program)
