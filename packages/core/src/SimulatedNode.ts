/**
 * A simulated RFeye node: the NCP protocol handler of a node without radio hardware, and the
 * deterministic data it serves (sweeps and IQ captures), for demos, tests and the `ncp`
 * command's local mode. Users can test their own programs against it, in-process or over TCP.
 *
 * It behaves like a real node at the protocol level: `LINK HELO` with `NCPV`, `SEID` and
 * `MACA` ({@link hello}), the full handshake and keep-alive (from `Server`), then these
 * commands, each answered first with an `ACKN` reply and then with the data:
 *
 * | command     | params (all optional unless marked)                                         | data reply                                          |
 * | ----------- | --------------------------------------------------------------------------- | --------------------------------------------------- |
 * | `DSPC SWEP` | `FSTA`, `FSTP` (required): start and stop in MHz, as RFeye nodes take them; `BINS` bins (default 1024, 1..65536) | `FSTA`, `FSTP` (as sent), `BINS`, `PDAT` (data u8, {@link sweepLevelToDbm}) |
 * | `DSPC TIME` | `FCTR`: centre in MHz (default 2400); `NSMP` (or `SMPS`): complex samples (default 4096, up to 4 Mi); `SRAT`: sample rate in Hz (default 1e6) | `FCTR`, `SRAT`, `NSMP`, `DATA` (data i16, `I, Q, I, Q, ...`) |
 * | `STAT` any  | none                                                                        | `STAT="OK"`, `SEID`, `UPTM` (u32, seconds this connection has been open), `TEMP` (f32, °C) |
 *
 * `DSPC SWEP` and `DSPC TIME` also take `REPT`: how many data replies to send, 100 ms apart
 * (default 1; 0 repeats until the connection closes), so a client can follow a stream of them.
 * Commands run concurrently, so a repeating one does not block the others.
 *
 * Bad params (a missing or inverted range, a count out of range) get a reply with
 * `ERRO="..."`, `ERRC=400`; any other command a reply with `ERRO="Unknown command"`,
 * `ERRC=400`. `LINK` fields after the handshake are ignored.
 *
 * Sweep levels travel as data u8, one byte per frequency bin. This module owns the mapping
 * between that byte and a level in dBm ({@link sweepLevelToDbm}, {@link dbmToSweepLevel}),
 * so the generator here and every reader (the terminal chart) agree on it:
 *
 * ```text
 * dBm = byte / 2 - 147.5      byte 0 = -147.5 dBm, byte 255 = -20 dBm, 0.5 dB steps
 * ```
 *
 * The generators are pure: the same options (seed included) give the same samples.
 *
 * @example
 * ```ts
 * import { SimulatedNode } from "@effect-ncp/core"
 * import { NcpSocketServer } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 * import * as SocketServer from "effect/socket/SocketServer"
 *
 * // A simulated node on 127.0.0.1:9999 until interrupted.
 * const node = SimulatedNode.serve().pipe(
 *   Effect.provideServiceEffect(SocketServer.SocketServer, NcpSocketServer.make({ host: "127.0.0.1", port: 9999 })),
 *   Effect.scoped
 * )
 *
 * // Or only the data:
 * const levels = SimulatedNode.sweepSpectrum({ startHz: 88e6, stopHz: 108e6, seed: 7 })
 * SimulatedNode.sweepLevelToDbm(levels[0] ?? 0) // about -110 (the noise floor)
 * const iq = SimulatedNode.iqCapture({ samples: 1024, toneHz: 50_000, sampleRateHz: 1e6 })
 * iq.length // 2048: I and Q interleaved
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as SocketServer from "effect/socket/SocketServer"
import type * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import * as Field from "./Field.js"
import * as Server from "./Server.js"
import * as Value from "./Value.js"

/** The level in dBm of sweep byte 0. */
export const SWEEP_LEVEL_MIN_DBM = -147.5
/** dB per step of a sweep byte. */
export const SWEEP_LEVEL_STEP_DB = 0.5
/** The level in dBm of sweep byte 255. */
export const SWEEP_LEVEL_MAX_DBM = SWEEP_LEVEL_MIN_DBM + 255 * SWEEP_LEVEL_STEP_DB

/** The level in dBm a sweep byte (data u8 element) stands for: `byte / 2 - 147.5`. */
export const sweepLevelToDbm = (byte: number): number => byte * SWEEP_LEVEL_STEP_DB + SWEEP_LEVEL_MIN_DBM

