/**
 * Deadlines: the one way a wait of a connection (a handshake step, the tunnel's head, a reply)
 * is bounded, failing with a `NetworkTimeout` that says what was waited for.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { NetworkTimeout } from "../ConnectionError.js"

/**
 * Fails `effect` with a `NetworkTimeout` unless it completes within `deadline` (seconds, 0
 * for no limit, or a Duration); `during` says what was waited for, `command` names the command
 * waited for, if any. `timedOut` runs when the deadline passes (a request's metrics).
 */
export const withDeadline = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  deadline: number | Duration.Duration,
  remote: string,
  during: string,
  command?: string,
  timedOut?: () => void
): Effect.Effect<A, E | NetworkTimeout, R> => {
  if (typeof deadline === "number" && deadline <= 0) return effect
  const duration = typeof deadline === "number" ? Duration.seconds(deadline) : deadline
  return Effect.timeoutOrElse(effect, {
    duration,
    orElse: () => {
      timedOut?.()
      return Effect.fail(timeoutError(duration, remote, during, command))
    }
  })
}

/** The `NetworkTimeout` of a wait of `duration` for `during` (naming `command`, if any) that ran out. */
export const timeoutError = (
  duration: Duration.Duration,
  remote: string,
  during: string,
  command?: string
): NetworkTimeout =>
  new NetworkTimeout({
    seconds: Duration.toMillis(duration) / 1000,
    during,
    remote,
    ...(command === undefined ? {} : { command })
  })
