/**
 * `@effect-ncp/core/testing`: what tests and demos need to run the protocol without a network
 * or a node: an in-memory socket pair and a simulated node. Kept out of the main entry point so
 * that production code does not load it; it does not load `fast-check` (the arbitraries are in
 * `@effect-ncp/core/Arbitrary`).
 *
 * @example
 * ```ts
 * import { MemorySocket, SimulatedNode } from "@effect-ncp/core/testing"
 * ```
 *
 * @since 0.1.0
 */
export * as MemorySocket from "./MemorySocket.js"
export * as SimulatedNode from "./SimulatedNode.js"
