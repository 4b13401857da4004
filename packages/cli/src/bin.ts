/**
 * The `ncp` executable: runs the command tree with Node's services.
 *
 * Exit codes: 0 on success, and for `ncp serve` stopped by SIGINT or SIGTERM once it has shut
 * down cleanly; 1 for a failure; 2 for a usage error; 130 for any other command interrupted.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import * as Runtime from "effect/Runtime"
import { main } from "./Cli.js"
import * as Serve from "./commands/serve.js"

// A reader that goes away (`ncp serve --port 0 | head -1`) must not take the command down:
// what would have gone to stdout is dropped, logs still go to stderr.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error
})

main.pipe(
  Effect.provide(NodeServices.layer),
  NodeRuntime.runMain({
    teardown: (exit, onExit) =>
      Runtime.defaultTeardown(exit, (code) => onExit(code === 130 && Serve.shutdown.completed ? 0 : code))
  })
)
