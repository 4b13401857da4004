/**
 * `@effect-ncp/node`: NCP on Node.js. `NodeNcp` connects and serves in one call; below it, the
 * core's `Transport` over `node:net` and `node:tls`, listening sockets for NCP servers, and
 * self-signed certificates for TLS tests.
 *
 * @module
 * @since 0.1.0
 */
export * as NodeListener from "./NodeListener.js"
export * as NodeNcp from "./NodeNcp.js"
export * as NodeObservability from "./NodeObservability.js"
export * as NodeTransport from "./NodeTransport.js"
export * as SelfSignedCertificate from "./SelfSignedCertificate.js"
