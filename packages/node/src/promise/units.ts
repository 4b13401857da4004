/**
 * Timeouts as the Promise API takes them, in seconds (ncplib's unit), to the Durations of the
 * Effect API, whose plain numbers are milliseconds: every conversion goes through here.
 *
 * @internal
 */
import * as Duration from "effect/Duration"

/** `seconds` checked: a number of seconds, 0 or more (fractions allowed). */
const checked = (option: string, seconds: number): number => {
  if (typeof seconds !== "number" || Number.isNaN(seconds) || seconds < 0) {
    throw new RangeError(`${option} is a number of seconds, 0 or more; got ${String(seconds)}`)
  }
  return seconds
}

/**
 * A timeout where the Effect API reads 0 as "none" (a connection's or server's network
 * timeout, a shutdown grace): the same Duration.
 */
export const seconds = (option: string, value: number | undefined): Duration.Duration | undefined =>
  value === undefined ? undefined : Duration.seconds(checked(option, value))

/**
 * A reply deadline, where 0 means none in the Promise API, as for every other timeout of it
 * (a zero Duration in the Effect API would fail at once).
 */
export const deadline = (option: string, value: number | undefined): Duration.Duration | undefined => {
  if (value === undefined) return undefined
  const checkedSeconds = checked(option, value)
  return checkedSeconds === 0 ? Duration.infinity : Duration.seconds(checkedSeconds)
}
