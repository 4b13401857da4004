/**
 * Liveness: keep-alives out, and the receive timeout in (spec 5.2). With the agreed timeout T:
 * T = 0 (a legacy peer) sends a keep-alive every 3 s, the first at once; otherwise a keep-alive
 * goes out after `floor(T * 0.66)` s without sending anything, and waiting more than T for the
 * next packet is a `NetworkTimeout`. Both run on the Clock, so `TestClock` drives them.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { type ConnectionError, NetworkTimeout } from "../ConnectionError.js"
import type { Wire } from "./wire.js"

/** The interval between keep-alives for an agreed timeout T > 0, in milliseconds. */
const keepAliveIntervalMillis = (timeout: number): number => Math.max(1, Math.floor(timeout * 0.66)) * 1000

/** Sends keep-alives for as long as it runs; fails only when a write fails. */
export const keepAlive = (wire: Wire, timeout: number): Effect.Effect<never, ConnectionError> =>
  timeout === 0
    ? Effect.forever(Effect.andThen(wire.writeKeepAlive(), Effect.sleep("3 seconds")))
    : Effect.forever(
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const due = wire.lastSent + keepAliveIntervalMillis(timeout)
          return now >= due ? wire.writeKeepAlive() : Effect.sleep(due - now)
        })
      )

/**
 * Fails with a `NetworkTimeout` once the peer has made no progress for the timeout, in either
 * direction: a pull has waited `timeout` seconds for bytes (only time spent waiting for the
 * peer counts, not time spent waiting for a slow consumer), or the socket has held bytes the
 * peer did not read for `stallTimeout` seconds. So a peer that stops reading is dropped like one
 * that stops writing. One timer per period rather than one per pull.
 *
 * `timeout` 0 (a legacy peer) checks only what the peer reads.
 */
export const watchdog = (wire: Wire, timeout: number, stallTimeout: number): Effect.Effect<never, ConnectionError> => {
  const readLimit = timeout * 1000
  const writeLimit = stallTimeout * 1000
  const period = Math.min(readLimit > 0 ? readLimit : writeLimit, writeLimit > 0 ? writeLimit : readLimit, 1000)
  return Effect.forever(
    Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<void, ConnectionError> => {
      const waiting = wire.waitingSince
      if (readLimit > 0 && waiting !== undefined && now - waiting >= readLimit) {
        return Effect.fail(
          new NetworkTimeout({ seconds: timeout, during: "waiting for the next packet", remote: wire.remote })
        )
      }
      const writing = wire.writingSince
      if (writeLimit > 0 && writing !== undefined && now - writing >= writeLimit) {
        return Effect.fail(
          new NetworkTimeout({
            seconds: stallTimeout,
            during: "waiting for the peer to read what was sent",
            remote: wire.remote
          })
        )
      }
      let next = now + period
      if (readLimit > 0 && waiting !== undefined) next = Math.min(next, waiting + readLimit)
      if (writeLimit > 0 && writing !== undefined) next = Math.min(next, writing + writeLimit)
      return Effect.sleep(Math.max(1, next - now))
    })
  )
}
