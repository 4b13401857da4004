/**
 * Loopback benchmark: an NCP client and an echo server in one process, on 127.0.0.1. One JSON
 * line per implementation:
 *
 *   {"impl":"node:net","rtt_per_s":N,"pipelined_fields_per_s":N,"stream_mb_per_s":N}
 *
 * - `rtt_per_s`: for 2 s, send `DSPC ECHO {SEQN=i, FCTR=2400}` and wait for its reply.
 * - `pipelined_fields_per_s`: send 20,000 `DSPC ECHO {SEQN=i}` without waiting, then receive
 *   every reply (from the first send to the last reply).
 * - `stream_mb_per_s`: one `DSPC STRM {NPKT=200}`; the server answers with 200 replies, each
 *   with `DATA` = 262,144 zero f32 (1 MiB); MiB of `DATA` received per second.
 *
 * The server replies with the request's params (no ACKN). `effect-ncp` is the toolkit end to
 * end: `Client.connect` against `Server.serve`, handshake included, through the public API.
 * `node:net` is the ceiling: raw sockets with our codec on both sides, what a hand-written
 * Node client and server reach. Each implementation is a function returning the three
 * figures; add one to `implementations` to compare it.
 *
 *   npm run bench:loopback
 */
import * as Net from "node:net"
import {
  Client,
  type Connection,
  decodePacketOrThrow,
  encodePacketOrThrow,
  Field,
  Framing,
  type Packet,
  Server
} from "@effect-ncp/core"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import * as SocketServer from "effect/socket/SocketServer"
import * as NcpSocketServer from "../src/NcpSocketServer.js"
import * as NodeTransport from "../src/NodeTransport.js"

/** The three figures of one implementation. */
export interface Figures {
  readonly rtt_per_s: number
  readonly pipelined_fields_per_s: number
  readonly stream_mb_per_s: number
}

/** An implementation: runs the three measurements against its own echo server. */
export type Implementation = () => Promise<Figures>

const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 2000)
const PIPELINED = 20_000
const STREAM_PACKETS = 200
const STREAM_FLOATS = 262_144 // 1 MiB of f32

const i32 = (value: number) => ({ type: "i32" as const, value })

const echoRequest = (seqn: number, withFrequency: boolean): Packet.PacketInput => ({
  type: "DSPC",
  fields: [
    {
      name: "ECHO",
      id: seqn,
      params: withFrequency
        ? [
            { name: "SEQN", value: i32(seqn) },
            { name: "FCTR", value: i32(2400) }
          ]
        : [{ name: "SEQN", value: i32(seqn) }]
    }
  ]
})

// --- the echo server (raw node:net with our codec), shared by every implementation ---

/** Writes, waiting for `drain` when Node's buffer is full, so a 200 MiB stream is not buffered whole. */
const writeWithBackpressure = (socket: Net.Socket, bytes: Uint8Array): Promise<void> =>
  socket.write(bytes) ? Promise.resolve() : new Promise((resolve) => socket.once("drain", resolve))

const serve = (socket: Net.Socket): void => {
  const framer = new Framing.PacketFramer()
  // replies go out in order, one request at a time, each after the previous one's backpressure
  let queue = Promise.resolve()
  socket.on("error", () => socket.destroy())
  socket.on("data", (chunk: Buffer) => {
    framer.push(chunk)
    for (let bytes = framer.next(); bytes instanceof Uint8Array; bytes = framer.next()) {
      const { packet } = decodePacketOrThrow(bytes)
      for (const field of packet.fields) {
        if (field.name === "STRM") {
          const count = Number(field.params.find((param) => param.name === "NPKT")?.value.value ?? 0)
          const reply = encodePacketOrThrow({
            type: packet.type,
            fields: [
              {
                name: field.name,
                id: field.id,
                params: [{ name: "DATA", value: { type: "f32[]", value: new Float32Array(STREAM_FLOATS) } }]
              }
            ]
          })
          queue = queue.then(async () => {
            for (let i = 0; i < count; i++) await writeWithBackpressure(socket, reply)
          })
        } else {
          const reply = encodePacketOrThrow({
            type: packet.type,
            fields: [{ name: field.name, id: field.id, params: field.params }]
          })
          queue = queue.then(() => writeWithBackpressure(socket, reply))
        }
      }
    }
  })
}

const listen = (): Promise<Net.Server> =>
  new Promise((resolve) => {
    const server = Net.createServer({ noDelay: true }, serve)
    server.listen(0, "127.0.0.1", () => resolve(server))
  })

// --- node:net: a hand-written client, the ceiling ---

