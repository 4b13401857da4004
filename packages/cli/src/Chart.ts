/**
 * Terminal pictures of node data: a sweep as a spectrum chart, an IQ capture as a summary.
 *
 * {@link spectrumChart} draws sweep levels (data u8, converted to dBm by the one mapping in
 * `SweepLevel.toDbm`) over the frequency range of the sweep, with a level axis
 * in dBm on the left and a frequency axis in MHz below. Each column shows the highest level of
 * the bins it covers, so a narrow carrier stays visible however many bins share a column.
 * Plain text: Unicode block characters by default, or pure ASCII; no colors.
 *
 * @example
 * ```ts
 * import { Chart } from "@effect-ncp/cli"
 * import { SimulatedSignal } from "@effect-ncp/core/testing"
 *
 * const sweep = SimulatedSignal.sweepSpectrum({ startHz: 88e6, stopHz: 108e6 })
 * console.log(Chart.spectrumChart(sweep, { startHz: 88e6, stopHz: 108e6 }))
 * console.log(Chart.iqSummary(SimulatedSignal.iqCapture({ samples: 4096 }), 1e6))
 * ```
 *
 * @module
 * @since 0.1.0
 */
import { SweepLevel } from "@effect-ncp/core"

/** Options of {@link spectrumChart}. */
export interface SpectrumChartOptions {
  /** Frequency of the first bin. */
  readonly startHz: number
  /** Frequency of the last bin. */
  readonly stopHz: number
  /** Plot columns, axes not included. Default 72. */
  readonly width?: number | undefined
  /** Plot rows, axes not included. Default 16. */
  readonly height?: number | undefined
  /** Level at the bottom of the plot. Default: the lowest level, rounded down to 10 dB. */
  readonly minDbm?: number | undefined
  /** Level at the top of the plot. Default: the highest level, rounded up to 10 dB. */
  readonly maxDbm?: number | undefined
  /** `"unicode"` (block characters, the default) or `"ascii"`. */
  readonly charset?: "unicode" | "ascii" | undefined
}

/** The default plot size: 72 columns by 16 rows, which with the axes fits an 80-column terminal. */
export const defaultWidth = 72
/** The default plot height in rows (see {@link defaultWidth}). */
export const defaultHeight = 16

