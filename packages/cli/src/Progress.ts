/**
 * Progress for long waits (connecting to a node, waiting for a large capture): a spinner line
 * on stderr, shown only when stderr is a terminal, so pipes, logs and tests stay clean.
 *
 * @example
 * ```ts
 * import { Progress } from "@effect-ncp/cli"
 *
 * const reply = connection.request("DSPC", "TIME", { NSMP: 1 << 20 }).pipe(
 *   Progress.withProgress("receiving the capture")
 * )
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"

const frames = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

/** Whether progress is shown: stderr is a terminal. */
const enabled = (): boolean => process.stderr.isTTY === true

/** Shows a spinner with `label` on stderr while `effect` runs (after a short delay), then clears it. */
export const withProgress =
  (label: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
    if (!enabled()) return effect
    let frame = 0
    const draw = Effect.sync(() => {
      process.stderr.write(`\r${frames[frame++ % frames.length]} ${label}...`)
    })
    // Quick waits show nothing: the spinner starts after 250 ms.
    const spinner = Effect.andThen(Effect.sleep(250), Effect.forever(Effect.andThen(draw, Effect.sleep(80))))
    const clear = Effect.sync(() => {
      if (frame > 0) process.stderr.write("\r\x1b[K")
    })
    return Effect.acquireUseRelease(
      Effect.forkChild(spinner),
      () => effect,
      (fiber) => Effect.andThen(Fiber.interrupt(fiber), clear)
    )
  }
