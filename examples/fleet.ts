/**
 * A monitoring backend over a fleet of nodes: one `Fleet` keeps every node connected, sweeps
 * every node on a schedule (`Fleet.onSchedule`, here every half second; every 10 s or a minute in
 * real life), and reports the strongest signal per node as the sweeps come in. A node that
 * goes down is skipped without holding up the others, and answers again once it is back.
 * Runs against five simulated nodes started in-process on free ports, each with its own name
 * and spectrum (what `ncp serve --nodes 5` runs); point `nodes` at real nodes instead.
 *
 *   npx tsx examples/fleet.ts
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Fleet, type NcpCommand, SweepLevel } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NodeNcp, NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Result from "effect/Result"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Sink from "effect/Sink"
import * as Stream from "effect/Stream"

const NODES = 5
const ROUNDS = 3

/** The strongest signal of a sweep: its level and frequency. */
const strongest = (sweep: NcpCommand.Reply<typeof SimulatedNode.Sweep>) => {
  const levels = sweep.PDAT.subarray(0, sweep.BINS ?? sweep.PDAT.length)
  let peak = 0
  for (let bin = 1; bin < levels.length; bin++) if ((levels[bin] ?? 0) > (levels[peak] ?? 0)) peak = bin
  const mhz = sweep.FSTA + ((sweep.FSTP - sweep.FSTA) * peak) / Math.max(1, levels.length - 1)
  return { dbm: SweepLevel.toDbm(levels[peak] ?? 0), mhz }
}

/** One line per node's result: its strongest signal, or why it has none. */
const report = ({ node, result }: Fleet.NodeResult<NcpCommand.Reply<typeof SimulatedNode.Sweep>, Fleet.NodeError>) => {
  if (Result.isFailure(result)) return Console.log(`${node}  ${result.failure._tag}: ${result.failure.message}`)
  const { dbm, mhz } = strongest(result.success)
  return Console.log(`${node}  strongest ${dbm.toFixed(1)} dBm at ${mhz.toFixed(2)} MHz`)
}

const program = Effect.gen(function* () {
  // The simulated nodes, each in a scope of its own so that one can be stopped.
  const nodes = yield* Effect.forEach(
    Array.from({ length: NODES }, (_, index) => index),
    (index) =>
      Effect.gen(function* () {
        const identity = SimulatedNode.fleetIdentity(index)
        const scope = yield* Scope.fork(yield* Effect.scope)
        const server = yield* NodeNcp.make(SimulatedNode.makeHandler(identity), {
          host: "127.0.0.1",
          port: 0,
          hello: SimulatedNode.helloOf(identity),
          shutdownGrace: 0
        }).pipe(Scope.provide(scope))
        return { port: server.port, stop: Scope.close(scope, Exit.void) }
      })
  )

  // The backend's fleet: every node, each within 5 s per command, over Node's transport.
  const Nodes = Fleet.Fleet.layer({
    nodes: nodes.map(({ port }) => ({ host: "127.0.0.1", port })),
    timeout: "5 seconds"
  }).pipe(Layer.provide(NodeTransport.layer))

  yield* Effect.gen(function* () {
    const fleet = yield* Fleet.Fleet
    let results = 0
    // the results go into a sink: here one that prints, and after the first round stops the
    // last node (the next rounds skip it); a database writer in real life
    const record = (result: Fleet.NodeResult<NcpCommand.Reply<typeof SimulatedNode.Sweep>, Fleet.NodeError>) =>
      Effect.andThen(
        report(result),
        ++results === NODES
          ? Effect.andThen(nodes[NODES - 1]?.stop ?? Effect.void, Console.log("(the last node goes down)"))
          : Effect.void
      )
    yield* Fleet.onSchedule(Schedule.spaced("500 millis"), SimulatedNode.Sweep, {
      FSTA: 88,
      FSTP: 108,
      BINS: 1024
    }).pipe(Stream.take(NODES + (ROUNDS - 1) * (NODES - 1)), Stream.run(Sink.forEach(record)))
    for (const state of yield* fleet.state) {
      const roundTrip = state.roundTrip === undefined ? "-" : `${state.roundTrip} ms`
      yield* Console.log(`${state.node}  ${state.link}  round trip ${roundTrip}`)
    }
  }).pipe(Effect.scoped, Effect.provide(Nodes))
}).pipe(
  Effect.scoped,
  // the library logs each connect at Info, and a node that goes away at Warn: the report says it
  Effect.provideService(References.MinimumLogLevel, "Error")
)

NodeRuntime.runMain(program)