const glyphs = {
  unicode: {
    eighths: [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"],
    vertical: "│",
    tick: "┤",
    corner: "└",
    horizontal: "─",
    axisTick: "┬"
  },
  ascii: {
    eighths: [" ", " ", " ", " ", "#", "#", "#", "#", "#"],
    vertical: "|",
    tick: "+",
    corner: "+",
    horizontal: "-",
    axisTick: "+"
  }
} as const

/**
 * A sweep as a text chart: a title line, the level axis's unit, `height` plot rows, the
 * frequency axis and its labels in MHz (`height + 4` lines in all).
 */
export const spectrumChart = (sweep: ArrayLike<number>, options: SpectrumChartOptions): string => {
  const width = Math.max(8, Math.floor(options.width ?? defaultWidth))
  const height = Math.max(2, Math.floor(options.height ?? defaultHeight))
  const glyph = glyphs[options.charset ?? "unicode"]
  const { startHz, stopHz } = options
  const dbm = Array.from(sweep, SweepLevel.toDbm)

  const columns = columnPeaks(dbm, width)
  const finite = columns.filter(Number.isFinite)
  const lowest = finite.length === 0 ? -120 : Math.min(...finite)
  const highest = finite.length === 0 ? -20 : Math.max(...finite)
  const minDbm = options.minDbm ?? Math.floor(lowest / 10) * 10
  let maxDbm = options.maxDbm ?? Math.ceil(highest / 10) * 10
  if (maxDbm <= minDbm) maxDbm = minDbm + 10
  const dbPerRow = (maxDbm - minDbm) / height

  // A row is labelled with the level of its top edge, every 4th row; the axis line below the
  // plot carries the level of the bottom edge.
  const labelFor = (row: number): string => formatNumber(maxDbm - row * dbPerRow, 1)
  const labelledRows = (row: number) => row % 4 === 0
  let labelWidth = Math.max(3, labelFor(height).length)
  for (let row = 0; row < height; row++) if (labelledRows(row)) labelWidth = Math.max(labelWidth, labelFor(row).length)

  const lines: Array<string> = [title(dbm, startHz, stopHz)]
  lines.push(`${"dBm".padStart(labelWidth)}`)
  for (let row = 0; row < height; row++) {
    const fromBottom = height - 1 - row
    let line = labelledRows(row)
      ? `${labelFor(row).padStart(labelWidth)} ${glyph.tick}`
      : `${" ".repeat(labelWidth)} ${glyph.vertical}`
    for (const level of columns) {
      const filled = Number.isFinite(level) ? (level - minDbm) / dbPerRow - fromBottom : 0
      const eighths = Math.max(0, Math.min(8, Math.round(filled * 8)))
      line += glyph.eighths[eighths]
    }
    lines.push(line)
  }

  // Ticks at exact fractions of the span: the column whose frequency range holds that frequency.
  const fractions = [0, 0.25, 0.5, 0.75, 1]
  const ticks = fractions.map((fraction) => Math.min(width - 1, Math.floor(fraction * width)))
  let axis = `${labelFor(height).padStart(labelWidth)} ${glyph.corner}`
  for (let column = 0; column < width; column++) axis += ticks.includes(column) ? glyph.axisTick : glyph.horizontal
  lines.push(axis)

  // Labels centred under their ticks, dropped where they would collide with the previous one.
  const offset = labelWidth + 2
  let labels = ""
  fractions.forEach((fraction, index) => {
    const text = formatMHz(startHz + fraction * (stopHz - startHz))
    const column = ticks[index] ?? 0
    const at = Math.max(offset + column - Math.floor(text.length / 2), labels.length === 0 ? 0 : labels.length + 1)
    if (at + text.length <= offset + width + 4) labels = labels.padEnd(at) + text
  })
  lines.push(`${labels} MHz`)
  return lines.join("\n")
}

/** The peak of the levels each of `width` columns covers (`NaN` for a sweep without bins). */
const columnPeaks = (dbm: ReadonlyArray<number>, width: number): Array<number> => {
  const count = dbm.length
  const columns: Array<number> = []
  for (let column = 0; column < width; column++) {
    if (count === 0) {
      columns.push(Number.NaN)
      continue
    }
    const from = Math.floor((column * count) / width)
    const to = Math.max(from + 1, Math.floor(((column + 1) * count) / width))
    let peak = Number.NEGATIVE_INFINITY
    for (let i = from; i < to && i < count; i++) peak = Math.max(peak, dbm[i] ?? Number.NEGATIVE_INFINITY)
    columns.push(peak)
  }
  return columns
}

const title = (dbm: ReadonlyArray<number>, startHz: number, stopHz: number): string => {
  const range = `${formatMHz(startHz)}-${formatMHz(stopHz)} MHz, ${dbm.length} bins`
  if (dbm.length === 0) return range
  let peakIndex = 0
  for (let i = 1; i < dbm.length; i++) if ((dbm[i] ?? 0) > (dbm[peakIndex] ?? 0)) peakIndex = i
  const peakHz = dbm.length === 1 ? startHz : startHz + (peakIndex / (dbm.length - 1)) * (stopHz - startHz)
  return `${range}, peak ${formatNumber(dbm[peakIndex] ?? 0, 1)} dBm at ${formatMHz(peakHz)} MHz`
}

/** Hz as MHz with at most 3 decimals, trailing zeros dropped: `88`, `93.5`, `2400.125`. */
const formatMHz = (hz: number): string => formatNumber(hz / 1e6, 3)

const formatNumber = (n: number, decimals: number): string => {
  const fixed = n.toFixed(decimals)
  const trimmed = fixed.includes(".") ? fixed.replace(/\.?0+$/, "") : fixed
  return trimmed === "-0" ? "0" : trimmed
}

/**
 * A few lines describing an IQ capture (`I, Q, I, Q, ...` as 16-bit integers): sample count
 * (and duration, given the sample rate), RMS and peak magnitude (also in dBFS, full scale
 * 32768), the DC offset of I and Q, and the strongest tone, found with an FFT of up to the
 * first 4096 samples (in Hz given the sample rate, else in cycles per sample).
 */
export const iqSummary = (samples: Int16Array, sampleRateHz?: number): string => {
  const count = Math.floor(samples.length / 2)
  const duration =
    sampleRateHz !== undefined && sampleRateHz > 0
      ? ` at ${formatNumber(sampleRateHz / 1e6, 6)} MS/s (${formatNumber((count / sampleRateHz) * 1e3, 3)} ms)`
      : ""
  const lines = [`IQ capture: ${count} samples${duration}`]
  if (count === 0) return lines.join("\n")
  let sumI = 0
  let sumQ = 0
  let power = 0
  let peak = 0
  for (let n = 0; n < count; n++) {
    const i = samples[2 * n] ?? 0
    const q = samples[2 * n + 1] ?? 0
    sumI += i
    sumQ += q
    const magnitude2 = i * i + q * q
    power += magnitude2
    if (magnitude2 > peak) peak = magnitude2
  }
  const rms = Math.sqrt(power / count)
  const peakMagnitude = Math.sqrt(peak)
  lines.push(`RMS:  ${formatNumber(rms, 1)} (${dbfs(rms)} dBFS)`)
  lines.push(`peak: ${formatNumber(peakMagnitude, 1)} (${dbfs(peakMagnitude)} dBFS)`)
  lines.push(`DC:   I ${formatNumber(sumI / count, 1)}, Q ${formatNumber(sumQ / count, 1)}`)
  const tone = strongestTone(samples, count)
  if (tone !== undefined) {
    const frequency =
      sampleRateHz !== undefined && sampleRateHz > 0
        ? `${formatNumber((tone.cyclesPerSample * sampleRateHz) / 1e3, 3)} kHz`
        : `${formatNumber(tone.cyclesPerSample, 4)} cycles/sample`
    lines.push(`tone: ${frequency} (${dbfs(tone.amplitude)} dBFS)`)
  }
  return lines.join("\n")
}

const dbfs = (magnitude: number): string =>
  magnitude <= 0 ? "-inf" : formatNumber(20 * Math.log10(magnitude / 32768), 1)

const MAX_FFT = 4096

/** The strongest non-DC FFT bin of the first power-of-two block of samples (Hann window). */
const strongestTone = (
  samples: Int16Array,
  count: number
): { readonly cyclesPerSample: number; readonly amplitude: number } | undefined => {
  let size = 1
  while (size * 2 <= Math.min(count, MAX_FFT)) size *= 2
  if (size < 8) return undefined
  const re = new Float64Array(size)
  const im = new Float64Array(size)
  let windowSum = 0
  for (let n = 0; n < size; n++) {
    const w = 0.5 - 0.5 * Math.cos((2 * Math.PI * n) / size)
    windowSum += w
    re[n] = (samples[2 * n] ?? 0) * w
    im[n] = (samples[2 * n + 1] ?? 0) * w
  }
  fft(re, im)
  let best = -1
  let bestPower = -1
  // Bins next to DC are skipped: the window spreads the DC offset into them.
  for (let k = 2; k < size - 1; k++) {
    const p = (re[k] ?? 0) ** 2 + (im[k] ?? 0) ** 2
    if (p > bestPower) {
      bestPower = p
      best = k
    }
  }
  if (best < 0) return undefined
  const signed = best >= size / 2 ? best - size : best
  return { cyclesPerSample: signed / size, amplitude: Math.sqrt(bestPower) / windowSum }
}

/** In-place radix-2 FFT; `re.length` must be a power of two. */
const fft = (re: Float64Array, im: Float64Array): void => {
  const n = re.length
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1
    for (; j & bit; bit >>= 1) j ^= bit
    j ^= bit
    if (i < j) {
      const tr = re[i] ?? 0
      re[i] = re[j] ?? 0
      re[j] = tr
      const ti = im[i] ?? 0
      im[i] = im[j] ?? 0
      im[j] = ti
    }
  }
  for (let length = 2; length <= n; length <<= 1) {
    const angle = (-2 * Math.PI) / length
    const wr = Math.cos(angle)
    const wi = Math.sin(angle)
    for (let start = 0; start < n; start += length) {
      let cr = 1
      let ci = 0
      for (let k = 0; k < length / 2; k++) {
        const a = start + k
        const b = a + length / 2
        const xr = (re[b] ?? 0) * cr - (im[b] ?? 0) * ci
        const xi = (re[b] ?? 0) * ci + (im[b] ?? 0) * cr
        re[b] = (re[a] ?? 0) - xr
        im[b] = (im[a] ?? 0) - xi
        re[a] = (re[a] ?? 0) + xr
        im[a] = (im[a] ?? 0) + xi
        const next = cr * wr - ci * wi
        ci = cr * wi + ci * wr
        cr = next
      }
    }
  }
}
