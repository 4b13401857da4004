/**
 * Raw NCP peers for the benchmarks: `node:net` sockets with the core's codec and framer, and
 * the LINK handshake of both roles written out by hand. They are what a hand-written Node
 * client or server reaches (the ceiling effect-ncp is measured against), and peers that send
 * exactly the bytes a benchmark asks for (the load benchmark's hostile clients).
 */
import * as Net from "node:net"
import { Decoder, Encoder, Framing, type Packet } from "@effect-ncp/core"
import * as Result from "effect/Result"

/** Every benchmark listens and connects on the loopback interface. */
export const HOST = "127.0.0.1"

/** A decoded field, as packets carry them. */
export type Field = Packet.Packet["fields"][number]

/** Encodes a packet the benchmarks built themselves (so it cannot fail). */
export const encode = (packet: Packet.PacketInput): Uint8Array => Result.getOrThrow(Encoder.encodePacket(packet))

/** Decodes one packet's bytes, throwing on malformed input. */
export const decode = (bytes: Uint8Array): Packet.Packet => Result.getOrThrow(Decoder.decodePacket(bytes)).packet

/** The value of the last param called `name`, as its natural JavaScript value. */
export const paramOf = (field: Field | undefined, name: string): unknown => {
  if (field === undefined) return undefined
  for (let i = field.params.length - 1; i >= 0; i--) {
    const param = field.params[i]
    if (param?.name === name) return param.value.value
  }
  return undefined
}

/** An i32 param value. */
export const i32 = (value: number) => ({ type: "i32" as const, value })

/** A string param value. */
export const str = (value: string) => ({ type: "string" as const, value })

/** Resolves once the socket can take more (or is gone): `write`'s backpressure. */
export const drained = (socket: Net.Socket): Promise<void> =>
  new Promise((resolve) => {
    const done = () => {
      socket.off("drain", done)
      socket.off("close", done)
      resolve()
    }
    socket.on("drain", done)
    socket.on("close", done)
  })

/** Writes, then waits for `drain` when Node's buffer is full, so large sends are not buffered whole. */
export const write = (socket: Net.Socket, bytes: Uint8Array): Promise<void> =>
  socket.destroyed ? Promise.resolve() : socket.write(bytes) ? Promise.resolve() : drained(socket)

/** A reply that is neither a keep-alive nor an acknowledgement: the answer to a command. */
export const answer = (packet: Packet.Packet): Field | undefined =>
  packet.type === "LINK"
    ? undefined
    : packet.fields.find((field) => !field.params.some((param) => param.name === "ACKN"))

/** Resolves with `value`, or rejects after `ms` with `what` timed out. */
export const deadline = <A>(promise: Promise<A>, ms: number, what: string): Promise<A> =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
    promise.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      }
    )
  })

/** Opens a TCP connection with Nagle off. */
export const connectSocket = (port: number, host = HOST): Promise<Net.Socket> =>
  new Promise((resolve, reject) => {
    const socket = Net.connect({ host, port, noDelay: true }, () => {
      socket.off("error", reject)
      resolve(socket)
    })
    socket.once("error", reject)
  })

/**
 * A socket that frames and decodes what it receives and hands every packet to `onPacket`.
 * Before and during the handshake, `waitField` takes the packets instead.
 */
export class RawPeer {
  /** Called with every packet received while no `waitField` is pending. */
  onPacket: (packet: Packet.Packet) => void = () => {}
  private readonly framer: Framing.PacketFramer
  private waiter: ((packet: Packet.Packet) => void) | undefined
  private pending:
    | {
        readonly accept: (packet: Packet.Packet) => Field | undefined
        readonly resolve: (field: Field) => void
        readonly reject: (reason: Error) => void
      }
    | undefined
  private readonly closeListeners: Array<(reason: Error) => void> = []
  private closeReason: Error | undefined

  constructor(
    readonly socket: Net.Socket,
    options?: { readonly maxPacketBytes?: number | undefined }
  ) {
    this.framer = new Framing.PacketFramer({ maxPacketBytes: options?.maxPacketBytes })
    socket.on("data", (chunk: Buffer) => this.receive(chunk))
    socket.on("error", (error) => {
      this.closeReason ??= error
      socket.destroy()
    })
    socket.on("close", () => {
      this.closeReason ??= new Error("connection closed by the peer")
      const pending = this.pending
      this.pending = undefined
      pending?.reject(this.closeReason)
      for (const listener of this.closeListeners.splice(0)) listener(this.closeReason)
    })
  }

  /** Connects to `port` on the loopback interface. */
  static async connect(port: number, options?: { readonly maxPacketBytes?: number | undefined }): Promise<RawPeer> {
    return new RawPeer(await connectSocket(port), options)
  }

