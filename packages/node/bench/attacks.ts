/**
 * The hostile clients of the load benchmark, in a process of their own (so that their work
 * does not slow the honest clients being measured). Each is a raw `node:net` socket that does
 * the LINK handshake properly and then sends only legal NCP, built byte by byte where the
 * encoder would need millions of objects:
 *
 * - `slow-reader-1mib`, `slow-reader-60mib`: echo requests of 1 MiB or 60 MiB (at most the
 *   server's packet limit), sent one after another for as long as the server takes them; the
 *   replies are never read.
 * - `empty-fields`: one packet of the server's packet limit (at most 64 MiB) made of empty
 *   12-byte fields (5,592,400 of them in 64 MiB).
 * - `empty-params`: one packet of the same size with one field of empty raw params (8 bytes
 *   each, 8.4 M in 64 MiB).
 * - `warning-storm`: one 8 MiB packet (at most the packet limit) of params with the unknown
 *   type code 0x99, 8 bytes each (about 1 M), 4,096 per field so that a cap on params per
 *   field does not refuse it before the warnings are made.
 * - `partial-packets`: a header declaring a packet of the packet limit (at most 64 MiB), all
 *   of it but the last 64 bytes, then one byte every `dripMillis`.
 * - `expensive-commands`: `DSPC TIME NSMP=4194304` pipelined `expensiveCommands` times to the
 *   simulated node; the replies (16 MiB each) are never read.
 * - `stat-flood`: `STAT` commands pipelined as fast as the socket takes them, replies read
 *   and dropped.
 *
 * The attacks of issue 23 ("No client takes the server from the others"):
 *
 * - `slot-hold`: one address (127.0.0.1) opens `attackers` connections (2,000 by default)
 *   before the honest clients connect; those the server greets complete the handshake with
 *   `LINK=0` and then send nothing, holding their slot; the rest are refused (503). The
 *   honest clients, each from an address of its own, connect while the slots are held.
 * - `slow-readers-16mib`: `DSPC TIME NSMP=4194304` (16 MiB captures) pipelined 4 times to the
 *   simulated node on each connection, whose replies are read at `slowReadBytesPerSecond`
 *   (16 kB/s) each.
 * - `tiny-segments`: a header declaring a packet of 1 MiB (at most the packet limit), then its
 *   body, in 4-byte writes, each after the previous one was handed to the kernel (one TCP
 *   segment each, Nagle off), for as long as the phase lasts.
 * - `keepalive-flood`: keep-alives back to back, 1,000 per write, as fast as the socket takes
 *   them; what comes back is dropped.
 * - `connect-burst`: at once, `attackers` connections (3,000 by default) from
 *   `burstAddresses` addresses (127.3.0.x); each waits for its greeting (HELO or 503) and
 *   closes. Nothing is opened before the attack starts.
 *
 * Every hostile client runs until its process is killed at the end of the phase. Except where
 * said, hostile clients read and drop whatever the server sends. `load.ts` forks
 * this as `load.mjs attacker` and drives it over IPC: `prepare` (connect and handshake every
 * attacker, build the payload), `go` (answered with `delivered` once every first payload is
 * in the kernel's hands), then `stats`; it is killed at the end of the phase.
 */
import type * as Net from "node:net"
import * as Addresses from "./addresses.js"
import * as Raw from "./raw.js"

/** The attacks, in the order the benchmark runs them. */
export const ATTACKS = [
  "slow-reader-1mib",
  "slow-reader-60mib",
  "empty-fields",
  "empty-params",
  "warning-storm",
  "partial-packets",
  "expensive-commands",
  "slot-hold",
  "slow-readers-16mib",
  "tiny-segments",
  "keepalive-flood",
  "connect-burst"
] as const

/** Floods for the STAT latency line: one client floods while another asks `STAT`. */
export const FLOODS = ["expensive-commands", "stat-flood"] as const

export type Attack = (typeof ATTACKS)[number] | (typeof FLOODS)[number]

