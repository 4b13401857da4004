/**
 * Loopback benchmark: an NCP client and an echo server in one process, on 127.0.0.1. Each
 * client (effect-ncp or a hand-written `node:net` one) is measured against each server
 * (effect-ncp or a hand-written `node:net` one), so a gap can be placed on the client's side
 * or the server's. One JSON line per pair:
 *
 *   {"impl":"effect-ncp client / node:net server","client":"effect-ncp","server":"node:net",
 *    "rtt_per_s":N,"pipelined_fields_per_s":N,"stream_mb_per_s":N}
 *
 * The pairs of one side keep their short names, `"impl":"effect-ncp"` and `"impl":"node:net"`.
 *
 * - `rtt_per_s`: for 2 s, send `DSPC ECHO {SEQN=i, FCTR=2400}` and wait for its reply.
 * - `call_rtt_per_s` (effect-ncp clients): the same round trips as typed calls
 *   (`NcpCommand.call`, params and reply through their Schemas), beside `request`'s.
 * - `pipelined_fields_per_s`: send 20,000 `DSPC ECHO {SEQN=i}` without waiting, then receive
 *   every reply (from the first send to the last reply).
 * - `stream_mb_per_s`: one `DSPC STRM {NPKT=200}`; the server answers with 200 replies, each
 *   with `DATA` = 262,144 zero f32 (1 MiB); MiB of `DATA` received per second.
 *
 * The servers reply with the request's params (no ACKN). The effect-ncp side is the toolkit
 * end to end through its public API: `NodeNcp.connect` (`connection.request` for round trips,
 * `connection.send` then `Response.recv` for pipelining, `send` and `Response.fields` for the
 * stream) and `NodeNcp.make` serving an echo handler. The `node:net` side is raw sockets with
 * our codec and a hand-written handshake (`raw.ts`), what a hand-written Node client and server
 * reach: the ceiling.
 *
 * Select pairs and cases with arguments or environment variables (both lists, comma-separated):
 *
 *   npm run bench:loopback
 *   npm run bench:loopback -- --pairs=effect-ncp/node:net --cases=rtt
 *   BENCH_PAIRS=node:net/effect-ncp BENCH_CASES=pipelined,stream npm run bench:loopback
 *
 * A pair is `CLIENT/SERVER`, each `effect-ncp` or `node:net`; `BENCH_RTT_MS` sets the length of
 * the round-trip case (2000). Each pair first runs `BENCH_WARMUP_MS` (500; 0 for none) of round
 * trips and 2,000 pipelined fields unmeasured, so that the order of the pairs does not favour
 * the later ones. To profile one case, run the bundle under `node --cpu-prof` (see
 * BENCHMARKS.md).
 */
import { type Connection, Field, NcpCommand, WireSchema } from "@effect-ncp/core"
import { NodeNcp } from "@effect-ncp/node"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Echo from "./echo.js"
import * as Raw from "./raw.js"
import * as Settings from "./settings.js"

/** The figures of one pair; a case not selected is left out. */
export interface Figures {
  rtt_per_s?: number
  call_rtt_per_s?: number
  pipelined_fields_per_s?: number
  stream_mb_per_s?: number
}

/** A connected client, able to run each case against the server it is connected to. */
export interface Client {
  /** Round trips per second over `millis`. */
  readonly roundTrips: (millis: number) => Promise<number>
  /** Round trips per second over `millis` as typed calls, for a client that has them. */
  readonly typedCalls?: (millis: number) => Promise<number>
  /** Fields per second, `count` commands sent before any reply is read. */
  readonly pipelined: (count: number) => Promise<number>
  /** MiB of DATA per second, `packets` replies of 1 MiB to one command. */
  readonly stream: (packets: number) => Promise<number>
  readonly close: () => Promise<void>
}

/** A running echo server. */
export interface Server {
  readonly port: number
  readonly close: () => Promise<void>
}

const IMPLEMENTATIONS = ["effect-ncp", "node:net"] as const
type Implementation = (typeof IMPLEMENTATIONS)[number]

const RTT_MS = Number(process.env.BENCH_RTT_MS ?? 2000)
const WARMUP_MS = Number(process.env.BENCH_WARMUP_MS ?? 500)
const WARMUP_PIPELINED = 2000
const PIPELINED = 20_000
const STREAM_PACKETS = 200
const MIB = 1024 * 1024

