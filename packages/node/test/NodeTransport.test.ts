import * as Crypto from "node:crypto"
import * as Net from "node:net"
import { describe, expect, it } from "@effect/vitest"
import { Transport } from "@effect-ncp/core"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"
import { NodeListener, NodeTransport, SelfSignedCertificate } from "../src/index.js"
import { resourcesWhen } from "./harness.js"

// real sockets on the loopback interface: every test runs on real time (it.live)

const HOST = "127.0.0.1"

/** An echo handler: writes back every chunk, and closes its direction when the peer closes. */
const echo = (socket: Socket.Socket) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pull = (yield* socket.reader).pull
      const writer = yield* socket.writer
      for (;;) {
        const chunks = yield* pull
        for (const chunk of chunks) yield* writer.write(chunk)
      }
    })
  ).pipe(Effect.catchIf(Socket.isSocketError, () => Effect.void))

/** Listens on a free port of 127.0.0.1 and runs `handler` (an echo), for the current scope; returns the port. */
const echoServer = (
  tls?: SelfSignedCertificate.SelfSignedCertificate,
  handler: (socket: Socket.Socket) => Effect.Effect<void> = echo
) =>
  Effect.gen(function* () {
    const server = yield* NodeListener.make({ host: HOST, port: 0, tls })
    yield* Effect.forkScoped(server.run(handler))
    const port = NodeListener.port(server.address)
    if (port === undefined) return yield* Effect.die("the server has no port")
    return port
  })

/** Sends the bytes and reads until as many came back. */
const roundTrip = (socket: Socket.Socket, payload: Uint8Array) =>
  Effect.scoped(
    Effect.gen(function* () {
      const pull = (yield* socket.reader).pull
      const writer = yield* socket.writer
      yield* writer.write(payload)
      const received = new Uint8Array(payload.length)
      let filled = 0
      while (filled < payload.length) {
        for (const chunk of yield* pull) {
          if (typeof chunk === "string") continue
          received.set(chunk, filled)
          filled += chunk.length
        }
      }
      return received
    })
  )

const payload = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7) & 0xff)

const transport = Effect.runSync(NodeTransport.make())

/** The reason of the SocketError an effect failed with, else undefined. */
const socketErrorReason = <A, E>(exit: Exit.Exit<A, E>) => {
  if (Exit.isSuccess(exit)) return undefined
  for (const reason of exit.cause.reasons) {
    if (reason._tag === "Fail" && Socket.isSocketError(reason.error)) return reason.error.reason
  }
  return undefined
}

/** How many of the resources are TCP and TLS handles (vitest's own are pipes and ports). */
const countHandles = (resources: ReadonlyArray<string>) => resources.filter((name) => /TCP|TLS/.test(name)).length

/** TCP and TLS handles currently open in this process. */
const networkHandles = () => countHandles(process.getActiveResourcesInfo())

/** How many handles are open once at most `atMost` are: Node releases a closed socket's handle a moment later. */
const handlesSettled = (atMost: number) =>
  Effect.map(
    resourcesWhen((resources) => countHandles(resources) <= atMost),
    countHandles
  )

describe("NodeListener", () => {
  it.live("binds a free port when asked for port 0", () =>
    Effect.gen(function* () {
      const server = yield* NodeListener.make({ host: HOST, port: 0 })
      const port = NodeListener.port(server.address)
      expect(port).toBeGreaterThan(0)
      expect(NodeListener.formatAddress(server.address)).toBe(`${HOST}:${port}`)
    })
  )

  it.live("fails with a SocketServerError when the port is taken", () =>
    Effect.gen(function* () {
      const server = yield* NodeListener.make({ host: HOST, port: 0 })
      const port = NodeListener.port(server.address) ?? 0
      const exit = yield* Effect.exit(NodeListener.make({ host: HOST, port }))
      expect(Exit.isFailure(exit)).toBe(true)
    })
  )

  it.live("closing its scope closes the listener and every connection", () =>
    Effect.gen(function* () {
      const before = yield* handlesSettled(0)
      const serverScope = yield* Scope.make()
      const port = yield* Scope.provide(echoServer(), serverScope)
      const socket = yield* transport.connect({ host: HOST, port, tls: false })
      const clientScope = yield* Scope.make()
      const pull = (yield* Scope.provide(socket.reader, clientScope)).pull
      const writer = yield* Scope.provide(socket.writer, clientScope)
      yield* writer.write(Uint8Array.of(1, 2, 3))
      yield* pull
      expect(networkHandles()).toBeGreaterThan(before)

      yield* Scope.close(serverScope, Exit.void)
      // the server closed the connection gracefully: the client reads a FIN
      expect(socketErrorReason(yield* Effect.exit(pull))).toMatchObject({ _tag: "SocketCloseError", code: 1000 })
      yield* Scope.close(clientScope, Exit.void)
      expect(yield* handlesSettled(before)).toBe(before)
    })
  )
})