const MIB = 1024 * 1024
/** The largest packet the hostile clients build, the default limit of effect-ncp before bounds. */
export const MAX_ATTACK_PACKET_BYTES = 64 * MIB
/** Size of the `warning-storm` packet before scaling to the packet limit. */
const WARNING_STORM_BYTES = 8 * MIB
const PARAMS_PER_STORM_FIELD = 4096
const UNKNOWN_TYPE_CODE = 0x99
const RAW_TYPE_CODE = 0x80
const U8_DATA_TYPE_CODE = 0x81
const HEADER_BYTES = 32
const FOOTER_BYTES = 8
const FIELD_HEADER_BYTES = 12
const PARAM_HEADER_BYTES = 8
const MAX_U24 = 0xffffff

/** What the benchmark tells the attacker process. */
export type AttackerCommand =
  | {
      readonly type: "prepare"
      readonly attack: Attack
      readonly port: number
      readonly attackers: number
      /** The server's packet limit as probed or configured; payloads are scaled to it. */
      readonly maxPacketBytes: number
      readonly expensiveCommands: number
      readonly dripMillis: number
      /** `slow-readers-16mib`: what each connection reads per second. */
      readonly slowReadBytesPerSecond: number
      /** `connect-burst`: how many source addresses the connections come from. */
      readonly burstAddresses: number
    }
  | { readonly type: "go" }
  | { readonly type: "stats" }

/** What the attacker process reports. */
export type AttackerMessage =
  | {
      readonly type: "ready"
      readonly connected: number
      readonly failed: number
      readonly firstError: string | undefined
      /** The size of one hostile packet (or request). */
      readonly payloadBytes: number
    }
  | {
      /** Every hostile client's first payload is written and drained, or its connection gone. */
      readonly type: "delivered"
      readonly millis: number
    }
  | {
      readonly type: "stats"
      /** Bytes handed to the kernel since the attack began. */
      readonly bytesSent: number
      readonly packetsSent: number
      /** Attackers whose connection the server has closed. */
      readonly dropped: number
      readonly firstDropReason: string | undefined
      /** Write calls made since the attack began (`tiny-segments`: one per segment). */
      readonly writes: number
      /** Bytes the attackers read (`slow-readers-16mib`). */
      readonly bytesRead: number
      /** How the server greeted new connections (`slot-hold`, `connect-burst`). */
      readonly greetings: Greetings
    }

/** How a server greeted new connections: with HELO, with `LINK ERRO 503`, or not at all. */
export interface Greetings {
  helo: number
  busy: number
  /** Connections that failed or closed before any greeting. */
  failed: number
  firstFailure: string | undefined
}

// --- packets built byte by byte ---

/** An identifier as its little-endian wire word: ASCII, NUL-padded to 4 bytes. */
const identifierWord = (name: string): number => {
  let word = 0
  for (let i = 0; i < 4; i++) word |= (i < name.length ? name.charCodeAt(i) : 0) << (8 * i)
  return word >>> 0
}

/** Writes a packet header declaring `size` bytes, and the footer when the buffer holds it. */
const writeHeader = (view: DataView, type: string, size: number): void => {
  const seconds = Math.floor(Date.now() / 1000)
  view.setUint32(0, 0xaabbccdd, true)
  view.setUint32(4, identifierWord(type), true)
  view.setUint32(8, size / 4, true)
  view.setUint32(12, 1, true)
  view.setUint32(16, 1, true)
  view.setUint32(20, seconds, true)
  view.setUint32(24, 0, true)
  view.setUint32(28, 0, true)
  if (view.byteLength >= size) {
    view.setUint32(size - 8, 0, true)
    view.setUint32(size - 4, 0xddccbbaa, true)
  }
}

const wholeWords = (bytes: number): number => Math.floor(bytes / 4) * 4

/** One packet of `DSPC` made of empty `ECHO` fields (ids 0, 1, ...), at most `bytes` long. */
export const emptyFieldsPacket = (bytes: number): Uint8Array => {
  const fields = Math.floor((bytes - HEADER_BYTES - FOOTER_BYTES) / FIELD_HEADER_BYTES)
  const size = HEADER_BYTES + FOOTER_BYTES + fields * FIELD_HEADER_BYTES
  const packet = new Uint8Array(size)
  const view = new DataView(packet.buffer)
  writeHeader(view, "DSPC", size)
  const name = identifierWord("ECHO")
  for (let i = 0, offset = HEADER_BYTES; i < fields; i++, offset += FIELD_HEADER_BYTES) {
    view.setUint32(offset, name, true)
    view.setUint32(offset + 4, FIELD_HEADER_BYTES / 4, true) // u24 size, then type byte 0
    view.setUint32(offset + 8, i, true)
  }
  return packet
}