/** The sweep byte nearest to a level in dBm, clamped to 0..255. */
export const dbmToSweepLevel = (dbm: number): number => {
  const byte = Math.round((dbm - SWEEP_LEVEL_MIN_DBM) / SWEEP_LEVEL_STEP_DB)
  return Number.isNaN(byte) ? 0 : Math.min(255, Math.max(0, byte))
}

/** Options of {@link sweepSpectrum}. */
export interface SweepOptions {
  readonly startHz: number
  readonly stopHz: number
  /** Number of frequency bins. Default 1024. */
  readonly bins?: number | undefined
  /** Seed of the noise and carrier placement. Default 1. */
  readonly seed?: number | undefined
}

/** The simulated noise floor in dBm. */
export const NOISE_FLOOR_DBM = -110

/**
 * A sweep of `bins` levels (data u8, {@link sweepLevelToDbm}) from `startHz` to `stopHz`: a
 * noise floor around {@link NOISE_FLOOR_DBM} with a few carriers, placed and sized by the seed.
 */
export const sweepSpectrum = (options: SweepOptions): Uint8Array => {
  const bins = Math.max(1, Math.floor(options.bins ?? 1024))
  const random = seededRandom(options.seed ?? 1)
  // Carriers first, so their placement depends on the seed only, not on the bin count.
  const carriers = Array.from({ length: 3 + Math.floor(random() * 3) }, () => ({
    center: 0.05 + random() * 0.9,
    // Half-width as a fraction of the span: from a narrowband signal to a broad one.
    width: 0.002 + random() * random() * 0.03,
    peakDbm: -75 + random() * 45
  }))
  const levels = new Uint8Array(bins)
  for (let bin = 0; bin < bins; bin++) {
    const position = bins === 1 ? 0.5 : bin / (bins - 1)
    // Noise power adds linearly; summing in mW keeps overlapping carriers realistic.
    let milliwatts = dbmToMilliwatts(NOISE_FLOOR_DBM + 2.5 * gaussian(random))
    for (const carrier of carriers) {
      const distance = (position - carrier.center) / carrier.width
      milliwatts += dbmToMilliwatts(carrier.peakDbm - 6 * distance * distance)
    }
    levels[bin] = dbmToSweepLevel(10 * Math.log10(milliwatts))
  }
  return levels
}

/** Options of {@link iqCapture}. */
export interface IqOptions {
  /** Number of complex samples. */
  readonly samples: number
  /** Seed of the noise and the tone's phase. Default 1. */
  readonly seed?: number | undefined
  /** Frequency of the tone, relative to the centre frequency (may be negative). Default 100 kHz. */
  readonly toneHz?: number | undefined
  /** Sample rate. Default 1 MHz. */
  readonly sampleRateHz?: number | undefined
}

/** Amplitude of the simulated tone, in 16-bit full-scale units (about -12 dBFS). */
export const IQ_TONE_AMPLITUDE = 8000
/** Standard deviation of the simulated noise on each of I and Q. */
export const IQ_NOISE_SIGMA = 150

/**
 * `samples` complex samples, interleaved `I, Q, I, Q, ...` as 16-bit integers: one tone at
 * `toneHz` plus Gaussian noise and a small DC offset.
 */
export const iqCapture = (options: IqOptions): Int16Array => {
  const count = Math.max(0, Math.floor(options.samples))
  const sampleRateHz = options.sampleRateHz ?? 1_000_000
  const toneHz = options.toneHz ?? 100_000
  const random = seededRandom(options.seed ?? 1)
  const phase = random() * 2 * Math.PI
  const step = (2 * Math.PI * toneHz) / sampleRateHz
  const out = new Int16Array(2 * count)
  for (let n = 0; n < count; n++) {
    const angle = phase + step * n
    out[2 * n] = clampInt16(IQ_TONE_AMPLITUDE * Math.cos(angle) + IQ_NOISE_SIGMA * gaussian(random) + 12)
    out[2 * n + 1] = clampInt16(IQ_TONE_AMPLITUDE * Math.sin(angle) + IQ_NOISE_SIGMA * gaussian(random) - 7)
  }
  return out
}

const dbmToMilliwatts = (dbm: number): number => 10 ** (dbm / 10)

const clampInt16 = (x: number): number => Math.max(-32768, Math.min(32767, Math.round(x)))

/** mulberry32: small, fast and good enough for simulated noise; the same seed gives the same sequence. */
const seededRandom = (seed: number): (() => number) => {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A standard normal sample (Box-Muller). */
const gaussian = (random: () => number): number => {
  const u = 1 - random()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random())
}

// ---------------------------------------------------------------------------------------------
// The protocol handler
// ---------------------------------------------------------------------------------------------

