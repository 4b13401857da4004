/**
 * `ncp demo`: a simulated node and a client in one process, showing a sweep and an IQ capture
 * without any hardware. The node listens on a free port of 127.0.0.1 for as long as the demo
 * runs; the client connects over TCP like any other, asks for a sweep of the FM band and a
 * time capture, draws the sweep and summarises the capture. Both are typed calls of the
 * simulated node's catalog (`SimulatedNode.Sweep`, `SimulatedNode.Time`). Then a small fleet:
 * three more simulated nodes, each with its own name and spectrum (as `ncp serve --nodes 3`
 * runs them), kept connected by a `Fleet`, asked for their status and swept at once; the demo
 * prints the strongest signal per node and the fleet's status table, and exits.
 *
 * @since 0.1.0
 */
import { Client, CommandClient, Fleet, Server, SweepLevel } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NodeListener, NodeTransport } from "@effect-ncp/node"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import { Command } from "effect/cli"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as SocketServer from "effect/socket/SocketServer"
import * as Chart from "../Chart.js"
import * as Progress from "../Progress.js"
import { chartFlags } from "./options.js"
import * as Session from "./session.js"
import { table } from "./status.js"
import { requestSweep } from "./sweep.js"

/** What `ncp demo` was asked to do. */
export interface DemoOptions {
  readonly width: number
  readonly height: number
}

/** The `demo` command, running `run` with the parsed options. */
export const make = <E, R>(run: (options: DemoOptions) => Effect.Effect<void, E, R>) =>
  Command.make("demo", { ...chartFlags }, (input) => run({ width: input.width, height: input.height })).pipe(
    Command.withDescription("Run a simulated node and a client against it: a sweep chart and an IQ summary")
  )

/** The capture the demo asks for: 2^18 complex samples (1 MiB of IQ) at 2 MS/s around 2.4 GHz. */
export const DEMO_CAPTURE = { FCTR: 2400, NSMP: 262_144, SRAT: 2_000_000 } as const

/** Runs `ncp demo`. */
export const run = (options: DemoOptions) =>
  Effect.gen(function* () {
    const server = yield* NodeListener.make({ host: "127.0.0.1", port: 0 }).pipe(
      Effect.catch((error) => Session.fail("demo", `cannot start the simulated node: ${error.message}`))
    )
    yield* Effect.forkScoped(SimulatedNode.serve().pipe(Effect.provideService(SocketServer.SocketServer, server)))
    const address = NodeListener.formatAddress(server.address)
    yield* Console.log(`simulated node listening on ${address}`)
    const connection = yield* Client.connect({ host: "127.0.0.1", port: NodeListener.port(server.address) })
    yield* Console.log(`connected; DSPC SWEP FSTA=88 FSTP=108 (MHz)\n`)
    const { sweep } = yield* requestSweep(connection, "demo", { startHz: 88e6, stopHz: 108e6, bins: 1024 })
    yield* Console.log(
      Chart.spectrumChart(sweep.levels, {
        startHz: sweep.startHz,
        stopHz: sweep.stopHz,
        width: options.width,
        height: options.height
      })
    )
    yield* Console.log(`\nDSPC TIME FCTR=${DEMO_CAPTURE.FCTR} NSMP=${DEMO_CAPTURE.NSMP} SRAT=${DEMO_CAPTURE.SRAT}\n`)
    const capture = yield* CommandClient.call(connection, SimulatedNode.Time, DEMO_CAPTURE).pipe(
      Progress.withProgress("receiving the capture"),
      Effect.catchTags({
        InvalidParams: (error) => Session.fail("demo", error.message),
        InvalidReply: (error) => Session.fail("demo", `bad capture reply: ${error.message}`)
      })
    )
    const count = capture.NSMP !== undefined && capture.NSMP >= 0 ? capture.NSMP : capture.DATA.length / 2
    yield* Console.log(Chart.iqSummary(capture.DATA.subarray(0, 2 * count), capture.SRAT))
    yield* fleetDemo
  }).pipe(Effect.scoped, Session.reportFailure("demo"), Effect.provide(NodeTransport.layer))

/** How many simulated nodes the fleet part of the demo runs. */
export const DEMO_FLEET_NODES = 3

/**
 * A small fleet: simulated nodes on free ports, each with its own name and spectrum, one
 * `Fleet` of them, their status and a sweep of each at once, the strongest signal per node.
 */
const fleetDemo = Effect.gen(function* () {
  const ports: Array<number | undefined> = []
  for (let index = 0; index < DEMO_FLEET_NODES; index++) {
    const identity = SimulatedNode.fleetIdentity(index)
    const listener = yield* NodeListener.make({ host: "127.0.0.1", port: 0 }).pipe(
      Effect.catch((error) => Session.fail("demo", `cannot start a simulated node: ${error.message}`))
    )
    yield* Effect.forkScoped(
      Server.serve(SimulatedNode.makeHandler(identity), { hello: SimulatedNode.helloOf(identity) }).pipe(
        Effect.provideService(SocketServer.SocketServer, listener)
      )
    )
    ports.push(NodeListener.port(listener.address))
  }
  yield* Console.log(
    `\nA fleet of ${DEMO_FLEET_NODES} simulated nodes, each with its own name and spectrum (ncp serve --nodes ${DEMO_FLEET_NODES}),`
  )
  yield* Console.log("kept connected by a Fleet; STAT, then DSPC SWEP FSTA=88 FSTP=108 on all of them at once:\n")
  const fleet = yield* Fleet.make({ nodes: ports.map((port) => ({ host: "127.0.0.1", port })), timeout: "10 seconds" })
  const run = <A, E>(effect: Effect.Effect<A, E, Fleet.Fleet>) => Effect.provideService(effect, Fleet.Fleet, fleet)
  const fail = (error: { readonly message: string }) => Session.fail("demo", error.message)
  const statuses = yield* run(Fleet.callAll(SimulatedNode.Status)).pipe(Effect.catchTag("InvalidParams", fail))
  const sweeps = yield* run(Fleet.callAll(SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, BINS: 1024 })).pipe(
    Progress.withProgress("sweeping the fleet"),
    Effect.catchTag("InvalidParams", fail)
  )
  const names = new Map(
    statuses.flatMap(({ node, result }) => (Result.isSuccess(result) ? [[node, result.success.SEID] as const] : []))
  )
  for (const { node, result } of sweeps) {
    if (Result.isFailure(result)) {
      yield* Console.log(`  ${node}  ${result.failure.message}`)
      continue
    }
    const sweep = result.success
    const levels = sweep.PDAT.subarray(0, sweep.BINS ?? sweep.PDAT.length)
    let peak = 0
    for (let bin = 1; bin < levels.length; bin++) if ((levels[bin] ?? 0) > (levels[peak] ?? 0)) peak = bin
    const mhz = sweep.FSTA + ((sweep.FSTP - sweep.FSTA) * peak) / Math.max(1, levels.length - 1)
    yield* Console.log(
      `  ${node}  ${names.get(node) ?? "?"}  strongest ${SweepLevel.toDbm(levels[peak] ?? 0)} dBm at ${mhz.toFixed(2)} MHz`
    )
  }
  yield* Console.log(`\n${table(yield* fleet.state, yield* Clock.currentTimeMillis)}`)
})

/** The `demo` command. */
export const command = make(run)
