/**
 * Where the load benchmark's clients connect from. A server counts connections per client
 * address (`maxConnectionsPerAddress`, 128 by default), so the benchmark gives its clients
 * addresses of their own on the loopback network (all of 127.0.0.0/8 reaches 127.0.0.1 on
 * Linux): every honest client one address, the probe one, hostile clients 127.0.0.1 (or a few
 * addresses of their own, for the connect burst). An honest crowd from one address would be
 * refused past 128, which measures the limit, not the server.
 */
import * as Net from "node:net"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Transport } from "@effect-ncp/core"
import * as Duration from "effect/Duration"
import * as Raw from "./raw.js"

/** Where hostile clients connect from, unless an attack says otherwise. */
export const ATTACKER_ADDRESS = Raw.HOST

/** Where the fresh client that checks the server still answers connects from. */
export const PROBE_ADDRESS = "127.2.0.1"

/** The address of honest client number `index` (from 0): 127.1.0.1, 127.1.0.2, ..., 250 per /24. */
export const honestAddress = (index: number): string => `127.1.${Math.floor(index / 250)}.${1 + (index % 250)}`

/** One of `count` addresses of the connect burst, for connection number `index`: 127.3.0.1, ... */
export const burstAddress = (index: number, count: number): string => {
  const slot = index % count
  return `127.3.${Math.floor(slot / 250)}.${1 + (slot % 250)}`
}

/** Opens a TCP connection to `port` of 127.0.0.1 from `localAddress`, with Nagle off. */
export const connectFrom = (port: number, localAddress: string): Promise<Net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host: Raw.HOST, port, localAddress, noDelay: true }, () => {
      socket.off("error", reject)
      resolve(socket)
    })
    socket.once("error", reject)
  })

/** A raw peer from `localAddress` that has done the client's handshake; closed if it fails. */
export const connectRawFrom = async (
  port: number,
  localAddress: string,
  options?: Raw.ClientHandshakeOptions
): Promise<Raw.RawPeer> => {
  const peer = new Raw.RawPeer(await connectFrom(port, localAddress))
  try {
    await Raw.clientHandshake(peer, options)
    return peer
  } catch (error) {
    peer.destroy()
    throw error
  }
}

/**
 * The core's `Transport` over `node:net` from `localAddress`: what `NodeTransport` does (half
 * open allowed, Nagle off, the connection's timeout bounding the connect), bound to a source
 * address, which `NodeTransport` has no option for.
 */
export const boundTransport = (localAddress: string): Transport.Transport["Service"] =>
  Transport.Transport.of({
    connect: (target) =>
      NodeSocket.makeNet({
        host: target.host,
        port: target.port,
        localAddress,
        allowHalfOpen: true,
        noDelay: true,
        openTimeout: target.timeout !== undefined && target.timeout > 0 ? Duration.seconds(target.timeout) : undefined
      }),
    hostname: "bench",
    username: "bench"
  })