/** The simulated node's version string, sent as `NCPV` in `LINK HELO`. */
export const NCP_VERSION = "effect-ncp SimulatedNode 0.1.0"
/** The simulated node's id, sent as `SEID` in `LINK HELO` and in `STAT` replies. */
export const SERIAL = "simulated"
/** The simulated node's MAC address (a locally administered one), sent as `MACA`. */
export const MAC_ADDRESS = "02:00:5e:00:00:01"

/** The params of the simulated node's `LINK HELO`, as a real node sends them. */
export const hello: Field.ParamsInput = [
  ["NCPV", Value.string(NCP_VERSION)],
  ["SEID", Value.string(SERIAL)],
  ["MACA", Value.string(MAC_ADDRESS)]
]

/** The largest `BINS` a sweep takes. */
export const MAX_SWEEP_BINS = 65_536
/** The largest `NSMP` a time capture takes: 4 Mi complex samples, 16 MiB of data. */
export const MAX_IQ_SAMPLES = 4 * 1024 * 1024
/** The time between repeated data replies (`REPT`). */
export const REPEAT_INTERVAL_MILLIS = 100

const ackn: Field.ParamsInput = [["ACKN", Value.i32(1)]]

const badRequest = (detail: string): Field.ParamsInput => [
  ["ERRO", Value.string(detail)],
  ["ERRC", Value.i32(400)]
]

/** A numeric param as a number, `undefined` when missing, or `NaN` when it is not a number. */
const numberParam = (field: Field.Field, name: string): number | undefined => {
  const value = Field.get(field, name)
  if (value === undefined) return undefined
  if (typeof value === "number") return value
  if (typeof value === "bigint") return Number(value)
  return Number.NaN
}

/** A seed from the request, so the same request shows the same carriers. */
const seedOf = (...numbers: ReadonlyArray<number>): number => {
  let seed = 0x9e3779b9
  for (const n of numbers) seed = Math.imul(seed ^ Math.round(n * 1000), 0x85ebca6b) >>> 0
  return seed
}

type Plan =
  | { readonly _tag: "Reply"; readonly params: Field.ParamsInput; readonly repeat: number }
  | { readonly _tag: "Error"; readonly params: Field.ParamsInput }
  | { readonly _tag: "Ignore" }

const repeatOf = (field: Field.Field): number | string => {
  const repeat = numberParam(field, "REPT") ?? 1
  return Number.isInteger(repeat) && repeat >= 0 ? repeat : "REPT must be a whole number, 0 or more"
}

const sweepPlan = (field: Field.Field): Plan => {
  const start = numberParam(field, "FSTA")
  const stop = numberParam(field, "FSTP")
  const bins = numberParam(field, "BINS") ?? 1024
  const repeat = repeatOf(field)
  if (start === undefined || stop === undefined) {
    return { _tag: "Error", params: badRequest("SWEP needs FSTA and FSTP (start and stop in MHz)") }
  }
  if (!(Number.isFinite(start) && Number.isFinite(stop) && start >= 0 && stop > start)) {
    return { _tag: "Error", params: badRequest("SWEP needs 0 <= FSTA < FSTP (MHz)") }
  }
  if (!(Number.isInteger(bins) && bins >= 1 && bins <= MAX_SWEEP_BINS)) {
    return { _tag: "Error", params: badRequest(`BINS must be a whole number 1..${MAX_SWEEP_BINS}`) }
  }
  if (typeof repeat === "string") return { _tag: "Error", params: badRequest(repeat) }
  const levels = sweepSpectrum({ startHz: start * 1e6, stopHz: stop * 1e6, bins, seed: seedOf(start, stop) })
  return {
    _tag: "Reply",
    repeat,
    params: [
      ["FSTA", Field.getValue(field, "FSTA") ?? Value.f64(start)],
      ["FSTP", Field.getValue(field, "FSTP") ?? Value.f64(stop)],
      ["BINS", Value.i32(bins)],
      ["PDAT", Value.u8Array(levels)]
    ]
  }
}

