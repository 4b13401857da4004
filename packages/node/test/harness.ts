/**
 * What the Node connection tests share: a server and a client on 127.0.0.1, `RawPeer`, a
 * `node:net` socket driven by hand for what the NCP API cannot do (garbage, a client that
 * ignores a 401, a legacy node, a peer that stops reading), and {@link resourcesWhen}, to wait
 * for Node to release what a test closed.
 */
import * as AsyncHooks from "node:async_hooks"
import * as Net from "node:net"
import { CodecError, type Connection, Decoder, Encoder, type Field, Framing, type Packet } from "@effect-ncp/core"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { NodeNcp } from "../src/index.js"

export const HOST = "127.0.0.1"

/**
 * Serves `handler` on a free port of 127.0.0.1 for the current scope. Without a shutdown grace
 * unless asked: many handlers here never end, and each would hold the test's end for the grace.
 */
export const serve = <E>(
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E>,
  options: Omit<NodeNcp.ServeOptions, "host" | "port"> = {}
) => NodeNcp.make(handler, { host: HOST, port: 0, shutdownGrace: 0, ...options })

export const connect = (port: number, options: Omit<NodeNcp.ConnectOptions, "host" | "port"> = {}) =>
  NodeNcp.connect({ host: HOST, port, timeout: "30 seconds", ...options })

/** Callbacks waiting for Node to release an async resource (a handle, a timer, a request). */
const onRelease = new Set<() => void>()
const releases = AsyncHooks.createHook({
  destroy: () => {
    for (const listener of [...onRelease]) listener()
  }
})

/**
 * The resources Node has open (`process.getActiveResourcesInfo()`), once `condition` holds of
 * them. Node releases a socket's handle a moment after `destroy()`, after its `close` event
 * even, with no event of its own; but each release is followed by async_hooks' `destroy`, so
 * the condition is checked again at each one. No time bound: a resource that is never released
 * fails the test by its timeout.
 */
export const resourcesWhen = (
  condition: (resources: ReadonlyArray<string>) => boolean
): Effect.Effect<ReadonlyArray<string>> =>
  Effect.callback<ReadonlyArray<string>>((resume) => {
    const check = () => {
      const resources = process.getActiveResourcesInfo()
      if (!condition(resources)) return
      stop()
      resume(Effect.succeed(resources))
    }
    const stop = () => {
      onRelease.delete(check)
      if (onRelease.size === 0) releases.disable()
    }
    // listening first: a release between the first check and the hook would go unseen
    onRelease.add(check)
    releases.enable()
    check()
    return Effect.sync(stop)
  })

/** A `node:net` socket: collects what arrives, and notes when the peer ends. */
export class RawPeer {
  // Bytes not yet handed to the framer: an HTTP head is read from them first.
  private pending: Array<Buffer> = []
  private readonly framer = new Framing.PacketFramer()
  private readonly listeners = new Set<() => void>()
  /** The peer sent its FIN, or the socket closed. */
  ended = false

  constructor(readonly socket: Net.Socket) {
    const notify = () => {
      for (const listener of [...this.listeners]) listener()
    }
    socket.on("data", (chunk: Buffer) => {
      this.pending.push(chunk)
      notify()
    })
    socket.on("end", () => {
      this.ended = true
      notify()
    })
    socket.on("close", () => {
      this.ended = true
      notify()
    })
    // a write after the peer closed fails; the tests assert on what arrived
    socket.on("error", () => {})
  }

  /** Connects to a port of 127.0.0.1; the socket is destroyed with the scope. */
  static connect(port: number): Effect.Effect<RawPeer, never, Scope.Scope> {
    return Effect.acquireRelease(
      Effect.callback<RawPeer>((resume) => {
        const socket = Net.connect({ host: HOST, port })
        socket.once("connect", () => resume(Effect.succeed(new RawPeer(socket))))
        socket.once("error", (error) => resume(Effect.die(error)))
      }),
      (peer) => Effect.sync(() => peer.socket.destroy())
    )
  }

  /** Waits until `check` gives a value, trying again whenever bytes arrive or the peer ends. */
  private waitFor<A>(what: string, check: () => A | undefined): Effect.Effect<A> {
    return Effect.callback<A>((resume) => {
      const attempt = () => {
        const value = check()
        if (value !== undefined) {
          this.listeners.delete(attempt)
          resume(Effect.succeed(value))
        } else if (this.ended) {
          this.listeners.delete(attempt)
          resume(Effect.die(new Error(`the peer closed the connection while waiting for ${what}`)))
        }
      }
      this.listeners.add(attempt)
      attempt()
      return Effect.sync(() => this.listeners.delete(attempt))
    })
  }