const echoRequest = (seqn: number, withFrequency: boolean) => ({
  type: "DSPC",
  fields: [
    {
      name: "ECHO",
      id: seqn,
      params: withFrequency
        ? [
            { name: "SEQN", value: Raw.i32(seqn) },
            { name: "FCTR", value: Raw.i32(2400) }
          ]
        : [{ name: "SEQN", value: Raw.i32(seqn) }]
    }
  ]
})

// --- clients ---

/** The hand-written client: raw socket, our codec, one packet handler per case. */
const rawClient = async (port: number): Promise<Client> => {
  const peer = await Raw.connectRaw(port)
  const socket = peer.socket
  return {
    roundTrips: async (millis) => {
      let roundTrips = 0
      const start = performance.now()
      while (performance.now() - start < millis) {
        const seqn = roundTrips + 1
        await new Promise<void>((resolve, reject) => {
          peer.onPacket = (packet) => {
            const value = Raw.paramOf(packet.fields[0], "SEQN")
            if (value === seqn) resolve()
            else reject(new Error(`reply to SEQN ${String(value)}, expected ${seqn}`))
          }
          socket.write(Raw.encode(echoRequest(seqn, true)))
        })
        roundTrips++
      }
      return roundTrips / ((performance.now() - start) / 1000)
    },
    pipelined: async (count) => {
      const start = performance.now()
      const done = new Promise<void>((resolve) => {
        let received = 0
        peer.onPacket = (packet) => {
          received += packet.fields.length
          if (received === count) resolve()
        }
      })
      socket.cork()
      for (let i = 1; i <= count; i++) socket.write(Raw.encode(echoRequest(i, false)))
      socket.uncork()
      await done
      return count / ((performance.now() - start) / 1000)
    },
    stream: async (packets) => {
      const start = performance.now()
      let bytes = 0
      await new Promise<void>((resolve) => {
        let received = 0
        peer.onPacket = (packet) => {
          const data = Raw.paramOf(packet.fields[0], "DATA")
          if (data instanceof Float32Array) bytes += data.byteLength
          if (++received === packets) resolve()
        }
        socket.write(
          Raw.encode({
            type: "DSPC",
            fields: [{ name: "STRM", id: 1, params: [{ name: "NPKT", value: Raw.i32(packets) }] }]
          })
        )
      })
      return bytes / MIB / ((performance.now() - start) / 1000)
    },
    close: async () => {
      await new Promise<void>((resolve) => socket.end(resolve))
      socket.destroy()
    }
  }
}

/** The round trip as a described command. */
const EchoCommand = NcpCommand.make("DSPC", "ECHO", {
  params: { SEQN: WireSchema.i32, FCTR: WireSchema.i32 },
  reply: { SEQN: WireSchema.i32 }
})

/** The effect-ncp client: `NodeNcp.connect`, each case one Effect program. */
const effectClient = async (port: number): Promise<Client> => {
  const scope = Scope.makeUnsafe()
  const connection = await Effect.runPromise(
    NodeNcp.connect({ host: Raw.HOST, port, timeout: 60 }).pipe(Scope.provide(scope))
  )
  return {
    roundTrips: (millis) =>
      Effect.runPromise(
        Effect.gen(function* () {
          let roundTrips = 0
          const start = performance.now()
          while (performance.now() - start < millis) {
            const seqn = roundTrips + 1
            const reply = yield* connection.request("DSPC", "ECHO", [
              { name: "SEQN", value: Raw.i32(seqn) },
              { name: "FCTR", value: Raw.i32(2400) }
            ])
            const value = Field.get(reply, "SEQN")
            if (value !== seqn) return yield* Effect.die(new Error(`reply to SEQN ${String(value)}, expected ${seqn}`))
            roundTrips++
          }
          return roundTrips / ((performance.now() - start) / 1000)
        })
      ),
    typedCalls: (millis) =>
      Effect.runPromise(
        Effect.gen(function* () {
          let calls = 0
          const start = performance.now()
          while (performance.now() - start < millis) {
            const seqn = calls + 1
            const reply = yield* NcpCommand.call(connection, EchoCommand, { SEQN: seqn, FCTR: 2400 })
            if (reply.SEQN !== seqn)
              return yield* Effect.die(new Error(`reply to SEQN ${reply.SEQN}, expected ${seqn}`))
            calls++
          }
          return calls / ((performance.now() - start) / 1000)
        })
      ),
    pipelined: (count) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const start = performance.now()
          yield* Effect.scoped(
            Effect.gen(function* () {
              const responses: Array<Connection.Response> = []
              for (let i = 1; i <= count; i++) {
                responses.push(yield* connection.send("DSPC", "ECHO", [{ name: "SEQN", value: Raw.i32(i) }]))
              }
              for (const response of responses) yield* response.recv
            })
          )
          return count / ((performance.now() - start) / 1000)
        })
      ),
    stream: (packets) =>
      Effect.runPromise(
        Effect.gen(function* () {
          const start = performance.now()
          let bytes = 0
          yield* Effect.scoped(
            Effect.gen(function* () {
              const response = yield* connection.send("DSPC", "STRM", [{ name: "NPKT", value: Raw.i32(packets) }])
              yield* response.fields.pipe(
                Stream.take(packets),
                Stream.runForEach((field) =>
                  Effect.sync(() => {
                    const data = Field.get(field, "DATA")
                    if (data instanceof Float32Array) bytes += data.byteLength
                  })
                )
              )
            })
          )
          return bytes / MIB / ((performance.now() - start) / 1000)
        })
      ),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