/**
 * One packet of `DSPC` with one `ECHO` field of params with no value, each 8 bytes with type
 * `code`, at most `bytes` long; with `paramsPerField`, as many fields as it takes.
 */
export const emptyParamsPacket = (
  bytes: number,
  code: number,
  paramsPerField = Number.POSITIVE_INFINITY
): Uint8Array => {
  const budget = bytes - HEADER_BYTES - FOOTER_BYTES
  const perField = Math.min(paramsPerField, Math.floor((MAX_U24 * 4 - FIELD_HEADER_BYTES) / PARAM_HEADER_BYTES))
  const fullFieldBytes = FIELD_HEADER_BYTES + perField * PARAM_HEADER_BYTES
  const fullFields = Math.floor(budget / fullFieldBytes)
  const rest = budget - fullFields * fullFieldBytes
  const lastParams = Math.max(0, Math.floor((rest - FIELD_HEADER_BYTES) / PARAM_HEADER_BYTES))
  const counts = [...Array.from({ length: fullFields }, () => perField), ...(lastParams > 0 ? [lastParams] : [])]
  const size =
    HEADER_BYTES +
    FOOTER_BYTES +
    counts.reduce((sum, count) => sum + FIELD_HEADER_BYTES + count * PARAM_HEADER_BYTES, 0)
  const packet = new Uint8Array(size)
  const view = new DataView(packet.buffer)
  writeHeader(view, "DSPC", size)
  const fieldName = identifierWord("ECHO")
  const paramName = identifierWord(code === RAW_TYPE_CODE ? "RAW" : "UNKN")
  const paramWord = (PARAM_HEADER_BYTES / 4) | (code << 24)
  let offset = HEADER_BYTES
  counts.forEach((count, id) => {
    view.setUint32(offset, fieldName, true)
    view.setUint32(offset + 4, (FIELD_HEADER_BYTES + count * PARAM_HEADER_BYTES) / 4, true)
    view.setUint32(offset + 8, id, true)
    offset += FIELD_HEADER_BYTES
    for (let i = 0; i < count; i++, offset += PARAM_HEADER_BYTES) {
      view.setUint32(offset, paramName, true)
      view.setUint32(offset + 4, paramWord >>> 0, true)
    }
  })
  return packet
}

/**
 * The start of a `DSPC ECHO` packet declaring `size` bytes: header, field header and the
 * header of one data u8 param filling the field. The body is zeros, sent separately.
 */
export const partialPacketHead = (size: number): Uint8Array => {
  const head = new Uint8Array(HEADER_BYTES + FIELD_HEADER_BYTES + PARAM_HEADER_BYTES)
  const view = new DataView(head.buffer)
  writeHeader(view, "DSPC", size)
  view.setUint32(HEADER_BYTES, identifierWord("ECHO"), true)
  view.setUint32(HEADER_BYTES + 4, (size - HEADER_BYTES - FOOTER_BYTES) / 4, true)
  view.setUint32(HEADER_BYTES + 8, 1, true)
  view.setUint32(HEADER_BYTES + FIELD_HEADER_BYTES, identifierWord("DATA"), true)
  view.setUint32(
    HEADER_BYTES + FIELD_HEADER_BYTES + 4,
    (((size - HEADER_BYTES - FOOTER_BYTES - FIELD_HEADER_BYTES) / 4) | (U8_DATA_TYPE_CODE << 24)) >>> 0,
    true
  )
  return head
}

