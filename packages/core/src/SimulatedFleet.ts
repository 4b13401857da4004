/**
 * A simulated fleet in memory, for tests, demos and benchmarks of code that talks to many
 * nodes: `nodes` simulated nodes, each an in-memory server of its own (`NcpTest`'s) with its own
 * name (`SEID`) and spectrum (`SimulatedNode.fleetIdentity`), and a `Transport` that reaches
 * node `simulated-0007` at `simulated-0007:9999`. Provide that transport to a `Fleet` (or to any
 * client) and give it the nodes' addresses.
 *
 * As with `NcpTest`, nothing is real-time: handshakes, keep-alives, deadlines and reconnect
 * delays run on Effect's `Clock`, so under `TestClock` time passes only with `TestClock.adjust`.
 * Each node can go quiet ({@link SimulatedFleetNode.silence}), drop its connections
 * ({@link SimulatedFleetNode.reset}), go down ({@link SimulatedFleetNode.stop}: its connections
 * close and connects are refused) and come back ({@link SimulatedFleetNode.start}); it counts
 * the connects it was asked for and the connections open, so a test can tell that a node
 * removed from a fleet is left alone.
 *
 * @example
 * ```ts
 * import { Fleet } from "@effect-ncp/core"
 * import { SimulatedFleet, SimulatedNode } from "@effect-ncp/core/testing"
 * import { expect, it } from "@effect/vitest"
 * import * as Effect from "effect/Effect"
 * import * as Result from "effect/Result"
 *
 * it.effect("every node answers with its own name", () =>
 *   Effect.gen(function* () {
 *     const results = yield* Fleet.callAll(SimulatedNode.Status)
 *     expect(results.map(({ result }) => Result.getOrUndefined(result)?.SEID)).toEqual([
 *       "simulated-0000",
 *       "simulated-0001",
 *       "simulated-0002"
 *     ])
 *   }).pipe(Effect.provide(SimulatedFleet.layerFleet({ nodes: 3 })))
 * )
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import type * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import * as Fleet from "./Fleet.js"
import * as NcpTest from "./NcpTest.js"
import type * as Server from "./Server.js"
import * as SimulatedNode from "./SimulatedNode.js"
import { Transport } from "./Transport.js"

/** Who node number `index` of the fleet is, for a handler of your own. */
export interface NodeIdentity {
  readonly index: number
  readonly name: string
  readonly seed: number
}

/** Options of {@link make} and {@link layer}. */
export interface Options<E = never, R = never, EA = never, RA = never> {
  /** How many nodes. */
  readonly nodes: number
  /** The port every node listens on (each node has a host of its own). Default 9999. */
  readonly port?: number | undefined
  /**
   * Each node's connection handler. Default: the simulated node with the node's identity
   * (`SimulatedNode.makeHandler(SimulatedNode.fleetIdentity(index))`), greeting with its name.
   */
  readonly handler?:
    | ((node: NodeIdentity) => (connection: Connection.Connection) => Effect.Effect<unknown, E, R>)
    | undefined
  /** Each node's server options (`shutdownGrace` 0, as `NcpTest`; `hello` the node's own by default). */
  readonly server?: Server.ServerOptions<EA, RA> | undefined
  /**
   * The most chunks each direction of a connection holds before the writer waits, as
   * `NcpTest`'s, for tests of backpressure. Default: unbounded.
   */
  readonly capacity?: number | undefined
}

/** One node of a simulated fleet, and the ways a test reaches it. */
export interface SimulatedFleetNode extends NodeIdentity {
  /** Its address, as a `Fleet` takes it: `{ host: "simulated-0007", port: 9999 }`. */
  readonly address: Fleet.NodeAddress
  /** Its key in a `Fleet`: `simulated-0007:9999`. */
  readonly key: string
  /** Whether it is up. */
  readonly running: boolean
  /** Connects the transport was asked for to this node, refused or not. */
  readonly connects: number
  /** Connections open to it now (their sockets in use). */
  readonly open: number
  /** It goes quiet, as `NcpTest`'s `silence`: nothing it writes reaches its clients until {@link resume}. */
  readonly silence: Effect.Effect<void>
  /** Ends {@link silence}. */
  readonly resume: Effect.Effect<void>
  /** Drops its open connections as a TCP reset would; new ones are accepted. */
  readonly reset: Effect.Effect<void>
  /** It goes down: its server stops, closing every connection, and connects are refused. */
  readonly stop: Effect.Effect<void>
  /** It comes up again (a fresh server, not silenced), if it was down. */
  readonly start: Effect.Effect<void>
  /** {@link stop}, then {@link start}. */
  readonly restart: Effect.Effect<void>
}

/** A running simulated fleet. */
export interface SimulatedFleet {
  readonly nodes: ReadonlyArray<SimulatedFleetNode>
  /** The node with this key (`simulated-0007:9999`), if any. */
  readonly node: (key: string) => SimulatedFleetNode | undefined
  /** Every node's address, for `Fleet.make({ nodes })`. */
  readonly addresses: ReadonlyArray<Fleet.NodeAddress>
  /**
   * A `Transport` that reaches each node at its address; a connect to a node that is down, or
   * to an address that is no node's, is refused. The handshake names the client `test-client`.
   */
  readonly transport: Transport["Service"]
}

/** A simulated fleet as a service, from {@link layer}. */
export class TestFleet extends Context.Service<TestFleet, SimulatedFleet>()(
  "@effect-ncp/core/SimulatedFleet/TestFleet"
) {}

const refused = (host: string, port: number): Socket.Socket =>
  Socket.make({
    reader: Effect.suspend(() =>
      Effect.fail(
        new Socket.SocketError({
          reason: new Socket.SocketOpenError({
            kind: "Unknown",
            cause: Object.assign(new Error(`connect ECONNREFUSED ${host}:${port}`), { code: "ECONNREFUSED" })
          })
        })
      )
    ),
    writer: Effect.succeed({ write: () => Effect.void, writeAll: () => Effect.void })
  })