  private received(): Buffer {
    const bytes = Buffer.concat(this.pending)
    this.pending = bytes.length === 0 ? [] : [bytes]
    return bytes
  }

  /** The next HTTP head (status or request line and headers), without the blank line. */
  readonly readHead = Effect.suspend(() =>
    this.waitFor("an HTTP head", () => {
      const received = this.received()
      const end = received.indexOf("\r\n\r\n")
      if (end < 0) return undefined
      this.pending = [received.subarray(end + 4)]
      return received.subarray(0, end).toString("latin1")
    })
  )

  /** The next packet, keep-alives included. */
  readonly readPacket: Effect.Effect<Packet.Packet> = Effect.suspend(() =>
    this.waitFor("a packet", () => {
      for (const chunk of this.pending) this.framer.push(new Uint8Array(chunk))
      this.pending = []
      const next = this.framer.next()
      if (next instanceof CodecError.DecodeError) throw next
      return next === undefined ? undefined : Decoder.decodePacketOrThrow(next).packet
    })
  )

  /** The next packet that has fields (keep-alives skipped). */
  readonly readFields: Effect.Effect<Packet.Packet> = Effect.flatMap(this.readPacket, (packet) =>
    packet.fields.length > 0 ? Effect.succeed(packet) : this.readFields
  )

  /** The next packet with a field called `name` (others are skipped). */
  readField(name: string): Effect.Effect<Packet.Packet> {
    return Effect.flatMap(this.readPacket, (packet) =>
      packet.fields.some((field) => field.name === name) ? Effect.succeed(packet) : this.readField(name)
    )
  }

  /** Waits for the peer to end the connection; returns the bytes that arrived unread. */
  readonly untilEnded: Effect.Effect<Buffer> = Effect.suspend(() =>
    Effect.callback<Buffer>((resume) => {
      const attempt = () => {
        if (!this.ended) return
        this.listeners.delete(attempt)
        resume(Effect.succeed(this.received()))
      }
      this.listeners.add(attempt)
      attempt()
      return Effect.sync(() => this.listeners.delete(attempt))
    })
  )

  write(bytes: Uint8Array | string): Effect.Effect<void> {
    return Effect.sync(() => {
      this.socket.write(bytes)
    })
  }

  send(type: string, name: string, id: number, params: Field.ParamsInput = {}): Effect.Effect<void> {
    return this.write(Encoder.encodePacketOrThrow({ type, fields: [{ name, id, params }] }))
  }

  /** The node's half of the handshake: HELO, CCRE, SCAR, CARE, SCON. */
  handshake(): Effect.Effect<void> {
    return Effect.all(
      [
        this.send("LINK", "HELO", 0),
        this.readField("CCRE"),
        this.send("LINK", "SCAR", 1, { LINK: 30 }),
        this.readField("CARE"),
        this.send("LINK", "SCON", 2)
      ],
      { discard: true }
    )
  }
}

/** A `node:net` listener on a free port for the scope; each accepted socket becomes a `RawPeer`. */
export const rawServer = Effect.acquireRelease(
  Effect.callback<{
    readonly server: Net.Server
    readonly sockets: Set<Net.Socket>
    readonly port: number
    /** The next accepted peer. */
    readonly accepted: Effect.Effect<RawPeer>
  }>((resume) => {
    const peers: Array<RawPeer> = []
    const sockets = new Set<Net.Socket>()
    const waiting: Array<(peer: RawPeer) => void> = []
    const server = Net.createServer((socket) => {
      sockets.add(socket)
      const peer = new RawPeer(socket)
      const waiter = waiting.shift()
      if (waiter === undefined) peers.push(peer)
      else waiter(peer)
    })
    const accepted = Effect.callback<RawPeer>((resume) => {
      const peer = peers.shift()
      if (peer !== undefined) resume(Effect.succeed(peer))
      else waiting.push((peer) => resume(Effect.succeed(peer)))
    })
    server.listen(0, HOST, () => {
      const address = server.address()
      resume(
        Effect.succeed({ server, sockets, port: typeof address === "object" && address ? address.port : 0, accepted })
      )
    })
  }),
  ({ server, sockets }) =>
    Effect.callback<void>((resume) => {
      for (const socket of sockets) socket.destroy()
      server.close(() => resume(Effect.void))
    })
)
