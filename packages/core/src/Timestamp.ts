/**
 * Packet timestamps with full nanosecond precision, as the wire holds them: whole seconds since
 * 1970-01-01 UTC (u32) and nanoseconds within that second (u32).
 *
 * A nanoseconds word is meant to be below 10^9, but the wire can carry up to 2^32-1. A decoded
 * timestamp keeps both words exactly as sent, so re-encoding a packet gives the same bytes
 * (the decoder adds a `NanosOutOfRange` warning). Such a timestamp denotes the instant
 * `seconds + nanos / 10^9`: {@link normalize} carries the whole seconds over, and every
 * conversion here ({@link toIsoString}, {@link toMillis}) reads it that way.
 *
 * @example
 * ```ts
 * import { Timestamp } from "@effect-ncp/core"
 *
 * const sent = Timestamp.make(1_715_949_045, 1_500_000_000)
 * Timestamp.isNormalized(sent)  // false
 * Timestamp.normalize(sent)     // { seconds: 1715949046, nanos: 500000000 }
 * Timestamp.toIsoString(sent)   // "2024-05-17T12:30:46.500000+00:00"
 * ```
 *
 * @module
 * @since 0.1.0
 */

/** A packet timestamp. */
export interface Timestamp {
  readonly seconds: number
  readonly nanos: number
}

/** Nanoseconds in one second: a nanoseconds word is meant to be below this. */
export const NANOS_PER_SECOND = 1_000_000_000

/** A timestamp from whole seconds and nanoseconds. */
export const make = (seconds: number, nanos = 0): Timestamp => ({ seconds, nanos })

/** The timestamp of a millisecond epoch time (`Date.now()`, `Clock.currentTimeMillis`). */
export const fromMillis = (millis: number): Timestamp => {
  const seconds = Math.floor(millis / 1000)
  return { seconds, nanos: Math.round((millis - seconds * 1000) * 1_000_000) }
}

/** Whether the nanoseconds are below 10^9, as a sender should write them. */
export const isNormalized = (timestamp: Timestamp): boolean => timestamp.nanos < NANOS_PER_SECOND

/**
 * The same instant with the nanoseconds below 10^9: whole seconds held in the nanoseconds word
 * are carried into the seconds. A normalized timestamp is returned as it is.
 */
export const normalize = (timestamp: Timestamp): Timestamp =>
  isNormalized(timestamp)
    ? timestamp
    : {
        seconds: timestamp.seconds + Math.floor(timestamp.nanos / NANOS_PER_SECOND),
        nanos: timestamp.nanos % NANOS_PER_SECOND
      }

/** The timestamp as milliseconds since the epoch (sub-millisecond digits are dropped). */
export const toMillis = (timestamp: Timestamp): number => timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1e6)

/**
 * The instant in ISO 8601 with a `+00:00` offset, as the vectors spell it: no fraction when
 * the nanoseconds are zero, 6 digits when they are whole microseconds, else 9 digits. A
 * nanoseconds word of 10^9 or more is read as the instant it denotes ({@link normalize}), so
 * the text always parses back to that instant.
 */
export const toIsoString = (timestamp: Timestamp): string => {
  const { seconds, nanos } = normalize(timestamp)
  const base = new Date(seconds * 1000).toISOString().slice(0, 19)
  if (nanos === 0) return `${base}+00:00`
  const fraction = String(nanos).padStart(9, "0")
  return `${base}.${nanos % 1000 === 0 ? fraction.slice(0, 6) : fraction}+00:00`
}

const isoPattern = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/

/** Parses an ISO 8601 time with up to 9 fraction digits; `undefined` when it is not one. */
export const fromIsoString = (text: string): Timestamp | undefined => {
  const match = isoPattern.exec(text)
  if (match === null) return undefined
  const [, base, fraction, zone] = match
  const millis = Date.parse(`${base}${zone === "+00:00" || zone === "-00:00" ? "Z" : zone}`)
  if (Number.isNaN(millis)) return undefined
  return { seconds: millis / 1000, nanos: fraction === undefined ? 0 : Number(fraction.padEnd(9, "0")) }
}
