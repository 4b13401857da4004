/**
 * The data replies of a node, read from their fields: a sweep (`DSPC SWEP`: `FSTA`, `FSTP` in
 * MHz, `PDAT` data u8 levels, `BINS`) and an IQ capture (`DSPC TIME`: `DATA` data i16
 * interleaved, `SRAT` in Hz, `NSMP`), as `SimulatedNode` sends them.
 *
 * The wire pads data to whole 4-byte words, so a sweep of 1021 bins arrives with 1024 bytes;
 * `BINS` (or `NSMP`) says how many are real.
 *
 * @example
 * ```ts
 * import { Replies } from "@effect-ncp/cli"
 *
 * const sweep = Replies.readSweep(reply) // Result<Sweep, string>
 * ```
 *
 * @since 0.1.0
 */
import { Field } from "@effect-ncp/core"
import * as Result from "effect/Result"

/** A sweep: levels (sweep bytes) from `startHz` to `stopHz`. */
export interface Sweep {
  readonly startHz: number
  readonly stopHz: number
  readonly levels: Uint8Array
}

/** An IQ capture: `I, Q, I, Q, ...` and its sample rate, when the reply gives one. */
export interface Capture {
  readonly centreHz: number | undefined
  readonly sampleRateHz: number | undefined
  readonly samples: Int16Array
}

const numberOf = (field: Field.Field, name: string): number | undefined => {
  const value = Field.get(field, name)
  return typeof value === "number" ? value : typeof value === "bigint" ? Number(value) : undefined
}

/** The sweep in a `DSPC SWEP` data reply, or what is missing. */
export const readSweep = (field: Field.Field): Result.Result<Sweep, string> => {
  const start = numberOf(field, "FSTA")
  const stop = numberOf(field, "FSTP")
  const data = Field.get(field, "PDAT")
  if (start === undefined || stop === undefined) return Result.fail(`the sweep reply has no FSTA and FSTP`)
  if (!(data instanceof Uint8Array)) return Result.fail(`the sweep reply has no PDAT (data u8)`)
  const bins = numberOf(field, "BINS")
  const levels = bins !== undefined && bins >= 0 && bins <= data.length ? data.subarray(0, bins) : data
  return Result.succeed({ startHz: start * 1e6, stopHz: stop * 1e6, levels })
}

/** The capture in a `DSPC TIME` data reply, or what is missing. */
export const readCapture = (field: Field.Field): Result.Result<Capture, string> => {
  const data = Field.get(field, "DATA")
  if (!(data instanceof Int16Array)) return Result.fail(`the capture reply has no DATA (data i16)`)
  const count = numberOf(field, "NSMP")
  const samples = count !== undefined && count >= 0 && 2 * count <= data.length ? data.subarray(0, 2 * count) : data
  const centre = numberOf(field, "FCTR")
  return Result.succeed({
    centreHz: centre === undefined ? undefined : centre * 1e6,
    sampleRateHz: numberOf(field, "SRAT"),
    samples
  })
}