describe("NodeTransport", () => {
  it.live("echoes over TCP", () =>
    Effect.gen(function* () {
      const port = yield* echoServer()
      const socket = yield* transport.connect({ host: HOST, port, tls: false })
      expect(yield* roundTrip(socket, payload)).toEqual(payload)
    })
  )

  it.live("keeps reading after closing its own direction (allowHalfOpen)", () =>
    Effect.gen(function* () {
      const server = yield* NodeListener.make({ host: HOST, port: 0 })
      // the server reads everything up to the client's FIN, waits, then answers
      yield* Effect.forkScoped(
        server.run((socket) =>
          Effect.scoped(
            Effect.gen(function* () {
              const pull = (yield* socket.reader).pull
              const writer = yield* socket.writer
              let received = 0
              for (;;) {
                const exit = yield* Effect.exit(pull)
                if (Exit.isFailure(exit)) break
                for (const chunk of exit.value) received += chunk.length
              }
              yield* Effect.sleep("20 millis")
              yield* writer.write(`received ${received}`)
            })
          )
        )
      )
      const socket = yield* transport.connect({
        host: HOST,
        port: NodeListener.port(server.address) ?? 0,
        tls: false
      })
      const answer = yield* Effect.scoped(
        Effect.gen(function* () {
          const pull = (yield* socket.reader).pull
          const writerScope = yield* Scope.make()
          const writer = yield* Scope.provide(socket.writer, writerScope)
          yield* writer.write(Uint8Array.of(1, 2, 3, 4))
          yield* Scope.close(writerScope, Exit.void)
          const text: Array<string> = []
          for (;;) {
            const exit = yield* Effect.exit(pull)
            if (Exit.isFailure(exit)) return { text: text.join(""), end: socketErrorReason(exit) }
            for (const chunk of exit.value) text.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString())
          }
        })
      )
      expect(answer.text).toBe("received 4")
      expect(answer.end).toMatchObject({ _tag: "SocketCloseError", code: 1000 })
    })
  )

  it.live("fails to open with SocketOpenError when nothing listens", () =>
    Effect.gen(function* () {
      // a port that was free a moment ago: the listener closes with its scope
      const server = yield* Effect.scoped(NodeListener.make({ host: HOST, port: 0 }))
      const port = NodeListener.port(server.address) ?? 0
      const socket = yield* transport.connect({ host: HOST, port, tls: false })
      const exit = yield* Effect.exit(Effect.scoped(socket.reader))
      expect(socketErrorReason(exit)).toMatchObject({ _tag: "SocketOpenError", cause: { code: "ECONNREFUSED" } })
    })
  )

  it.live("echoes over TLS with a certificate trusted through ca", () =>
    Effect.gen(function* () {
      const certificate = SelfSignedCertificate.generate()
      const port = yield* echoServer(certificate)
      const byAddress = yield* transport.connect({ host: HOST, port, tls: { ca: certificate.cert } })
      expect(yield* roundTrip(byAddress, payload)).toEqual(payload)
      // a DNS name from the certificate, checked through servername
      const byName = yield* transport.connect({
        host: HOST,
        port,
        tls: { ca: certificate.cert, servername: "localhost" }
      })
      expect(yield* roundTrip(byName, payload)).toEqual(payload)
    })
  )

  it.live("refuses a TLS server whose certificate it does not trust", () =>
    Effect.gen(function* () {
      const port = yield* echoServer(SelfSignedCertificate.generate())
      const untrusted = yield* transport.connect({ host: HOST, port, tls: true })
      const exit = yield* Effect.exit(Effect.scoped(untrusted.reader))
      expect(socketErrorReason(exit)).toMatchObject({ _tag: "SocketOpenError", kind: "Unknown" })
      const reason = socketErrorReason(exit)
      const code = reason?._tag === "SocketOpenError" ? (reason.cause as { code?: string }).code : undefined
      expect(code).toMatch(/SELF_SIGNED/)
    })
  )

  it.live("refuses a certificate made for another host", () =>
    Effect.gen(function* () {
      const certificate = SelfSignedCertificate.generate({ hosts: ["node.example"] })
      const port = yield* echoServer(certificate)
      const socket = yield* transport.connect({ host: HOST, port, tls: { ca: certificate.cert } })
      const exit = yield* Effect.exit(Effect.scoped(socket.reader))
      expect(socketErrorReason(exit)).toMatchObject({
        _tag: "SocketOpenError",
        cause: { code: "ERR_TLS_CERT_ALTNAME_INVALID" }
      })
    })
  )

  it.live("a TLS server closes after a client dropped mid-handshake", () =>
    Effect.gen(function* () {
      const serverScope = yield* Scope.make()
      const accepted = yield* Deferred.make<void>()
      const port = yield* Scope.provide(
        echoServer(SelfSignedCertificate.generate(), (socket) =>
          Effect.andThen(Deferred.succeed(accepted, undefined), echo(socket))
        ),
        serverScope
      )
      // a port probe: connect over TCP, close without a handshake
      const probe = yield* Effect.callback<Net.Socket>((resume) => {
        const socket = Net.connect({ host: HOST, port }, () => socket.end(() => resume(Effect.succeed(socket))))
        socket.on("error", () => {})
      })
      const probeClosed = Effect.callback<void>((resume) => {
        if (probe.closed) return resume(Effect.void)
        probe.once("close", () => resume(Effect.void))
      })
      // the server took the probe's connection, its TLS handshake pending
      yield* Deferred.await(accepted)
      // closing completes: the probe's socket does not hold the listener open ...
      yield* Scope.close(serverScope, Exit.void)
      // ... the server closed that socket (the probe sees its end), and nothing listens any more
      yield* probeClosed
      const socket = yield* transport.connect({ host: HOST, port, tls: false })
      const exit = yield* Effect.exit(Effect.scoped(socket.reader))
      expect(socketErrorReason(exit)).toMatchObject({ _tag: "SocketOpenError", cause: { code: "ECONNREFUSED" } })
    })
  )

  it.live("fails with a Timeout SocketOpenError after openTimeout", () =>
    Effect.gen(function* () {
      // a TCP listener that never answers the TLS handshake
      const silent = Net.createServer()
      const sockets = new Set<Net.Socket>()
      silent.on("connection", (socket) => sockets.add(socket))
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => {
          silent.listen(0, HOST, () => resume(Effect.void))
        }),
        () =>
          Effect.callback<void>((resume) => {
            for (const socket of sockets) socket.destroy()
            silent.close(() => resume(Effect.void))
          })
      )
      const address = silent.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      const impatient = yield* NodeTransport.make({ openTimeout: "100 millis" })
      const socket = yield* impatient.connect({ host: HOST, port, tls: true })
      const exit = yield* Effect.exit(Effect.scoped(socket.reader))
      expect(socketErrorReason(exit)).toMatchObject({ _tag: "SocketOpenError", kind: "Timeout" })
    })
  )

  it.live("provides non-empty host and user names through its layer", () =>
    Effect.gen(function* () {
      const service = yield* Transport.Transport
      expect(service.hostname).not.toBe("")
      expect(service.username).not.toBe("")
    }).pipe(Effect.provide(NodeTransport.layer))
  )

  it.live("takes host and user names from its options", () =>
    Effect.gen(function* () {
      const service = yield* NodeTransport.make({ hostname: "probe", username: "operator" })
      expect(service.hostname).toBe("probe")
      expect(service.username).toBe("operator")
    })
  )
})

describe("SelfSignedCertificate", () => {
  it("names its hosts in the subject alternative names", () => {
    const { cert, key } = SelfSignedCertificate.generate({ hosts: ["probe.local", "10.0.0.1", "::1"], days: 2 })
    const x509 = new Crypto.X509Certificate(cert)
    expect(x509.subject).toBe("CN=probe.local")
    expect(x509.subjectAltName).toBe("DNS:probe.local, IP Address:10.0.0.1, IP Address:0:0:0:0:0:0:0:1")
    expect(x509.ca).toBe(true)
    expect(x509.checkPrivateKey(Crypto.createPrivateKey(key))).toBe(true)
    expect(x509.verify(x509.publicKey)).toBe(true)
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000
    expect(days).toBeGreaterThan(2)
    expect(days).toBeLessThan(2.01)
  })
})
