/**
 * `@effect-ncp/cli`: the `ncp` command and the pieces it is made of, reusable on their own.
 *
 * @module
 * @since 0.1.0
 */
export * as Address from "./Address.js"
export * as Capture from "./Capture.js"
export * as Chart from "./Chart.js"
export * as Cli from "./Cli.js"
export * as Format from "./Format.js"
export * as Log from "./Log.js"
export * as Params from "./Params.js"
export * as Progress from "./Progress.js"
export * from "./Reported.js"
