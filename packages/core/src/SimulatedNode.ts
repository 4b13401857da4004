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
 *
 * The commands are described once with Schemas ({@link Sweep}, {@link Time}, {@link Status}:
 * a worked catalog to copy): clients call them with `NcpCommand.call` and `NcpCommand.stream`,
 * and the node itself is a `CommandRouter` of them ({@link router}). So bad params (a missing
 * or inverted range, a count out of range, a param of the wrong type) get a reply with
 * `ERRO` naming the param and `ERRC=400`; any other command a reply with
 * `ERRO="Unknown command"`, `ERRC=400`. `LINK` fields after the handshake are ignored.
 *
 * **Fair service.** One connection's expensive commands cannot starve the others: each
 * connection runs at most four commands at once (a repeating one does not block the others;
 * later ones wait in order, then reading stops), and captures and sweeps are generated in
 * slices that yield ({@link iqCaptureEffect}), so a 4 Mi-sample capture never holds the event
 * loop for long.
 *
 * Sweep levels travel as data u8, one byte per frequency bin. This module owns the mapping
 * between that byte and a level in dBm ({@link sweepLevelToDbm}, {@link dbmToSweepLevel}),
 * so the generator here and every reader (the terminal chart) agree on it:
 *
 * ```text
 * dBm = byte / 2 - 147.5      byte 0 = -147.5 dBm, byte 255 = -20 dBm, 0.5 dB steps
 * ```
 *
 * The generators are pure: the same options (seed included) give the same samples, in one
 * piece or in slices.
 *
 * @example
 * ```ts
 * import { SimulatedNode } from "@effect-ncp/core/testing"
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
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as SocketServer from "effect/socket/SocketServer"
import * as CommandRouter from "./CommandRouter.js"
import type * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import * as NcpCommand from "./NcpCommand.js"
import * as Server from "./Server.js"
import * as Value from "./Value.js"
import * as WireSchema from "./WireSchema.js"

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
  const generator = sweepGenerator(options)
  generator.fill(generator.levels.length)
  return generator.levels
}

/**
 * {@link sweepSpectrum} as an Effect that computes {@link GENERATION_SLICE_BINS} bins at a time
 * and yields between slices, so that a large sweep never holds the event loop for long. The
 * same options give the same levels.
 */
export const sweepSpectrumEffect = (options: SweepOptions): Effect.Effect<Uint8Array> =>
  Effect.suspend(() => {
    const generator = sweepGenerator(options)
    return inSlices(generator.levels.length, GENERATION_SLICE_BINS, generator.fill, generator.levels)
  })

/** The sweep generator: `fill(to)` computes the next bins up to `to`, in order, from one random sequence. */
const sweepGenerator = (options: SweepOptions) => {
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
  let next = 0
  const fill = (to: number): void => {
    for (let bin = next; bin < to; bin++) {
      const position = bins === 1 ? 0.5 : bin / (bins - 1)
      // Noise power adds linearly; summing in mW keeps overlapping carriers realistic.
      let milliwatts = dbmToMilliwatts(NOISE_FLOOR_DBM + 2.5 * gaussian(random))
      for (const carrier of carriers) {
        const distance = (position - carrier.center) / carrier.width
        milliwatts += dbmToMilliwatts(carrier.peakDbm - 6 * distance * distance)
      }
      levels[bin] = dbmToSweepLevel(10 * Math.log10(milliwatts))
    }
    next = Math.max(next, to)
  }
  return { levels, fill }
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
  const generator = iqGenerator(options)
  generator.fill(generator.samples)
  return generator.iq
}

/**
 * {@link iqCapture} as an Effect that computes {@link GENERATION_SLICE_SAMPLES} samples at a
 * time and yields between slices, so that a capture of millions of samples never holds the
 * event loop for long. The same options give the same samples.
 */
export const iqCaptureEffect = (options: IqOptions): Effect.Effect<Int16Array> =>
  Effect.suspend(() => {
    const generator = iqGenerator(options)
    return inSlices(generator.samples, GENERATION_SLICE_SAMPLES, generator.fill, generator.iq)
  })

/** The IQ generator: `fill(to)` computes the next samples up to `to`, in order, from one random sequence. */
const iqGenerator = (options: IqOptions) => {
  const samples = Math.max(0, Math.floor(options.samples))
  const sampleRateHz = options.sampleRateHz ?? 1_000_000
  const toneHz = options.toneHz ?? 100_000
  const random = seededRandom(options.seed ?? 1)
  const phase = random() * 2 * Math.PI
  const step = (2 * Math.PI * toneHz) / sampleRateHz
  const iq = new Int16Array(2 * samples)
  let next = 0
  const fill = (to: number): void => {
    for (let n = next; n < to; n++) {
      const angle = phase + step * n
      iq[2 * n] = clampInt16(IQ_TONE_AMPLITUDE * Math.cos(angle) + IQ_NOISE_SIGMA * gaussian(random) + 12)
      iq[2 * n + 1] = clampInt16(IQ_TONE_AMPLITUDE * Math.sin(angle) + IQ_NOISE_SIGMA * gaussian(random) - 7)
    }
    next = Math.max(next, to)
  }
  return { samples, iq, fill }
}

/** Samples a generator computes between two yields: about 10 ms of work on a slow machine. */
export const GENERATION_SLICE_SAMPLES = 16_384
/** Sweep bins a generator computes between two yields. */
export const GENERATION_SLICE_BINS = 8_192

/** Runs `fill` up to `total` in slices of `slice`, yielding to other fibers (and I/O) between them. */
const inSlices = <A>(total: number, slice: number, fill: (to: number) => void, result: A): Effect.Effect<A> => {
  const from = (start: number): Effect.Effect<A> => {
    const to = Math.min(total, start + slice)
    fill(to)
    return to >= total
      ? Effect.succeed(result)
      : Effect.andThen(
          Effect.yieldNow,
          Effect.suspend(() => from(to))
        )
  }
  return from(0)
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
// The commands, described once: the catalog a client calls and the router serves
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

/** `REPT`: how many data replies (0: until the connection closes). */
const Repeat = WireSchema.i32.check(Schema.isGreaterThanOrEqualTo(0, { expected: "a whole number, 0 or more" }))

const sweepRange = "SWEP needs FSTA and FSTP (start and stop in MHz)"

/**
 * `DSPC SWEP`: a sweep from `FSTA` to `FSTP` (MHz, as RFeye nodes take them, whole or not) in
 * `BINS` bins (default 1024, 1..{@link MAX_SWEEP_BINS}), repeated `REPT` times
 * {@link REPEAT_INTERVAL_MILLIS} apart (default 1; 0 until the connection closes). Each reply
 * holds the range as sent, `BINS` and the levels, `PDAT` (data u8, {@link sweepLevelToDbm},
 * padded to whole words: `BINS` says how many are real). `BINS` is optional in the reply, for
 * nodes that do not send it.
 *
 * @example
 * ```ts
 * const sweep = yield* NcpCommand.call(connection, SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, BINS: 500 })
 * sweep.PDAT.subarray(0, sweep.BINS ?? sweep.PDAT.length)
 * ```
 */
export const Sweep = NcpCommand.make("DSPC", "SWEP", {
  params: Schema.Struct({
    FSTA: WireSchema.number.pipe(Schema.annotateKey({ messageMissingKey: sweepRange })),
    FSTP: WireSchema.number.pipe(Schema.annotateKey({ messageMissingKey: sweepRange })),
    BINS: Schema.optionalKey(
      WireSchema.i32.check(
        Schema.isBetween({ minimum: 1, maximum: MAX_SWEEP_BINS }, { expected: `a whole number 1..${MAX_SWEEP_BINS}` })
      )
    ),
    REPT: Schema.optionalKey(Repeat)
  }).check(
    Schema.makeFilter(({ FSTA, FSTP }) =>
      Number.isFinite(FSTA) && Number.isFinite(FSTP) && FSTA >= 0 && FSTP > FSTA
        ? true
        : { path: ["FSTP"], issue: "SWEP needs 0 <= FSTA < FSTP (MHz)" }
    )
  ),
  reply: {
    FSTA: WireSchema.number,
    FSTP: WireSchema.number,
    BINS: Schema.optionalKey(WireSchema.i32),
    PDAT: WireSchema.u8Array
  },
  stream: true
})

// NSMP, or SMPS as some nodes call it: IQ samples to capture.
const SampleCount = Schema.optionalKey(
  WireSchema.i32.check(
    Schema.isBetween({ minimum: 1, maximum: MAX_IQ_SAMPLES }, { expected: `a whole number 1..${MAX_IQ_SAMPLES}` })
  )
)

/**
 * `DSPC TIME`: an IQ capture of `NSMP` complex samples (or `SMPS`; default 4096, up to
 * {@link MAX_IQ_SAMPLES}) at `SRAT` Hz (default 1e6) around `FCTR` MHz (default 2400),
 * repeated `REPT` times as for {@link Sweep}. Each reply holds `DATA` (data i16, interleaved
 * `I, Q, I, Q, ...`), and `FCTR`, `SRAT`, `NSMP` (optional in the reply, for nodes that do not
 * send them).
 */
export const Time = NcpCommand.make("DSPC", "TIME", {
  params: {
    FCTR: Schema.optionalKey(
      WireSchema.number.check(
        Schema.isFinite(),
        Schema.isGreaterThanOrEqualTo(0, { expected: "a frequency in MHz, 0 or more" })
      )
    ),
    NSMP: SampleCount,
    SMPS: SampleCount,
    SRAT: Schema.optionalKey(
      WireSchema.number.check(
        Schema.isGreaterThan(0, { expected: "a sample rate in Hz above 0" }),
        Schema.isLessThanOrEqualTo(2 ** 31 - 1, { expected: "a sample rate in Hz up to 2^31-1" })
      )
    ),
    REPT: Schema.optionalKey(Repeat)
  },
  reply: {
    FCTR: Schema.optionalKey(WireSchema.number),
    SRAT: Schema.optionalKey(WireSchema.number),
    NSMP: Schema.optionalKey(WireSchema.i32),
    DATA: WireSchema.i16Array
  },
  stream: true
})

/**
 * `STAT`: the node's status, `STAT="OK"`, its id `SEID`, `UPTM` (u32, seconds this connection
 * has been open) and `TEMP` (f32, °C). The simulated node answers it whatever the field's name
 * (`STAT RFLO` as well as `STAT STAT`).
 */
export const Status = NcpCommand.make("STAT", "STAT", {
  reply: { STAT: WireSchema.string, SEID: WireSchema.string, UPTM: WireSchema.u32, TEMP: WireSchema.f32 }
})

/** Every command the simulated node serves. */
export const commands = [Sweep, Time, Status] as const

/** A seed from the request, so the same request shows the same carriers. */
const seedOf = (...numbers: ReadonlyArray<number>): number => {
  let seed = 0x9e3779b9
  for (const n of numbers) seed = Math.imul(seed ^ Math.round(n * 1000), 0x85ebca6b) >>> 0
  return seed
}

/**
 * `data`, then `repeat - 1` more, each {@link REPEAT_INTERVAL_MILLIS} after the previous one (0:
 * forever). The data are generated once: their seed is the request's, so every repeat is the
 * same, and a large capture took longer to generate than the interval.
 */
const repeated = <A>(data: Effect.Effect<A>, repeat: number): Stream.Stream<A> =>
  Stream.unwrap(
    Effect.map(data, (value) => {
      const later = Stream.fromEffectRepeat(Effect.as(Effect.sleep(REPEAT_INTERVAL_MILLIS), value))
      return Stream.concat(Stream.succeed(value), repeat === 0 ? later : Stream.take(later, repeat - 1))
    })
  )

/**
 * The simulated node's router, for a connection opened at `openedAt` (epoch millis, Clock):
 * the commands above, each generated in slices that yield.
 */
export const router = (openedAt: number) =>
  CommandRouter.make(
    CommandRouter.route(Sweep, (params) => {
      const bins = params.BINS ?? 1024
      const sweep = Effect.map(
        sweepSpectrumEffect({
          startHz: params.FSTA * 1e6,
          stopHz: params.FSTP * 1e6,
          bins,
          seed: seedOf(params.FSTA, params.FSTP)
        }),
        (levels) => ({ FSTA: params.FSTA, FSTP: params.FSTP, BINS: bins, PDAT: levels })
      )
      return repeated(sweep, params.REPT ?? 1)
    }),
    CommandRouter.route(Time, (params) => {
      const centre = params.FCTR ?? 2400
      const samples = params.NSMP ?? params.SMPS ?? 4096
      const rate = params.SRAT ?? 1_000_000
      const capture = Effect.map(
        iqCaptureEffect({ samples, sampleRateHz: rate, toneHz: rate / 10, seed: seedOf(centre, samples, rate) }),
        (iq) => ({ FCTR: centre, SRAT: rate, NSMP: samples, DATA: iq })
      )
      return repeated(capture, params.REPT ?? 1)
    }),
    CommandRouter.route(
      Status,
      () =>
        Effect.map(Clock.currentTimeMillis, (now) => ({
          STAT: "OK",
          SEID: SERIAL,
          UPTM: Math.floor((now - openedAt) / 1000),
          TEMP: 41.5
        })),
      { anyFieldName: true }
    )
  )

/** Options of {@link makeHandler}. */
export interface HandlerOptions {
  /** Commands of one connection that run at once. Default `CommandRouter.DEFAULT_CONCURRENCY` (4). */
  readonly concurrency?: number | undefined
}

/**
 * The simulated node's connection handler with these options: its {@link router}, answering
 * each command with `ACKN` first, anything else with `ERRO="Unknown command"`, `ERRC=400`.
 */
export const makeHandler =
  (options: HandlerOptions = {}) =>
  (connection: Connection.Connection): Effect.Effect<void, ConnectionError> =>
    Effect.flatMap(Clock.currentTimeMillis, (openedAt) =>
      CommandRouter.toHandler(router(openedAt), { acknowledge: true, concurrency: options.concurrency })(connection)
    )

/**
 * The simulated node's connection handler, for `Server.serve` or `Server.layer`: answers every
 * command on the connection until it closes (see the module doc for the commands), at most
 * four at once. The handler ends when the connection closes, also in the middle of a
 * repeating reply; another failure to send ends it with that error.
 *
 * @example
 * ```ts
 * import { Server } from "@effect-ncp/core"
 * import { SimulatedNode } from "@effect-ncp/core/testing"
 *
 * // The simulated node with a password.
 * const node = Server.serve(SimulatedNode.handler, {
 *   hello: SimulatedNode.hello,
 *   authenticate: ({ username }) => Effect.succeed(username === "admin")
 * })
 * ```
 */
export const handler: (connection: Connection.Connection) => Effect.Effect<void, ConnectionError> = makeHandler()

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
