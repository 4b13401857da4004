/**
 * The one Effect runtime behind the Promise API, built on first use: the Node transport, a
 * Clock whose timers do not keep the process alive, and logging as ncplib's users know it
 * (warnings and errors, on stderr). {@link run} turns an Effect into a Promise for the cost of
 * one fiber.
 *
 * @internal
 */
import type { Transport } from "@effect-ncp/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as References from "effect/References"
import * as NodeTransport from "../NodeTransport.js"

/** What every Effect of the Promise API may use. */
export type Services = Transport.Transport

// setTimeout's longest delay; a longer sleep is several timers in turn, as Effect's Clock does.
const MAX_TIMER_MILLIS = 2 ** 31 - 1

/**
 * Effect's Clock, except that its sleeps use unref'd timers. Keep-alives, the receive watchdog
 * and reply deadlines all sleep on the Clock: with Effect's own, an idle connection would keep
 * Node running forever. A deadline still fires while a call waits, since the call holds its
 * socket (see `socket.ts`), which keeps the process alive.
 */
class UnrefClock implements Clock.Clock {
  private readonly system = Clock.Clock.defaultValue()
  readonly currentTimeMillis = this.system.currentTimeMillis
  readonly currentTimeNanos = this.system.currentTimeNanos
  readonly monotonicTimeNanos = this.system.monotonicTimeNanos

  currentTimeMillisUnsafe(): number {
    return this.system.currentTimeMillisUnsafe()
  }
  currentTimeNanosUnsafe(): bigint {
    return this.system.currentTimeNanosUnsafe()
  }
  monotonicTimeNanosUnsafe(): bigint {
    return this.system.monotonicTimeNanosUnsafe()
  }
  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return sleepMillis(Duration.toMillis(duration))
  }
}

const sleepMillis = (millis: number): Effect.Effect<void> => {
  if (millis <= 0) return Effect.yieldNow
  if (!Number.isFinite(millis)) return Effect.never
  return Effect.callback<void>((resume) => {
    const rest = millis > MAX_TIMER_MILLIS ? sleepMillis(millis - MAX_TIMER_MILLIS) : Effect.void
    const timer = setTimeout(() => resume(rest), Math.min(millis, MAX_TIMER_MILLIS))
    timer.unref()
    return Effect.sync(() => clearTimeout(timer))
  })
}

/**
 * The runtime's services. Logs: a Promise program's stdout is its own, and ncplib's users see
 * its warnings (Python's logging shows WARNING and above by default), not each connect.
 */
const layer: Layer.Layer<Services> = Layer.mergeAll(
  NodeTransport.layer,
  Layer.succeed(Clock.Clock, new UnrefClock()),
  Layer.succeed(References.MinimumLogLevel, "Warn"),
  Layer.succeed(References.LogToStderr, true)
)

let runtime: ManagedRuntime.ManagedRuntime<Services, never> | undefined
let fork: (<A, E>(effect: Effect.Effect<A, E, Services>) => Fiber.Fiber<A, E>) | undefined

/** Builds the runtime (once) and resolves when its services are ready. */
export const ready = async (): Promise<void> => {
  if (fork !== undefined) return
  runtime ??= ManagedRuntime.make(layer)
  const context: Context.Context<Services> = await runtime.context()
  // Each call of the Promise API is a root fiber on purpose: its caller is a Promise, not a
  // fiber, and the fiber's exit settles that Promise (a defect rejects it). Forking with the
  // built services directly: `runtime.runFork` would also register each fiber with the
  // runtime's scope, for a disposal that never comes (the runtime lives as long as the
  // process), at a cost on every call.
  fork ??= Effect.runForkWith(context)
}

/**
 * Runs an Effect on the runtime (after {@link ready}), as a Promise of its value that rejects
 * with its error: the tagged error itself, as the Effect API fails with it. `settled` runs
 * first when it ends, however it ends.
 */
export const run = <A, E>(effect: Effect.Effect<A, E, Services>, settled?: () => void): Promise<A> =>
  runMap(effect, identity, settled)

const identity = <A>(a: A): A => a

/**
 * {@link run}, with the value mapped by `map` as it resolves: a round trip's hot path, with
 * one Effect fewer than `Effect.map`.
 */
export const runMap = <A, B, E>(
  effect: Effect.Effect<A, E, Services>,
  map: (a: A) => B,
  settled?: () => void
): Promise<B> => {
  const start = fork
  if (start === undefined) return ready().then(() => runMap(effect, map, settled))
  return new Promise<B>((resolve, reject) => {
    start(effect).addObserver((exit) => {
      settled?.()
      if (exit._tag === "Success") resolve(map(exit.value))
      else reject(Cause.squash(exit.cause))
    })
  })
}

/** Starts an Effect on the runtime (after {@link ready}) and calls `done` with its value. */
export const observe = <A>(effect: Effect.Effect<A, never, Services>, done: (value: A) => void): void => {
  run(effect).then(done, reportDefect)
}

// What is observed cannot fail; a defect (a bug) has no caller to reject, so it is said on
// stderr rather than lost, and the process goes on.
const reportDefect = (defect: unknown) => {
  process.stderr.write(`effect-ncp: an internal task failed unexpectedly: ${String(defect)}\n`)
}
