/**
 * A simulated RFeye node's data: deterministic sweeps and IQ captures for demos, tests and
 * the `ncp` command's local mode, without radio hardware.
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
 * import * as SimulatedNode from "@effect-ncp/core/SimulatedNode"
 *
 * const levels = SimulatedNode.sweepSpectrum({ startHz: 88e6, stopHz: 108e6, seed: 7 })
 * SimulatedNode.sweepLevelToDbm(levels[0] ?? 0) // about -110 (the noise floor)
 *
 * const iq = SimulatedNode.iqCapture({ samples: 1024, toneHz: 50_000, sampleRateHz: 1e6 })
 * iq.length // 2048: I and Q interleaved
 * ```
 *
 * @since 0.1.0
 */

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