  /** Why the connection ended, once it has. */
  get closed(): Error | undefined {
    return this.socket.destroyed ? (this.closeReason ?? new Error("connection closed")) : undefined
  }

  /** Runs `listener` when the connection ends (at once if it has). */
  onClose(listener: (reason: Error) => void): void {
    const reason = this.closed
    if (reason !== undefined) listener(reason)
    else this.closeListeners.push(listener)
  }

  /** Encodes and writes a packet, with backpressure. */
  send(packet: Packet.PacketInput): Promise<void> {
    return write(this.socket, encode(packet))
  }

  /**
   * The next field of that packet type and name; packets in between are skipped, as the
   * handshake asks. Rejects when the connection ends or after `timeoutMs`.
   */
  waitField(packetType: string, name: string, timeoutMs: number): Promise<Field> {
    const waiting = new Promise<Field>((resolve, reject) => {
      this.onClose(reject)
      this.waiter = (packet) => {
        if (packet.type !== packetType) return
        const field = packet.fields.find((candidate) => candidate.name === name)
        if (field === undefined) return
        this.waiter = undefined
        resolve(field)
      }
    })
    return deadline(waiting, timeoutMs, `waiting for ${packetType} ${name}`).finally(() => {
      this.waiter = undefined
    })
  }

  /**
   * Writes a command and resolves with the first field `accept` picks from the packets that
   * follow (other packets are skipped); rejects when the connection ends. One at a time.
   */
  request(bytes: Uint8Array, accept: (packet: Packet.Packet) => Field | undefined): Promise<Field> {
    const reason = this.closed
    if (reason !== undefined) return Promise.reject(reason)
    return new Promise((resolve, reject) => {
      this.pending = { accept, resolve, reject }
      this.socket.write(bytes)
    })
  }

  /** Ends the connection now. */
  destroy(): void {
    this.socket.destroy()
  }

  private receive(chunk: Buffer): void {
    this.framer.push(chunk)
    for (let bytes = this.framer.next(); bytes !== undefined; bytes = this.framer.next()) {
      if (!(bytes instanceof Uint8Array)) {
        this.closeReason ??= new Error(`framing failed: ${bytes.message}`)
        this.socket.destroy()
        return
      }
      const packet = decode(bytes)
      const pending = this.pending
      if (this.waiter !== undefined) this.waiter(packet)
      else if (pending !== undefined) {
        const field = pending.accept(packet)
        if (field !== undefined) {
          this.pending = undefined
          pending.resolve(field)
        }
      } else this.onPacket(packet)
    }
  }
}

/** Options of {@link clientHandshake}. */
export interface ClientHandshakeOptions {
  /** The timeout asked for in `LINK CCRE`, in seconds. Default 60. */
  readonly timeout?: number | undefined
  /** The name sent as `CIW` and `CAR`. Default `"bench"`. */
  readonly hostname?: string | undefined
  /** How long each handshake step may take, in milliseconds. Default 10,000. */
  readonly stepMillis?: number | undefined
}

/**
 * The client's side of the LINK handshake (HELO, CCRE, SCAR, CARE, SCON), written out as a
 * hand-written client would. Resolves with the timeout the server agreed to.
 */
export const clientHandshake = async (peer: RawPeer, options?: ClientHandshakeOptions): Promise<number> => {
  const step = options?.stepMillis ?? 10_000
  const hostname = options?.hostname ?? "bench"
  await peer.waitField("LINK", "HELO", step)
  const scarWait = peer.waitField("LINK", "SCAR", step)
  await peer.send({
    type: "LINK",
    fields: [
      {
        name: "CCRE",
        id: 1,
        params: [
          { name: "CIW", value: str(hostname) },
          { name: "CUSR", value: str("bench") },
          { name: "CDOM", value: str("") },
          { name: "LINK", value: i32(options?.timeout ?? 60) }
        ]
      }
    ]
  })
  const scar = await scarWait
  const sconWait = peer.waitField("LINK", "SCON", step)
  await peer.send({ type: "LINK", fields: [{ name: "CARE", id: 2, params: [{ name: "CAR", value: str(hostname) }] }] })
  await sconWait
  const agreed = paramOf(scar, "LINK")
  return typeof agreed === "number" ? agreed : 0
}

/** Connects and performs the client's handshake; the connection is closed if the handshake fails. */
export const connectRaw = async (
  port: number,
  options?: ClientHandshakeOptions & { readonly maxPacketBytes?: number | undefined }
): Promise<RawPeer> => {
  const peer = await RawPeer.connect(port, options)
  try {
    await clientHandshake(peer, options)
    return peer
  } catch (error) {
    peer.destroy()
    throw error
  }
}

// --- the raw echo server ---

