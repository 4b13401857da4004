/**
 * Simulated signals: the deterministic data the simulated node serves, sweeps over a noise floor
 * with a few carriers, and IQ captures of a tone in noise. The generators are pure: the same
 * options (seed included) give the same samples, in one piece or in slices; the `Effect`
 * versions generate in slices that yield, so a 4 Mi-sample capture never holds the event loop
 * for long.
 *
 * @example
 * ```ts
 * import { SweepLevel } from "@effect-ncp/core"
 * import { SimulatedSignal } from "@effect-ncp/core/testing"
 *
 * const levels = SimulatedSignal.sweepSpectrum({ startHz: 88e6, stopHz: 108e6, seed: 7 })
 * SweepLevel.toDbm(levels[0] ?? 0) // about -110 (the noise floor)
 * const iq = SimulatedSignal.iqCapture({ samples: 1024, toneHz: 50_000, sampleRateHz: 1e6 })
 * iq.length // 2048: I and Q interleaved
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as SweepLevel from "./SweepLevel.js"

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
 * A sweep of `bins` levels (data u8, {@link SweepLevel.toDbm}) from `startHz` to `stopHz`: a
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
      levels[bin] = SweepLevel.fromDbm(10 * Math.log10(milliwatts))
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
