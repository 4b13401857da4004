/**
 * Packet timestamps with full nanosecond precision, as the wire holds them: whole seconds since
 * 1970-01-01 UTC (u32) and nanoseconds within that second (u32).
 *
 * @since 0.1.0
 */

/** A packet timestamp. */
export interface Timestamp {
  readonly seconds: number
  readonly nanos: number
}

/** A timestamp from whole seconds and nanoseconds. */
export const make = (seconds: number, nanos = 0): Timestamp => ({ seconds, nanos })

/** The timestamp of a millisecond epoch time (`Date.now()`, `Clock.currentTimeMillis`). */
export const fromMillis = (millis: number): Timestamp => {
  const seconds = Math.floor(millis / 1000)
  return { seconds, nanos: Math.round((millis - seconds * 1000) * 1_000_000) }
}

/** The timestamp of a nanosecond epoch time (`Clock.currentTimeNanos`). */
export const fromNanos = (nanos: bigint): Timestamp => ({
  seconds: Number(nanos / 1_000_000_000n),
  nanos: Number(nanos % 1_000_000_000n)
})

/** The timestamp as milliseconds since the epoch (sub-millisecond digits are dropped). */
export const toMillis = (timestamp: Timestamp): number => timestamp.seconds * 1000 + Math.floor(timestamp.nanos / 1e6)

/** The timestamp as a `Date` (millisecond precision). */
export const toDate = (timestamp: Timestamp): Date => new Date(toMillis(timestamp))

/**
 * The timestamp in ISO 8601 with a `+00:00` offset, as the vectors spell it: no fraction when
 * the nanoseconds are zero, 6 digits when they are whole microseconds, else 9 digits.
 */
export const toIsoString = (timestamp: Timestamp): string => {
  const base = new Date(timestamp.seconds * 1000).toISOString().slice(0, 19)
  const { nanos } = timestamp
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