/** A `DSPC ECHO` request of `bytes` bytes in all: one data u8 param of zeros. */
export const echoRequest = (bytes: number): Uint8Array =>
  Raw.encode({
    type: "DSPC",
    fields: [
      {
        name: "ECHO",
        id: 1,
        params: [{ name: "DATA", value: { type: "u8[]", value: new Uint8Array(wholeWords(bytes - 60)) } }]
      }
    ]
  })

/** Packets back to back, as one write. */
const concat = (packets: ReadonlyArray<Uint8Array>): Uint8Array => {
  const out = new Uint8Array(packets.reduce((sum, packet) => sum + packet.length, 0))
  let offset = 0
  for (const packet of packets) {
    out.set(packet, offset)
    offset += packet.length
  }
  return out
}

/** `count` packets of one `DSPC TIME NSMP=4194304` command each (64 bytes each). */
const timeCommands = (count: number): Uint8Array =>
  concat(
    Array.from({ length: count }, (_, i) =>
      Raw.encode({
        type: "DSPC",
        fields: [{ name: "TIME", id: i + 1, params: [{ name: "NSMP", value: Raw.i32(4 * 1024 * 1024) }] }]
      })
    )
  )

/** `count` packets of one `STAT` command each, field ids from `first`. */
const statCommands = (first: number, count: number): Uint8Array =>
  concat(
    Array.from({ length: count }, (_, i) =>
      Raw.encode({ type: "STAT", fields: [{ name: "STAT", id: first + i, params: [] }] })
    )
  )

// --- the attacker process ---

interface Counters {
  /** Packets (or requests) written whole. */
  packetsSent: number
  writes: number
  bytesRead: number
  readonly greetings: Greetings
}

type Prepare = Extract<AttackerCommand, { type: "prepare" }>

/**
 * What one hostile client does once the attack starts; it calls `delivered` once its first
 * payload is in the kernel's hands (written and drained), so the benchmark can measure the
 * server while it deals with it.
 */
type Run = (socket: Net.Socket, counters: Counters, delivered: () => void) => Promise<void>

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** How an attack's connections are opened when the attackers prepare (default: a full handshake). */
type Open = (port: number, index: number, counters: Counters) => Promise<Raw.RawPeer>

/** Opens a connection and completes the client's handshake, from 127.0.0.1. */
const openHandshake: Open = (port) => Raw.connectRaw(port, { hostname: "attacker" })

/** The first packet a fresh connection gets: HELO, `LINK ERRO 503`, or nothing before it closes. */
const greeting = (peer: Raw.RawPeer, ms: number): Promise<"helo" | "busy" | Error> =>
  new Promise((resolve) => {
    const timer = setTimeout(() => resolve(new Error(`no greeting within ${ms} ms`)), ms)
    const done = (verdict: "helo" | "busy" | Error) => {
      clearTimeout(timer)
      peer.onPacket = () => {}
      resolve(verdict)
    }
    peer.onPacket = (packet) => {
      if (packet.type !== "LINK") return
      if (packet.fields.some((field) => field.name === "HELO")) done("helo")
      else if (packet.fields.some((field) => field.name === "ERRO" && Raw.paramOf(field, "ERRC") === 503)) done("busy")
    }
    peer.onClose((reason) => done(reason))
  })

/** Counts a greeting; `true` for HELO. */
const countGreeting = (greetings: Greetings, verdict: "helo" | "busy" | Error): boolean => {
  if (verdict === "helo") greetings.helo++
  else if (verdict === "busy") greetings.busy++
  else {
    greetings.failed++
    greetings.firstFailure ??= verdict.message
  }
  return verdict === "helo"
}

/** The client's handshake after HELO: CCRE (with `LINK=timeout`), SCAR, CARE, SCON. */
const linkAfterHelo = async (peer: Raw.RawPeer, timeout: number): Promise<void> => {
  const scar = peer.waitField("LINK", "SCAR", 10_000)
  await peer.send({
    type: "LINK",
    fields: [
      {
        name: "CCRE",
        id: 1,
        params: [
          { name: "CIW", value: Raw.str("attacker") },
          { name: "CUSR", value: Raw.str("bench") },
          { name: "CDOM", value: Raw.str("") },
          { name: "LINK", value: Raw.i32(timeout) }
        ]
      }
    ]
  })
  await scar
  const scon = peer.waitField("LINK", "SCON", 10_000)
  await peer.send({
    type: "LINK",
    fields: [{ name: "CARE", id: 2, params: [{ name: "CAR", value: Raw.str("attacker") }] }]
  })
  await scon
}

