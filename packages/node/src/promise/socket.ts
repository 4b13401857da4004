/**
 * The socket of a Promise-API connection, and when it keeps the process alive: only while a
 * call waits on it. An idle connection (no request, `recv` or iteration pending) does not keep
 * Node running, so a script that forgot to close one still ends (and closes it on the way out,
 * see `exit.ts`); a script awaiting a reply is never cut short.
 *
 * Node only hands the `net.Socket` to whoever creates it, so Promise-API connections open
 * theirs with a `Transport` of their own: `NodeTransport`'s opening (no delay, half-open, TLS
 * with the host name as SNI), which reports each socket it creates to a {@link SocketRef}.
 *
 * @internal
 */
import type * as Net from "node:net"
import type { Transport } from "@effect-ncp/core"
import { connect } from "../internal/connect.js"

/**
 * Counts the calls waiting on one connection: its socket is ref'd (keeps Node running) while
 * at least one waits, unref'd otherwise. Before the socket exists it starts ref'd, as Node
 * creates it, which is right while connecting.
 */
export class SocketRef {
  private socket: Net.Socket | undefined
  private waiting = 0

  /** The connection's socket, as soon as it is created. */
  attach(socket: Net.Socket): void {
    this.socket = socket
    if (this.waiting === 0) unref(socket)
  }

  /** A call starts waiting. */
  hold(): void {
    if (this.waiting++ === 0 && this.socket !== undefined) ref(this.socket)
  }

  /** A call is done waiting. */
  release(): void {
    if (--this.waiting === 0 && this.socket !== undefined) unref(this.socket)
  }
}

// Node queues a ref or unref of a socket without a handle until it connects, even once it is
// destroyed (and never connects): skip those.
const ref = (socket: Net.Socket) => {
  if (!socket.destroyed) socket.ref()
}
const unref = (socket: Net.Socket) => {
  if (!socket.destroyed) socket.unref()
}

/**
 * `base` (the Node transport: its host and user names), opening sockets that `socketRef`
 * follows, as `NodeTransport` opens them.
 */
export const transport = (
  base: Transport.Transport["Service"],
  socketRef: SocketRef
): Transport.Transport["Service"] => ({
  ...base,
  connect: (target) => connect(target, { onSocket: (socket) => socketRef.attach(socket) })
})
