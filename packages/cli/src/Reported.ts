/**
 * A command failure already told to the user (on stderr, one line per problem): the process
 * exits with `exitCode` and the runtime does not log it again.
 *
 * @since 0.1.0
 */
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"

/** A failure already reported on stderr; `exitCode` is the process exit code. */
export class Reported extends Schema.TaggedError<Reported>()("Reported", {
  exitCode: Schema.Number,
  detail: Schema.String
}) {
  override readonly [Runtime.errorReported] = false
  override get [Runtime.errorExitCode](): number {
    return this.exitCode
  }
  override get message(): string {
    return this.detail
  }
}