/** Writes `bytes` and resolves once Node has handed them to the kernel (the write's callback). */
const writeThrough = (socket: Net.Socket, bytes: Uint8Array): Promise<void> =>
  new Promise((resolve) => {
    if (socket.destroyed) return resolve()
    socket.write(bytes, () => resolve())
  })

/**
 * Reads `bytesPerSecond` from the socket, a tenth of it every 100 ms, with the stream paused
 * in between: Node holds at most its buffer's worth (16 KiB) beyond what was read, so the rest
 * waits in the kernel and the server's socket, as with a slow link. Counts what it read, and
 * calls `onRead` with this connection's total after each read.
 */
const readSlowly = (
  socket: Net.Socket,
  bytesPerSecond: number,
  counters: Counters,
  onRead: (total: number) => void
): void => {
  socket.removeAllListeners("data")
  socket.pause()
  const perTick = Math.max(1, Math.round(bytesPerSecond / 10))
  let total = 0
  const timer = setInterval(() => {
    for (let budget = perTick; budget > 0; ) {
      const available = socket.readableLength
      if (available === 0) {
        // nothing buffered: ask Node to read from the kernel again, for the next tick
        socket.read(0)
        break
      }
      const chunk: Buffer | null = socket.read(Math.min(budget, available))
      if (chunk === null) break
      budget -= chunk.length
      total += chunk.length
      counters.bytesRead += chunk.length
    }
    onRead(total)
  }, 100)
  socket.once("close", () => clearInterval(timer))
}

/** Drops whatever the server sends without framing it. */
const discardIncoming = (socket: Net.Socket): void => {
  socket.removeAllListeners("data")
  socket.on("data", () => {})
}

/**
 * Writes in 1 MiB slices, each after the previous one's backpressure, so that what reached
 * the kernel is known to within a slice (`stats`) and Node never holds a whole payload.
 */
const send = async (socket: Net.Socket, bytes: Uint8Array): Promise<void> => {
  for (let offset = 0; offset < bytes.length && !socket.destroyed; offset += MIB) {
    await Raw.write(socket, bytes.subarray(offset, offset + MIB))
  }
}

/** One attack: its payload, how its connections open, and what each does once it starts. */
interface Plan {
  readonly payloadBytes: number
  readonly run: Run
  /** How the connections are opened before the attack; default a full handshake each. */
  readonly open?: Open | undefined
  /** Connections opened before the attack. Default `attackers`. */
  readonly prepared?: number | undefined
  /** What the attack does once, at its start, besides the connections' `run`. */
  readonly start?: ((port: number, counters: Counters, delivered: () => void) => Promise<void>) | undefined
}