/**
 * Starts `options.nodes` simulated nodes in the current scope, all up; they stop when the scope
 * ends.
 */
export const make = <E = never, R = never, EA = never, RA = never>(
  options: Options<E, R, EA, RA>
): Effect.Effect<SimulatedFleet, never, Scope.Scope | R | RA> =>
  Effect.gen(function* () {
    const fleetScope = yield* Effect.scope
    const context = yield* Effect.context<R | RA>()
    const port = options.port ?? 9999

    const makeNode = (index: number) => {
      const identity = SimulatedNode.fleetIdentity(index)
      const name = identity.name ?? SimulatedNode.fleetName(index)
      const seed = identity.seed ?? index + 1
      const address: Fleet.NodeAddress = { host: name, port }
      let running: { readonly scope: Scope.Closeable; readonly server: NcpTest.InMemoryServer } | undefined
      let connects = 0
      let open = 0
      const handler: (connection: Connection.Connection) => Effect.Effect<unknown, E | ConnectionError, R> =
        options.handler?.({ index, name, seed }) ?? SimulatedNode.makeHandler(identity)
      const start = Effect.suspend(() => {
        if (running !== undefined) return Effect.void
        const scope = Scope.forkUnsafe(fleetScope)
        return NcpTest.make({
          handler,
          capacity: options.capacity,
          server: { ...options.server, hello: options.server?.hello ?? SimulatedNode.helloOf(identity) }
        }).pipe(
          Scope.provide(scope),
          Effect.provide(context),
          Effect.flatMap((server) =>
            Effect.sync(() => {
              running = { scope, server }
            })
          )
        )
      })
      const stop = Effect.suspend(() => {
        const current = running
        running = undefined
        return current === undefined ? Effect.void : Scope.close(current.scope, Exit.void)
      })
      const node: SimulatedFleetNode = {
        index,
        name,
        seed,
        address,
        key: Fleet.nodeKey(address),
        get running() {
          return running !== undefined
        },
        get connects() {
          return connects
        },
        get open() {
          return open
        },
        silence: Effect.suspend(() => running?.server.silence ?? Effect.void),
        resume: Effect.suspend(() => running?.server.resume ?? Effect.void),
        reset: Effect.suspend(() => running?.server.reset ?? Effect.void),
        stop,
        start,
        restart: Effect.andThen(stop, start)
      }
      const connect = (target: Parameters<Transport["Service"]["connect"]>[0]) =>
        Effect.suspend((): Effect.Effect<Socket.Socket> => {
          connects += 1
          if (running === undefined) return Effect.succeed(refused(target.host, target.port))
          // counted open while its reader is acquired, as NcpTest's reset knows its sockets
          return Effect.map(running.server.transport.connect(target), (socket) =>
            Socket.make({
              reader: Effect.tap(socket.reader, () =>
                Effect.andThen(
                  Effect.sync(() => {
                    open += 1
                  }),
                  Effect.addFinalizer(() =>
                    Effect.sync(() => {
                      open -= 1
                    })
                  )
                )
              ),
              writer: socket.writer
            })
          )
        })
      return { node, start, connect }
    }

    const made = Array.from({ length: options.nodes }, (_, index) => makeNode(index))
    yield* Effect.forEach(made, ({ start }) => start, { discard: true })
    const byKey = new Map(made.map((entry) => [entry.node.key, entry]))

    const transport = Transport.of({
      connect: (target) => {
        const entry = byKey.get(Fleet.nodeKey({ host: target.host, port: target.port }))
        return entry === undefined ? Effect.succeed(refused(target.host, target.port)) : entry.connect(target)
      },
      hostname: "test-client",
      username: "test"
    })
    const nodes = made.map((entry) => entry.node)
    return {
      nodes,
      node: (key: string) => byKey.get(key)?.node,
      addresses: nodes.map((node) => node.address),
      transport
    } satisfies SimulatedFleet
  })

/**
 * A simulated fleet as a Layer: the {@link TestFleet} service and a `Transport` that reaches its
 * nodes, so that a `Fleet.Fleet.layer` of their addresses (or any client layer) runs against
 * it. {@link layerFleet} adds that `Fleet`.
 */
export const layer = <E = never, R = never, EA = never, RA = never>(
  options: Options<E, R, EA, RA>
): Layer.Layer<TestFleet | Transport, never, R | RA> =>
  Layer.effectContext(
    Effect.map(make(options), (simulated) =>
      Context.make(TestFleet, simulated).pipe(Context.add(Transport, simulated.transport))
    )
  )

/**
 * A `Fleet` of every node of a fresh simulated fleet (with `fleet`'s options), and the simulated
 * fleet as the {@link TestFleet} service, to silence, reset, stop and start its nodes. Built once
 * every node's first attempt has ended: under `TestClock`, with every node open.
 *
 * @example
 * ```ts
 * const TestNodes = SimulatedFleet.layerFleet({ nodes: 100 }, { timeout: "5 seconds" })
 * ```
 */
export const layerFleet = <E = never, R = never, EA = never, RA = never>(
  options: Options<E, R, EA, RA>,
  fleet: Omit<Fleet.FleetOptions, "nodes"> = {}
): Layer.Layer<Fleet.Fleet | TestFleet | Transport, never, R | RA> =>
  Layer.unwrap(
    Effect.gen(function* () {
      const simulated = yield* TestFleet
      return Fleet.Fleet.layer({ ...fleet, nodes: simulated.addresses })
    })
  ).pipe(Layer.provideMerge(layer(options)))
