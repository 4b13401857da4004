/**
 * Liveness: keep-alives out, and the connection's bounds in (spec 5.2). With the agreed timeout
 * T: T = 0 (a legacy peer) sends a keep-alive every 3 s, the first at once; otherwise a
 * keep-alive goes out after `floor(T * 0.66)` s without sending anything. The bounds (the
 * receive timeout, the stall timeout, a server's idle limit) fail the connection with a
 * `NetworkTimeout`. One fiber per connection does both, on the Clock, so `TestClock` drives it.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import { type ConnectionError, NetworkTimeout } from "../ConnectionError.js"
import type { Wire } from "./wire.js"

/** The interval between keep-alives for an agreed timeout T > 0, in milliseconds. */
const keepAliveIntervalMillis = (timeout: number): number => Math.max(1, Math.floor(timeout * 0.66)) * 1000

/** The bounds the liveness fiber keeps, in seconds; 0 for none. */
export interface Watched {
  /** The agreed timeout, which sets the keep-alive interval (0: legacy, every 3 s). */
  readonly timeout: number
  /** How long the reader may wait for bytes: the agreed timeout, or on a server at most its `maxSilentSeconds`. */
  readonly readSeconds: number
  /** How long the socket may hold bytes the peer does not read (a slice, see the outbox). */
  readonly stallSeconds: number
  /** How long a peer may go without a command (a server's `maxIdleSeconds`). */
  readonly idleSeconds: number
  /** Epoch millis (Clock) of the last command received. */
  readonly lastCommand: () => number
}

/**
 * Keep-alives out and the bounds in, in one fiber: it sleeps until the next thing due (a
 * keep-alive, or the moment a bound would be passed), checks, and again. Fails with a
 * `NetworkTimeout` once the peer has made no progress for a bound, in either direction: the
 * reader has waited `readSeconds` for bytes (only time spent waiting for the peer counts, not
 * time spent waiting for a slow consumer), or the socket has held bytes the peer did not read
 * for `stallSeconds` (progress is a slice taken, not a whole reply, so a slow but steady reader
 * is not dropped); or the peer has sent no command for `idleSeconds`. Fails too when a
 * keep-alive cannot be written. A keep-alive never waits for a full queue, so the bounds are
 * never checked late behind one.
 */
export const liveness = (wire: Wire, watched: Watched): Effect.Effect<never, ConnectionError> => {
  const timeout = watched.timeout
  const readLimit = watched.readSeconds * 1000
  const writeLimit = watched.stallSeconds * 1000
  const idleLimit = watched.idleSeconds * 1000
  // The longest sleep: a wait that starts while the fiber sleeps (the reader waiting for bytes,
  // the socket holding some) ends no earlier than one period later, so no bound is noticed
  // late; while one runs, the fiber sleeps until the moment it would be passed.
  const period = Math.min(...[readLimit, writeLimit, idleLimit].filter((limit) => limit > 0))
  // A legacy peer gets a keep-alive every 3 s, the first at once.
  let legacyDue = Number.NEGATIVE_INFINITY
  const check = Effect.flatMap(Clock.currentTimeMillis, (now): Effect.Effect<void, ConnectionError> => {
    const waiting = wire.reader.waitingSince
    if (readLimit > 0 && waiting !== undefined && now - waiting >= readLimit) {
      return Effect.fail(
        new NetworkTimeout({ seconds: watched.readSeconds, during: "waiting for the next packet", remote: wire.remote })
      )
    }
    const writing = wire.outbox.writingSince
    if (writeLimit > 0 && writing !== undefined && now - writing >= writeLimit) {
      return Effect.fail(
        new NetworkTimeout({
          seconds: watched.stallSeconds,
          during: "waiting for the peer to read what was sent",
          remote: wire.remote
        })
      )
    }
    const lastCommand = watched.lastCommand()
    if (idleLimit > 0 && now - lastCommand >= idleLimit) {
      return Effect.fail(
        new NetworkTimeout({ seconds: watched.idleSeconds, during: "waiting for a command", remote: wire.remote })
      )
    }
    const keepAliveDue = timeout === 0 ? legacyDue : wire.outbox.lastSent + keepAliveIntervalMillis(timeout)
    if (now >= keepAliveDue) {
      if (timeout === 0) legacyDue = now + 3000
      return wire.writeKeepAlive()
    }
    let next = Math.min(now + period, keepAliveDue)
    if (readLimit > 0 && waiting !== undefined) next = Math.min(next, waiting + readLimit)
    if (writeLimit > 0 && writing !== undefined) next = Math.min(next, writing + writeLimit)
    if (idleLimit > 0) next = Math.min(next, lastCommand + idleLimit)
    return Effect.sleep(Math.max(1, next - now))
  })
  return Effect.forever(check)
}
