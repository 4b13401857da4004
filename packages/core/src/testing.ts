/**
 * `@effect-ncp/core/testing`: what tests and demos need to run the protocol without a network
 * or a node: {@link NcpTest} (a client connected to an in-memory server running your handler or
 * the simulated node, as a Layer, under `TestClock`), an in-memory socket pair and a simulated
 * node. Kept out of the main entry point so that production code does not load it; it does not
 * load `fast-check`.
 *
 * Generators for property tests need nothing from here: every Schema of the main entry point
 * (`PacketSchema`'s, `WireSchema`'s, a command's `params` and `reply`) derives an
 * `effect/Arbitrary`, so `it.prop` takes them as they are, and `Arbitrary.schema(...)` gives the
 * generator itself. The fast-check arbitraries are in `@effect-ncp/core/Arbitrary`.
 *
 * @example
 * ```ts
 * import { MemorySocket, NcpTest, SimulatedNode } from "@effect-ncp/core/testing"
 * ```
 *
 * @module
 * @since 0.1.0
 */
export * as MemorySocket from "./MemorySocket.js"
export * as NcpTest from "./NcpTest.js"
export * as SimulatedFleet from "./SimulatedFleet.js"
export * as SimulatedNode from "./SimulatedNode.js"
export * as SimulatedSignal from "./SimulatedSignal.js"