/** The payload of one attack, and what each attacker does with it. */
const plan = (command: Prepare): Plan => {
  const limit = wholeWords(Math.min(command.maxPacketBytes, MAX_ATTACK_PACKET_BYTES))
  const once = (packet: Uint8Array): { readonly payloadBytes: number; readonly run: Run } => ({
    payloadBytes: packet.length,
    run: async (socket, counters, delivered) => {
      discardIncoming(socket)
      await send(socket, packet)
      counters.packetsSent++
      delivered()
    }
  })
  switch (command.attack) {
    case "slow-reader-1mib":
    case "slow-reader-60mib": {
      const request = echoRequest(Math.min(command.attack === "slow-reader-1mib" ? MIB : 60 * MIB, limit))
      return {
        payloadBytes: request.length,
        run: async (socket, counters, delivered) => {
          socket.pause()
          while (!socket.destroyed) {
            await send(socket, request)
            if (socket.destroyed) break
            counters.packetsSent++
            delivered()
          }
        }
      }
    }
    case "empty-fields":
      return once(emptyFieldsPacket(limit))
    case "empty-params":
      return once(emptyParamsPacket(limit, RAW_TYPE_CODE))
    case "warning-storm":
      return once(emptyParamsPacket(Math.min(WARNING_STORM_BYTES, limit), UNKNOWN_TYPE_CODE, PARAMS_PER_STORM_FIELD))
    case "partial-packets": {
      const head = partialPacketHead(limit)
      const zeros = new Uint8Array(MIB)
      return {
        payloadBytes: limit,
        run: async (socket, _counters, delivered) => {
          discardIncoming(socket)
          await send(socket, head)
          let left = limit - 64 - head.length
          while (left > 0 && !socket.destroyed) {
            const chunk = zeros.subarray(0, Math.min(left, zeros.length))
            await send(socket, chunk)
            left -= chunk.length
          }
          delivered()
          const drip = zeros.subarray(0, 1)
          // the last 64 bytes, one at a time, never all of them within a phase
          for (let i = 0; i < 56 && !socket.destroyed; i++) {
            await sleep(command.dripMillis)
            await send(socket, drip)
          }
        }
      }
    }
    case "expensive-commands": {
      const commands = timeCommands(command.expensiveCommands)
      return {
        payloadBytes: commands.length,
        run: async (socket, counters, delivered) => {
          socket.pause()
          await send(socket, commands)
          counters.packetsSent += command.expensiveCommands
          delivered()
        }
      }
    }
    case "stat-flood":
      return {
        payloadBytes: statCommands(1, 100).length,
        run: async (socket, counters, delivered) => {
          discardIncoming(socket)
          for (let first = 1; !socket.destroyed; first += 100) {
            await send(socket, statCommands(first, 100))
            counters.packetsSent += 100
            delivered()
          }
        }
      }
    case "slot-hold":
      return {
        payloadBytes: 0,
        // before the honest clients connect: from one address, as many slots as the server
        // gives it, each linked with LINK=0 and then silent
        open: async (port, _index, counters) => {
          const peer = new Raw.RawPeer(await Addresses.connectFrom(port, Addresses.ATTACKER_ADDRESS))
          const verdict = await greeting(peer, 10_000)
          if (!countGreeting(counters.greetings, verdict)) {
            peer.destroy()
            throw verdict === "busy" ? new Error("refused: LINK ERRO 503") : verdict
          }
          await linkAfterHelo(peer, 0)
          return peer
        },
        run: async (socket, _counters, delivered) => {
          discardIncoming(socket)
          delivered()
        }
      }
    case "slow-readers-16mib": {
      const commands = timeCommands(4)
      return {
        payloadBytes: commands.length,
        run: async (socket, counters, delivered) => {
          // delivered once the first reply's bytes arrive (past the 4 ACKN, 64 bytes each):
          // the server is then holding a 16 MiB reply for this reader
          readSlowly(socket, command.slowReadBytesPerSecond, counters, (total) => {
            if (total > 1024) delivered()
          })
          await send(socket, commands)
          counters.packetsSent += 4
        }
      }
    }
    case "tiny-segments": {
      const size = wholeWords(Math.min(MIB, limit))
      const head = partialPacketHead(size)
      const segment = new Uint8Array(4)
      return {
        payloadBytes: size,
        run: async (socket, counters, delivered) => {
          discardIncoming(socket)
          // all but the last 64 bytes, 4 at a time: the packet never completes
          for (let at = 0; at < size - 64 && !socket.destroyed; at += 4) {
            await writeThrough(socket, at < head.length ? head.subarray(at, at + 4) : segment)
            counters.writes++
            if (at === 4096) delivered()
            // a write handed over at once calls back on the same turn: let the event loop
            // (other sockets, the benchmark's IPC) run between a connection's segments
            if (counters.writes % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve))
          }
          counters.packetsSent++
          delivered()
        }
      }
    }
    case "keepalive-flood": {
      const keepAlive = Raw.encode({ type: "LINK", id: 0, fields: [] })
      const batch = concat(Array.from({ length: 1000 }, () => keepAlive))
      return {
        payloadBytes: batch.length,
        run: async (socket, counters, delivered) => {
          discardIncoming(socket)
          while (!socket.destroyed) {
            await Raw.write(socket, batch)
            counters.writes++
            counters.packetsSent += 1000
            delivered()
          }
        }
      }
    }
    case "connect-burst":
      return {
        payloadBytes: 0,
        prepared: 0,
        run: async () => {},
        // every connection at once, each closed once greeted
        start: async (port, counters, delivered) => {
          await Promise.all(
            Array.from({ length: command.attackers }, async (_, index) => {
              try {
                const socket = await Addresses.connectFrom(
                  port,
                  Addresses.burstAddress(index, Math.max(1, command.burstAddresses))
                )
                const peer = new Raw.RawPeer(socket)
                countGreeting(counters.greetings, await greeting(peer, 30_000))
                peer.destroy()
              } catch (error) {
                countGreeting(counters.greetings, error instanceof Error ? error : new Error(String(error)))
              }
            })
          )
          delivered()
        }
      }
  }
}