const clients: Record<Implementation, (port: number) => Promise<Client>> = {
  "effect-ncp": effectClient,
  "node:net": rawClient
}

const servers: Record<Implementation, () => Promise<Server>> = {
  "effect-ncp": () => Echo.listenEcho(),
  "node:net": () => Raw.listenEcho()
}

// --- selection ---

const CASES = ["rtt", "call", "pipelined", "stream"] as const
type Case = (typeof CASES)[number]

const isImplementation = (name: string): name is Implementation => IMPLEMENTATIONS.some((impl) => impl === name)

/** Pairs in the order measured: one side first, then the mixed pairs. */
const PAIRS = ["effect-ncp/effect-ncp", "node:net/node:net", "effect-ncp/node:net", "node:net/effect-ncp"] as const

const selectedPairs = (): ReadonlyArray<readonly [Implementation, Implementation]> => {
  // BENCH_IMPL=NAME, one implementation on both sides, as before the mixed pairs
  const legacy = process.env.BENCH_IMPL
  const names = Settings.list("pairs", "BENCH_PAIRS", PAIRS) ?? (legacy !== undefined ? [`${legacy}/${legacy}`] : PAIRS)
  return names.map((name) => {
    const [client = "", server = ""] = name.split("/")
    if (!isImplementation(client) || !isImplementation(server)) throw new Error(`unknown pair ${name}`)
    return [client, server] as const
  })
}

const implName = (client: Implementation, server: Implementation): string =>
  client === server ? client : `${client} client / ${server} server`

const measure = async (client: Implementation, server: Implementation, cases: ReadonlySet<Case>): Promise<Figures> => {
  const running = await servers[server]()
  try {
    const connected = await clients[client](running.port)
    try {
      // unmeasured, so that the first pair measured does not pay for compiling the code paths
      if (WARMUP_MS > 0) {
        await connected.roundTrips(WARMUP_MS)
        await connected.pipelined(WARMUP_PIPELINED)
      }
      const figures: Figures = {}
      if (cases.has("rtt")) figures.rtt_per_s = Math.round(await connected.roundTrips(RTT_MS))
      if (cases.has("call") && connected.typedCalls !== undefined) {
        figures.call_rtt_per_s = Math.round(await connected.typedCalls(RTT_MS))
      }
      if (cases.has("pipelined")) figures.pipelined_fields_per_s = Math.round(await connected.pipelined(PIPELINED))
      if (cases.has("stream")) figures.stream_mb_per_s = Math.round(await connected.stream(STREAM_PACKETS))
      return figures
    } finally {
      await connected.close()
    }
  } finally {
    await running.close()
  }
}

const main = async () => {
  const pairs = selectedPairs()
  const cases = new Set(Settings.list("cases", "BENCH_CASES", CASES) ?? CASES)
  for (const [client, server] of pairs) {
    const figures = await measure(client, server, cases)
    console.log(JSON.stringify({ impl: implName(client, server), client, server, ...figures }))
  }
}

main().catch((error: unknown) => {
  console.error(error)
  process.exitCode = 1
})
