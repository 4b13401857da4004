/**
 * The decode warnings of one packet: the first few kept whole, every kind tallied, and the text
 * of each kind. A packet of a million params of an unknown type makes a handful of warning
 * objects, not a million: the decoder calls {@link Warnings.add} for each and keeps at most
 * `Limits.maxDecodeWarnings` of them, plus one summary per kind.
 */
import { DecodeWarning, type DecodeWarningKind, DecodeWarningSummary } from "../CodecError.js"
import * as Limits from "../Limits.js"
import * as Timestamp from "../Timestamp.js"

/** The warnings of a packet that had none. */
export const NO_WARNINGS: ReadonlyArray<DecodeWarning> = Object.freeze([])
/** The summaries of a packet that had no warnings. */
export const NO_SUMMARIES: ReadonlyArray<DecodeWarningSummary> = Object.freeze([])

// Warnings of one kind met so far: the first is kept whole, the rest only counted.
interface Tally {
  readonly kind: DecodeWarningKind
  count: number
  readonly first: DecodeWarning
}

/** The warnings of one packet so far, made at its first warning. */
export class Warnings {
  readonly kept: Array<DecodeWarning> = []
  private readonly tallies: Array<Tally> = []
  count = 0

  constructor(
    readonly base: number,
    readonly packetType: string
  ) {}

  /**
   * Counts a warning of `kind` at `offset` (from the packet's start); `n` is the number its
   * text names (the unknown type code, the nanoseconds word).
   */
  add(kind: DecodeWarningKind, offset: number, field: string | undefined, param: string | undefined, n: number): void {
    this.count++
    const { kept, tallies } = this
    let tally: Tally | undefined
    for (let i = 0; i < tallies.length; i++) {
      if ((tallies[i] as Tally).kind === kind) tally = tallies[i]
    }
    if (tally !== undefined) {
      tally.count++
      if (kept.length >= Limits.maxDecodeWarnings) return
    }
    const warning = new DecodeWarning({
      kind,
      offset: this.base + offset,
      detail: detail(kind, n),
      packetType: this.packetType,
      field,
      param
    })
    if (tally === undefined) tallies.push({ kind, count: 1, first: warning })
    if (kept.length < Limits.maxDecodeWarnings) kept.push(warning)
  }

  /** One summary per kind met, in order of first appearance. */
  summaries(): ReadonlyArray<DecodeWarningSummary> {
    return this.tallies.map(
      ({ kind, count, first }) =>
        new DecodeWarningSummary({
          kind,
          count,
          offset: first.offset,
          detail: first.detail,
          packetType: first.packetType,
          field: first.field,
          param: first.param
        })
    )
  }
}

const detail = (kind: DecodeWarningKind, n: number): string => {
  switch (kind) {
    case "UnknownType":
      return `unknown type code 0x${n.toString(16).padStart(2, "0")}, kept as bytes`
    case "LegacyFooter":
      return "skipped a legacy footer (00 00 00 00 aa bb cc dd) embedded in the packet"
    case "NanosOutOfRange":
      return `timestamp nanoseconds word ${n} is not below 10^9; kept as sent, read as ${Math.floor(n / Timestamp.NANOS_PER_SECOND)} s ${n % Timestamp.NANOS_PER_SECOND} ns past the seconds word`
  }
}