/** The `DATA` of each `STRM` reply: 262,144 zero f32, 1 MiB. */
export const STREAM_FLOATS = 262_144

/** The values every raw `STRM` reply carries, allocated once, as the effect-ncp echo server's. */
const streamData = new Float32Array(STREAM_FLOATS)

/**
 * How the raw server produces its `STRM` replies. `"encode"` (the default, the ceiling): every
 * reply is encoded from the same `Float32Array`, as the effect-ncp server encodes every reply.
 * `"copy"`: one reply is encoded once and the same bytes written `n` times, the limit of
 * copying alone (no encoding), reported on a line of its own.
 */
export type StreamReplies = "encode" | "copy"

/** Options of {@link serveEcho} and {@link listenEcho}. */
export interface EchoOptions {
  readonly streamReplies?: StreamReplies | undefined
}

/**
 * What a hand-written echo server does with each connection: the server's side of the
 * handshake (agreeing to the timeout asked, clamped into 5..60 s as nodes do), then every
 * field gets a reply with its own params, in order, each written after the previous one's
 * backpressure. `DSPC STRM {NPKT=n}` gets `n` replies of 1 MiB `DATA`, each encoded as it is
 * sent (or, with `streamReplies: "copy"`, encoded once). LINK packets after the handshake
 * (keep-alives) are ignored; the server sends none itself.
 */
export const serveEcho = (socket: Net.Socket, options?: EchoOptions): void => {
  const copyOnly = options?.streamReplies === "copy"
  socket.setNoDelay(true)
  const framer = new Framing.PacketFramer()
  let state: "CCRE" | "CARE" | "open" = "CCRE"
  let queue = Promise.resolve()
  const reply = (bytes: Uint8Array) => {
    queue = queue.then(() => write(socket, bytes))
  }
  socket.on("error", () => socket.destroy())
  socket.on("data", (chunk: Buffer) => {
    framer.push(chunk)
    for (let bytes = framer.next(); bytes !== undefined; bytes = framer.next()) {
      if (!(bytes instanceof Uint8Array)) {
        socket.destroy()
        return
      }
      const packet = decode(bytes)
      if (packet.type === "LINK") {
        const ccre = state === "CCRE" ? packet.fields.find((field) => field.name === "CCRE") : undefined
        if (ccre !== undefined) {
          const asked = paramOf(ccre, "LINK")
          const agreed = typeof asked === "number" && asked > 0 ? Math.min(60, Math.max(5, asked)) : 0
          reply(
            encode({ type: "LINK", fields: [{ name: "SCAR", id: 1, params: [{ name: "LINK", value: i32(agreed) }] }] })
          )
          state = "CARE"
        } else if (state === "CARE" && packet.fields.some((field) => field.name === "CARE")) {
          reply(encode({ type: "LINK", fields: [{ name: "SCON", id: 2, params: [] }] }))
          state = "open"
        }
        continue
      }
      if (state !== "open") continue
      for (const field of packet.fields) {
        if (field.name === "STRM") {
          const count = Number(paramOf(field, "NPKT") ?? 0)
          const streamReply = {
            type: packet.type,
            fields: [
              {
                name: field.name,
                id: field.id,
                params: [{ name: "DATA", value: { type: "f32[]" as const, value: streamData } }]
              }
            ]
          }
          const once = copyOnly ? encode(streamReply) : undefined
          queue = queue.then(async () => {
            for (let i = 0; i < count && !socket.destroyed; i++) await write(socket, once ?? encode(streamReply))
          })
        } else {
          reply(encode({ type: packet.type, fields: [{ name: field.name, id: field.id, params: field.params }] }))
        }
      }
    }
  })
  reply(encode({ type: "LINK", fields: [{ name: "HELO", id: 0, params: [] }] }))
}

/** A listening raw echo server. */
export interface RawServer {
  readonly port: number
  /** Stops listening and destroys every connection. */
  readonly close: () => Promise<void>
}

/** Listens on the loopback interface (a free port by default) and serves {@link serveEcho}. */
export const listenEcho = (port = 0, options?: EchoOptions): Promise<RawServer> =>
  new Promise((resolve, reject) => {
    const sockets = new Set<Net.Socket>()
    const server = Net.createServer({ noDelay: true }, (socket) => {
      sockets.add(socket)
      socket.on("close", () => sockets.delete(socket))
      serveEcho(socket, options)
    })
    server.once("error", reject)
    server.listen({ port, host: HOST, backlog: 4096 }, () => {
      const address = server.address()
      resolve({
        port: typeof address === "object" && address !== null ? address.port : 0,
        close: () =>
          new Promise((closed) => {
            server.close(() => closed())
            for (const socket of sockets) socket.destroy()
          })
      })
    })
  })