const timePlan = (field: Field.Field): Plan => {
  const centre = numberParam(field, "FCTR") ?? 2400
  const samples = numberParam(field, "NSMP") ?? numberParam(field, "SMPS") ?? 4096
  const rate = numberParam(field, "SRAT") ?? 1_000_000
  const repeat = repeatOf(field)
  if (!(Number.isFinite(centre) && centre >= 0)) {
    return { _tag: "Error", params: badRequest("FCTR must be a frequency in MHz, 0 or more") }
  }
  if (!(Number.isInteger(samples) && samples >= 1 && samples <= MAX_IQ_SAMPLES)) {
    return { _tag: "Error", params: badRequest(`NSMP must be a whole number 1..${MAX_IQ_SAMPLES}`) }
  }
  if (!(Number.isFinite(rate) && rate > 0 && rate <= 2 ** 31 - 1)) {
    return { _tag: "Error", params: badRequest("SRAT must be a sample rate in Hz above 0") }
  }
  if (typeof repeat === "string") return { _tag: "Error", params: badRequest(repeat) }
  const iq = iqCapture({ samples, sampleRateHz: rate, toneHz: rate / 10, seed: seedOf(centre, samples, rate) })
  return {
    _tag: "Reply",
    repeat,
    params: [
      ["FCTR", Field.getValue(field, "FCTR") ?? (Number.isInteger(centre) ? Value.i32(centre) : Value.f64(centre))],
      ["SRAT", Number.isInteger(rate) ? Value.i32(rate) : Value.f64(rate)],
      ["NSMP", Value.i32(samples)],
      ["DATA", Value.i16Array(iq)]
    ]
  }
}

const planFor = (field: Connection.IncomingField, openedAt: number, now: number): Plan => {
  switch (field.packetType) {
    case "LINK":
      return { _tag: "Ignore" }
    case "STAT":
      return {
        _tag: "Reply",
        repeat: 1,
        params: [
          ["STAT", Value.string("OK")],
          ["SEID", Value.string(SERIAL)],
          ["UPTM", Value.u32(Math.floor((now - openedAt) / 1000))],
          ["TEMP", Value.f32(41.5)]
        ]
      }
    case "DSPC":
      if (field.name === "SWEP") return sweepPlan(field)
      if (field.name === "TIME") return timePlan(field)
  }
  return { _tag: "Error", params: badRequest("Unknown command") }
}

/** Answers one command field: `ACKN`, then the data (repeated as `REPT` asks), or an error. */
const respond = (field: Connection.IncomingField, openedAt: number): Effect.Effect<void, ConnectionError> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const plan = planFor(field, openedAt, now)
    switch (plan._tag) {
      case "Ignore":
        return Effect.void
      case "Error":
        return field.reply(plan.params)
      case "Reply": {
        const data = field.reply(plan.params)
        const repeated =
          plan.repeat === 1
            ? data
            : plan.repeat === 0
              ? Effect.forever(Effect.andThen(data, Effect.sleep(REPEAT_INTERVAL_MILLIS)))
              : Effect.repeat(Effect.andThen(data, Effect.sleep(REPEAT_INTERVAL_MILLIS)), { times: plan.repeat - 1 })
        return Effect.andThen(field.reply(ackn), Effect.asVoid(repeated))
      }
    }
  })

/**
 * The simulated node's connection handler, for `Server.serve` or `Server.layer`: answers every
 * command on the connection until it closes (see the module doc for the commands). Commands
 * run concurrently. The handler ends when the connection closes, also in the middle of a
 * repeating reply; another failure to send ends it with that error.
 *
 * @example
 * ```ts
 * import { Server, SimulatedNode } from "@effect-ncp/core"
 *
 * // The simulated node with a password.
 * const node = Server.serve(SimulatedNode.handler, {
 *   hello: SimulatedNode.hello,
 *   authenticate: ({ username }) => Effect.succeed(username === "admin")
 * })
 * ```
 */
export const handler = (connection: Connection.Connection): Effect.Effect<void, ConnectionError> =>
  Effect.flatMap(Clock.currentTimeMillis, (openedAt) =>
    connection.fields.pipe(
      Stream.mapEffect((field) => respond(field, openedAt), { concurrency: "unbounded", unordered: true }),
      Stream.runDrain,
      Effect.catchTag("ConnectionClosed", () => Effect.void)
    )
  )

/**
 * Serves the simulated node on the `SocketServer` in context until interrupted:
 * `Server.serve(handler, { hello, ...options })`.
 */
export const serve = <EA = never, RA = never>(
  options: Server.ServerOptions<EA, RA> = {}
): Effect.Effect<never, SocketServer.SocketServerError, SocketServer.SocketServer | RA> =>
  Server.serve(handler, { hello, ...options })

/** {@link serve} as a Layer: the simulated node runs while the layer is alive. */
export const layer = <EA = never, RA = never>(
  options: Server.ServerOptions<EA, RA> = {}
): Layer.Layer<never, never, SocketServer.SocketServer | RA> => Server.layer(handler, { hello, ...options })
