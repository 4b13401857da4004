/**
 * The `ncp` executable: runs the command tree with Node's services.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Effect from "effect/Effect"
import { main } from "./Cli.js"

main.pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
