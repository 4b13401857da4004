import { readFileSync } from "node:fs"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { describe, expect, it } from "@effect/vitest"
import { type Connection, Decoder } from "@effect-ncp/core"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { SelfSignedCertificate } from "../src/index.js"
import { connect, HOST, RawPeer, serve } from "./harness.js"

// Every packet of the shared vectors, sent by a raw peer over real TCP and TLS (inside the CONNECT
// tunnel, as the spec has it for TLS) so that it lands
// at each offset 0-7 of a socket chunk (after 0-7 bytes of a keep-alive split across two
// writes), decodes on our client and on our server exactly as it decodes in memory from a fresh
// array: same fields, same values, plain Uint8Arrays rather than views on Node's Buffers.

interface Vector {
  readonly name: string
  readonly hex: string
}
const codec: { readonly values: ReadonlyArray<Vector>; readonly packets: ReadonlyArray<Vector> } = JSON.parse(
  readFileSync(new URL("../../core/test/fixtures/codec.json", import.meta.url), "utf8")
)
const vectors = [...codec.values, ...codec.packets].map((vector) => ({
  name: vector.name,
  bytes: Uint8Array.from(Buffer.from(vector.hex, "hex"))
}))
const keepAlive = vectors.find((vector) => vector.name === "keepalive")?.bytes ?? new Uint8Array(0)
const OFFSETS = [0, 1, 2, 3, 4, 5, 6, 7] as const

/** What a field must look like on arrival: its in-memory decode, with its packet's header. */
const expected = OFFSETS.flatMap(() =>
  vectors.flatMap(({ bytes }) => {
    const { packet } = Decoder.decodePacketOrThrow(bytes)
    return packet.fields.map((field) => ({
      packetType: packet.type,
      packetId: packet.id,
      packetTimestamp: packet.timestamp,
      name: field.name,
      id: field.id,
      params: field.params
    }))
  })
)

const received = (field: Connection.IncomingField) => ({
  packetType: field.packetType,
  packetId: field.packetId,
  packetTimestamp: field.packetTimestamp,
  name: field.name,
  id: field.id,
  params: field.params
})

/** One turn of the event loop, so that what was written is read before the next write. */
const turn = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * Sends every vector at every offset: for offset `k`, the keep-alive's first `40 - k` bytes in one
 * write, then its last `k` bytes and the vector in the next, so the vector starts `k` bytes into
 * the chunk the receiver reads.
 */
const sendAll = (peer: RawPeer) =>
  Effect.gen(function* () {
    for (const offset of OFFSETS) {
      for (const { bytes } of vectors) {
        if (offset === 0) {
          yield* peer.write(bytes)
        } else {
          yield* peer.write(keepAlive.subarray(0, keepAlive.length - offset))
          yield* turn
          yield* peer.write(Buffer.concat([keepAlive.subarray(keepAlive.length - offset), bytes]))
        }
        yield* turn
      }
    }
  })

const certificate = SelfSignedCertificate.generate()

/** A raw client of `port`, over TLS when asked; destroyed with the scope. */
const rawClient = (port: number, tls: boolean) =>
  Effect.acquireRelease(
    Effect.callback<RawPeer>((resume) => {
      const socket = tls ? Tls.connect({ host: HOST, port, ca: certificate.cert }) : Net.connect({ host: HOST, port })
      socket.setNoDelay(true)
      socket.once(tls ? "secureConnect" : "connect", () => resume(Effect.succeed(new RawPeer(socket))))
      socket.once("error", (error) => resume(Effect.die(error)))
    }),
    (peer) => Effect.sync(() => peer.socket.destroy())
  )

/** A raw listener on a free port (TLS when asked); the first accepted socket becomes a `RawPeer`. */
const rawListener = (tls: boolean) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly server: Net.Server; readonly port: number; readonly peer: Promise<RawPeer> }>(
      (resume) => {
        let accept: (peer: RawPeer) => void = () => {}
        const peer = new Promise<RawPeer>((resolve) => {
          accept = resolve
        })
        const onSocket = (socket: Net.Socket) => {
          socket.setNoDelay(true)
          accept(new RawPeer(socket))
        }
        const server = tls
          ? Tls.createServer({ key: certificate.key, cert: certificate.cert }, onSocket)
          : Net.createServer(onSocket)
        server.listen(0, HOST, () => {
          const address = server.address()
          resume(Effect.succeed({ server, port: typeof address === "object" && address ? address.port : 0, peer }))
        })
      }
    ),
    ({ server, peer }) =>
      Effect.promise(async () => {
        const accepted = await Promise.race([peer, Promise.resolve(undefined)])
        accepted?.socket.destroy()
        await new Promise<void>((resolve) => server.close(() => resolve()))
      })
  )

describe.each([
  ["TCP", false],
  ["TLS", true]
] as const)("every vector at every offset of a socket chunk, over %s", (_, tls) => {
  it.live(
    "our server receives each field as the in-memory decode gives it",
    () =>
      Effect.gen(function* () {
        const fields = yield* Queue.unbounded<Connection.IncomingField>()
        const { port } = yield* serve(
          (connection) => connection.fields.pipe(Stream.runForEach((field) => Queue.offer(fields, field))),
          tls ? { tls: certificate } : {}
        )
        const peer = yield* rawClient(port, tls)
        if (tls) {
          // NCP over TLS runs in the CONNECT tunnel (no credentials: an empty Basic token)
          yield* peer.write("CONNECT ncp.service HTTP/1.1\r\nProxy-Authorization: Basic Og==\r\n\r\n")
          expect((yield* peer.readHead).split("\r\n")[0]).toBe("HTTP/1.1 200 OK")
        }
        // the client's half of the handshake
        yield* peer.readField("HELO")
        yield* peer.send("LINK", "CCRE", 1, { LINK: 30 })
        yield* peer.readField("SCAR")
        yield* peer.send("LINK", "CARE", 2)
        yield* peer.readField("SCON")

        yield* sendAll(peer)
        const arrived = yield* Queue.takeN(fields, expected.length).pipe(Effect.timeout("20 seconds"))
        expect(arrived.map(received)).toStrictEqual(expected)
      }),
    30_000
  )

  it.live(
    "our client receives each field as the in-memory decode gives it",
    () =>
      Effect.gen(function* () {
        const listener = yield* rawListener(tls)
        const connecting = yield* Effect.forkScoped(
          connect(listener.port, tls ? { tls: { ca: certificate.cert } } : {})
        )
        const peer = yield* Effect.promise(() => listener.peer)
        if (tls) {
          expect((yield* peer.readHead).split("\r\n")[0]).toBe("CONNECT ncp.service HTTP/1.1")
          yield* peer.write("HTTP/1.1 200 OK\r\n\r\n")
        }
        yield* peer.handshake()
        const connection = yield* Fiber.join(connecting)

        yield* sendAll(peer)
        const arrived: Array<ReturnType<typeof received>> = []
        yield* Effect.gen(function* () {
          while (arrived.length < expected.length) arrived.push(received(yield* connection.recv))
        }).pipe(Effect.timeout("20 seconds"))
        expect(arrived).toStrictEqual(expected)
      }),
    30_000
  )
})