const nodeNet: Implementation = async () => {
  const server = await listen()
  const address = server.address()
  const port = typeof address === "object" && address !== null ? address.port : 0
  const socket = await new Promise<Net.Socket>((resolve, reject) => {
    const socket = Net.connect({ host: "127.0.0.1", port, noDelay: true }, () => resolve(socket))
    socket.once("error", reject)
  })
  const framer = new Framing.PacketFramer()
  // the reply handler of the measurement in progress
  let onPacket: (packet: Packet.Packet) => void = () => {}
  socket.on("data", (chunk: Buffer) => {
    framer.push(chunk)
    for (let bytes = framer.next(); bytes instanceof Uint8Array; bytes = framer.next()) {
      onPacket(decodePacketOrThrow(bytes).packet)
    }
  })

  // round trips
  let roundTrips = 0
  const rttStart = performance.now()
  while (performance.now() - rttStart < RTT_MS) {
    const seqn = roundTrips + 1
    await new Promise<void>((resolve, reject) => {
      onPacket = (packet) => {
        const value = packet.fields[0]?.params.find((param) => param.name === "SEQN")?.value.value
        if (value === seqn) resolve()
        else reject(new Error(`reply to SEQN ${value}, expected ${seqn}`))
      }
      socket.write(encodePacketOrThrow(echoRequest(seqn, true)))
    })
    roundTrips++
  }
  const rtt_per_s = roundTrips / ((performance.now() - rttStart) / 1000)

  // pipelined
  const pipelinedStart = performance.now()
  const pipelinedDone = new Promise<void>((resolve) => {
    let received = 0
    onPacket = (packet) => {
      received += packet.fields.length
      if (received === PIPELINED) resolve()
    }
  })
  socket.cork()
  for (let i = 1; i <= PIPELINED; i++) socket.write(encodePacketOrThrow(echoRequest(i, false)))
  socket.uncork()
  await pipelinedDone
  const pipelined_fields_per_s = PIPELINED / ((performance.now() - pipelinedStart) / 1000)

  // stream
  const streamStart = performance.now()
  let streamedBytes = 0
  await new Promise<void>((resolve) => {
    let received = 0
    onPacket = (packet) => {
      const data = packet.fields[0]?.params.find((param) => param.name === "DATA")?.value.value
      if (data instanceof Float32Array) streamedBytes += data.byteLength
      if (++received === STREAM_PACKETS) resolve()
    }
    socket.write(
      encodePacketOrThrow({
        type: "DSPC",
        fields: [{ name: "STRM", id: 1, params: [{ name: "NPKT", value: i32(STREAM_PACKETS) }] }]
      })
    )
  })
  const stream_mb_per_s = streamedBytes / (1024 * 1024) / ((performance.now() - streamStart) / 1000)

  await new Promise<void>((resolve) => socket.end(resolve))
  socket.destroy()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return { rtt_per_s, pipelined_fields_per_s, stream_mb_per_s }
}

// --- effect-ncp: Client.connect against Server.serve ---

const streamData = new Float32Array(STREAM_FLOATS)

/** The echo server's handler: every field gets its params back; STRM gets NPKT data replies. */
const echoHandler = (connection: Connection.Connection) =>
  connection.fields.pipe(
    Stream.runForEach((field) => {
      if (field.name !== "STRM") return field.reply(field.params)
      const count = Number(Field.get(field, "NPKT") ?? 0)
      return Effect.repeat(field.reply([["DATA", { type: "f32[]", value: streamData }]]), { times: count - 1 })
    })
  )

const effectNcp: Implementation = () =>
  Effect.runPromise(
    Effect.gen(function* () {
      const server = yield* NcpSocketServer.make({ host: "127.0.0.1", port: 0 })
      yield* Effect.forkScoped(Server.serve(echoHandler).pipe(Effect.provideService(SocketServer.SocketServer, server)))
      const port = NcpSocketServer.port(server.address) ?? 0
      const connection = yield* Client.connect({ host: "127.0.0.1", port, timeout: 60 })

      // round trips
      let roundTrips = 0
      const rttStart = performance.now()
      while (performance.now() - rttStart < RTT_MS) {
        const seqn = roundTrips + 1
        const reply = yield* connection.request("DSPC", "ECHO", [
          { name: "SEQN", value: i32(seqn) },
          { name: "FCTR", value: i32(2400) }
        ])
        const value = Field.get(reply, "SEQN")
        if (value !== seqn) return yield* Effect.die(new Error(`reply to SEQN ${value}, expected ${seqn}`))
        roundTrips++
      }
      const rtt_per_s = roundTrips / ((performance.now() - rttStart) / 1000)

      // pipelined: every command sent before any reply is read
      const pipelinedStart = performance.now()
      yield* Effect.scoped(
        Effect.gen(function* () {
          const responses: Array<Connection.Response> = []
          for (let i = 1; i <= PIPELINED; i++) {
            responses.push(yield* connection.send("DSPC", "ECHO", [{ name: "SEQN", value: i32(i) }]))
          }
          for (const response of responses) yield* response.recv
        })
      )
      const pipelined_fields_per_s = PIPELINED / ((performance.now() - pipelinedStart) / 1000)

      // stream
      const streamStart = performance.now()
      let streamedBytes = 0
      yield* Effect.scoped(
        Effect.gen(function* () {
          const response = yield* connection.send("DSPC", "STRM", [{ name: "NPKT", value: i32(STREAM_PACKETS) }])
          yield* response.fields.pipe(
            Stream.take(STREAM_PACKETS),
            Stream.runForEach((field) =>
              Effect.sync(() => {
                const data = Field.get(field, "DATA")
                if (data instanceof Float32Array) streamedBytes += data.byteLength
              })
            )
          )
        })
      )
      const stream_mb_per_s = streamedBytes / (1024 * 1024) / ((performance.now() - streamStart) / 1000)
      return { rtt_per_s, pipelined_fields_per_s, stream_mb_per_s }
    }).pipe(Effect.scoped, Effect.provide(NodeTransport.layer))
  )

/** The implementations measured, in order. */
const implementations: ReadonlyArray<readonly [name: string, run: Implementation]> = [
  ["effect-ncp", effectNcp],
  ["node:net", nodeNet]
]

const only = process.env.BENCH_IMPL

const main = async () => {
  for (const [impl, run] of implementations) {
    if (only !== undefined && only !== impl) continue
    const figures = await run()
    console.log(
      JSON.stringify({
        impl,
        rtt_per_s: Math.round(figures.rtt_per_s),
        pipelined_fields_per_s: Math.round(figures.pipelined_fields_per_s),
        stream_mb_per_s: Math.round(figures.stream_mb_per_s)
      })
    )
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
