/**
 * Preloaded (`node --import`) into every program block the docs checker runs (./checker.ts):
 * a TCP connection to port 9999, NCP's port, whatever the host, goes to the simulated node that
 * the checker started (`NCP_DOCS_NODE`, HOST:PORT) instead. So the docs connect to `localhost`
 * or to `rfeye000123.local` as a user's program does, and two checks on one machine do not
 * compete for port 9999. Connections to any other port are left alone.
 */
import net from "node:net"

const NCP_PORT = 9999
const [host, port] = (() => {
  const node = process.env.NCP_DOCS_NODE ?? ""
  const colon = node.lastIndexOf(":")
  if (colon < 0) throw new Error(`NCP_DOCS_NODE is not HOST:PORT: ${JSON.stringify(node)}`)
  return [node.slice(0, colon).replace(/^\[(.*)\]$/, "$1"), Number(node.slice(colon + 1))]
})()

const isNcp = (options) =>
  options !== null && typeof options === "object" && options.path === undefined && Number(options.port) === NCP_PORT

// `net.connect`, `net.createConnection` and `tls.connect` all end in `Socket.prototype.connect`,
// with an options object (wrapped in an array of normalized arguments by `net.connect`), or with
// `(port, host?, listener?)`.
const connect = net.Socket.prototype.connect
net.Socket.prototype.connect = function (...args) {
  const [first] = args
  if (Array.isArray(first) && isNcp(first[0])) {
    first[0] = { ...first[0], host, port }
  } else if (isNcp(first)) {
    args[0] = { ...first, host, port }
  } else if ((typeof first === "number" || typeof first === "string") && Number(first) === NCP_PORT) {
    const listener = args.find((arg) => typeof arg === "function")
    return connect.call(this, { host, port }, listener)
  }
  return connect.apply(this, args)
}
