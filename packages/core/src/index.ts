/**
 * `@effect-ncp/core`: NCP, the binary command protocol of CRFS RFeye nodes, for Effect.
 * Platform-neutral: values, the packet codec, stream framing, and (over `effect/socket`)
 * connections.
 *
 * Other entry points: `@effect-ncp/core/testing` (an in-memory socket pair and a simulated
 * node) and `@effect-ncp/core/Arbitrary` (fast-check arbitraries).
 *
 * @module
 * @since 0.1.0
 */
export * as Bytes from "./Bytes.js"
export * as Client from "./Client.js"
export * as CodecError from "./CodecError.js"
export * as CommandClient from "./CommandClient.js"
export * as CommandRouter from "./CommandRouter.js"
export type * as Connection from "./Connection.js"
export * as ConnectionError from "./ConnectionError.js"
export * as Decoder from "./Decoder.js"
export * as Encoder from "./Encoder.js"
export * as Field from "./Field.js"
export * as Fleet from "./Fleet.js"
export * as Framing from "./Framing.js"
export * as Identifier from "./Identifier.js"
export * as Json from "./Json.js"
export * as Limits from "./Limits.js"
export * as NcpCommand from "./NcpCommand.js"
export * as NcpError from "./NcpError.js"
export * as NcpMetrics from "./NcpMetrics.js"
export * as Packet from "./Packet.js"
export * as PacketSchema from "./PacketSchema.js"
export * as RoundTrip from "./RoundTrip.js"
export * as Server from "./Server.js"
export * as SweepLevel from "./SweepLevel.js"
export * as Timestamp from "./Timestamp.js"
export * as Transport from "./Transport.js"
export * as Tunnel from "./Tunnel.js"
export * as Value from "./Value.js"
export * as WireSchema from "./WireSchema.js"
