/**
 * `ncp demo`: a simulated node and a client in one process, showing a sweep and an IQ capture
 * without any hardware. The node listens on a free port of 127.0.0.1 for as long as the demo
 * runs; the client connects over TCP like any other, asks for a sweep of the FM band and a
 * time capture, draws the sweep and summarises the capture, and the demo exits. Both are typed
 * calls of the simulated node's catalog (`SimulatedNode.Sweep`, `SimulatedNode.Time`).
 *
 * @since 0.1.0
 */
import { Client, NcpCommand } from "@effect-ncp/core"
import { SimulatedNode } from "@effect-ncp/core/testing"
import { NcpSocketServer, NodeTransport } from "@effect-ncp/node"
import * as Console from "effect/Console"
import { Command } from "effect/cli"
import * as Effect from "effect/Effect"
import * as SocketServer from "effect/socket/SocketServer"
import * as Chart from "../Chart.js"
import * as Progress from "../Progress.js"
import { chartFlags } from "./options.js"
import * as Session from "./session.js"
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
    const server = yield* NcpSocketServer.make({ host: "127.0.0.1", port: 0 }).pipe(
      Effect.catch((error) => Session.fail("demo", `cannot start the simulated node: ${error.message}`))
    )
    yield* Effect.forkScoped(SimulatedNode.serve().pipe(Effect.provideService(SocketServer.SocketServer, server)))
    const address = NcpSocketServer.formatAddress(server.address)
    yield* Console.log(`simulated node listening on ${address}`)
    const connection = yield* Client.connect({ host: "127.0.0.1", port: NcpSocketServer.port(server.address) })
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
    const capture = yield* NcpCommand.call(connection, SimulatedNode.Time, DEMO_CAPTURE).pipe(
      Progress.withProgress("receiving the capture"),
      Effect.catchTags({
        InvalidParams: (error) => Session.fail("demo", error.message),
        InvalidReply: (error) => Session.fail("demo", `bad capture reply: ${error.message}`)
      })
    )
    const count = capture.NSMP !== undefined && capture.NSMP >= 0 ? capture.NSMP : capture.DATA.length / 2
    yield* Console.log(Chart.iqSummary(capture.DATA.subarray(0, 2 * count), capture.SRAT))
  }).pipe(Effect.scoped, Session.reportFailure("demo"), Effect.provide(NodeTransport.layer))

/** The `demo` command. */
export const command = make(run)