/** Runs the attacker process, driven by the benchmark over IPC. */
export const runAttacker = (): void => {
  const reply = (message: AttackerMessage) => process.send?.(message)
  const counters: Counters = {
    packetsSent: 0,
    writes: 0,
    bytesRead: 0,
    greetings: { helo: 0, busy: 0, failed: 0, firstFailure: undefined }
  }
  // each peer with the bytes its socket had written when the attack began (the handshake)
  const peers: Array<{ readonly peer: Raw.RawPeer; baseline: number }> = []
  let dropped = 0
  let firstDropReason: string | undefined
  let attack: Plan | undefined
  let port = 0
  process.on("disconnect", () => process.exit(0))
  process.on("message", (command: AttackerCommand) => {
    switch (command.type) {
      case "prepare": {
        attack = plan(command)
        port = command.port
        const open = attack.open ?? openHandshake
        let failed = 0
        let firstError: string | undefined
        const connecting = Array.from({ length: attack.prepared ?? command.attackers }, (_, index) =>
          open(command.port, index, counters).then(
            (peer) => {
              peers.push({ peer, baseline: 0 })
              peer.onClose((reason) => {
                dropped++
                firstDropReason ??= reason.message
              })
            },
            (error: unknown) => {
              failed++
              firstError ??= error instanceof Error ? error.message : String(error)
            }
          )
        )
        const payloadBytes = attack.payloadBytes
        void Promise.all(connecting).then(() =>
          reply({ type: "ready", connected: peers.length, failed, firstError, payloadBytes })
        )
        return
      }
      case "go": {
        const run = attack?.run
        if (run === undefined) return
        const start = performance.now()
        const begin = attack?.start
        let waiting = peers.length + (begin === undefined ? 0 : 1)
        const deliveredOne = () => {
          if (--waiting === 0) reply({ type: "delivered", millis: performance.now() - start })
        }
        if (waiting === 0) reply({ type: "delivered", millis: 0 })
        if (begin !== undefined) {
          let delivered = false
          begin(port, counters, () => {
            if (delivered) return
            delivered = true
            deliveredOne()
          }).catch((error: unknown) => {
            firstDropReason ??= error instanceof Error ? error.message : String(error)
          })
        }
        for (const entry of peers) {
          entry.baseline = entry.peer.socket.bytesWritten
          let delivered = false
          const once = () => {
            if (delivered) return
            delivered = true
            deliveredOne()
          }
          // a connection the server ends counts as delivered: there is nothing more to wait for
          entry.peer.onClose(once)
          run(entry.peer.socket, counters, once).catch((error: unknown) => {
            firstDropReason ??= error instanceof Error ? error.message : String(error)
            once()
          })
        }
        return
      }
      case "stats": {
        // bytes handed to the kernel: written, less what still waits in Node's buffer
        const bytesSent = peers.reduce(
          (sum, { peer, baseline }) =>
            sum + Math.max(0, (peer.socket.bytesWritten ?? baseline) - peer.socket.writableLength - baseline),
          0
        )
        reply({
          type: "stats",
          bytesSent,
          packetsSent: counters.packetsSent,
          dropped,
          firstDropReason,
          writes: counters.writes,
          bytesRead: counters.bytesRead,
          greetings: counters.greetings
        })
        return
      }
    }
  })
}
