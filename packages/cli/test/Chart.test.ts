import { SimulatedSignal } from "@effect-ncp/core/testing"
import { describe, expect, it } from "vitest"
import * as Chart from "../src/Chart.js"

const sweep = SimulatedSignal.sweepSpectrum({ startHz: 88e6, stopHz: 108e6, bins: 500, seed: 3 })

describe("Chart.spectrumChart", () => {
  it("has a title, the level axis, height plot rows, the frequency axis and its labels", () => {
    const lines = Chart.spectrumChart(sweep, { startHz: 88e6, stopHz: 108e6 }).split("\n")
    expect(lines).toHaveLength(Chart.defaultHeight + 4)
    expect(lines[0]).toMatch(/^88-108 MHz, 500 bins, peak -?\d+(\.\d)? dBm at [\d.]+ MHz$/)
    expect(lines[1]?.trim()).toBe("dBm")
    const plot = lines.slice(2, 2 + Chart.defaultHeight)
    const axisColumn = plot[0]?.indexOf("┤") ?? -1
    expect(axisColumn).toBeGreaterThan(0)
    for (const row of plot) {
      expect(row).toHaveLength(axisColumn + 1 + Chart.defaultWidth)
      expect(["┤", "│"]).toContain(row[axisColumn])
    }
    const axis = lines[2 + Chart.defaultHeight] ?? ""
    expect(axis).toHaveLength(axisColumn + 1 + Chart.defaultWidth)
    expect(axis[axisColumn]).toBe("└")
    const labels = lines[3 + Chart.defaultHeight] ?? ""
    expect(labels).toMatch(/^\s*88 .*98 .*108 MHz$/)
  })

  it("labels the level axis in dBm, highest at the top", () => {
    const lines = Chart.spectrumChart(sweep, { startHz: 88e6, stopHz: 108e6, minDbm: -120, maxDbm: -20 }).split("\n")
    expect(lines[2]).toMatch(/^\s*-20 ┤/)
    const levels = lines
      .slice(2, 2 + Chart.defaultHeight)
      .map((row) => /^\s*(-?[\d.]+) ┤/.exec(row)?.[1])
      .filter((label) => label !== undefined)
      .map(Number)
    expect(levels.length).toBeGreaterThanOrEqual(3)
    expect([...levels].sort((a, b) => b - a)).toEqual(levels)
  })

  it("honours width and height", () => {
    const lines = Chart.spectrumChart(sweep, { startHz: 1e9, stopHz: 2e9, width: 40, height: 6 }).split("\n")
    expect(lines).toHaveLength(10)
    const axisColumn = lines[2]?.indexOf("┤") ?? -1
    for (const row of lines.slice(2, 9)) expect(row).toHaveLength(axisColumn + 1 + 40)
    expect(lines[9]).toMatch(/^\s*1000 .*2000 MHz$/)
  })

  it("draws the carriers above the noise floor", () => {
    const lines = Chart.spectrumChart(sweep, { startHz: 88e6, stopHz: 108e6, minDbm: -120, maxDbm: -20 }).split("\n")
    const plot = lines.slice(2, 2 + Chart.defaultHeight)
    // The noise floor (about -110 dBm) fills only the lowest rows; carriers reach higher.
    expect(plot.at(-1)).toMatch(/█{60,}/)
    expect(plot.slice(0, 8).some((row) => /[▁-█]/.test(row.slice(row.indexOf("┤") + 1)))).toBe(true)
  })

  it("has a pure ASCII form", () => {
    const chart = Chart.spectrumChart(sweep, { startHz: 88e6, stopHz: 108e6, charset: "ascii" })
    expect(chart).toMatch(/^[\x20-\x7e\n]*$/)
    expect(chart).toContain("#")
  })

  it("draws an empty sweep without failing", () => {
    expect(Chart.spectrumChart(new Uint8Array(0), { startHz: 0, stopHz: 1e6 }).split("\n")).toHaveLength(20)
  })
})

describe("Chart.iqSummary", () => {
  it("reports count, RMS, peak, DC and the strongest tone", () => {
    const iq = SimulatedSignal.iqCapture({ samples: 4096, toneHz: 125_000, sampleRateHz: 1e6, seed: 5 })
    const summary = Chart.iqSummary(iq, 1e6)
    expect(summary).toContain("IQ capture: 4096 samples at 1 MS/s (4.096 ms)")
    expect(summary).toMatch(/RMS: +\d+(\.\d)? \(-\d+(\.\d)? dBFS\)/)
    expect(summary).toMatch(/peak: +\d+/)
    expect(summary).toMatch(/DC: +I -?[\d.]+, Q -?[\d.]+/)
    expect(summary).toContain("tone: 125 kHz")
  })

  it("finds negative tone frequencies and works without a sample rate", () => {
    const iq = SimulatedSignal.iqCapture({ samples: 1024, toneHz: -250_000, sampleRateHz: 1e6 })
    expect(Chart.iqSummary(iq)).toContain("tone: -0.25 cycles/sample")
  })

  it("handles an empty capture", () => {
    expect(Chart.iqSummary(new Int16Array(0))).toBe("IQ capture: 0 samples")
  })
})
