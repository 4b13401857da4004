/**
 * The effect-ncp echo server the benchmarks measure: `NodeNcp` serving a handler that replies
 * to every field with its own params (no ACKN), in order; `DSPC STRM {NPKT=n}` gets `n` replies
 * of 1 MiB `DATA`. The same behaviour as the raw echo server in `raw.ts`.
 */
import { type Connection, Field } from "@effect-ncp/core"
import { NodeNcp } from "@effect-ncp/node"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { HOST, STREAM_FLOATS } from "./raw.js"

const streamData = new Float32Array(STREAM_FLOATS)

/** The echo handler: every field gets its params back; STRM gets NPKT data replies. */
export const echoHandler = (connection: Connection.Connection) =>
  connection.fields.pipe(
    Stream.runForEach((field) => {
      if (field.name !== "STRM") return field.reply(field.params)
      const count = Number(Field.get(field, "NPKT") ?? 0)
      return Effect.repeat(field.reply([["DATA", { type: "f32[]", value: streamData }]]), { times: count - 1 })
    })
  )

/** A running effect-ncp echo server. */
export interface EchoServer {
  readonly port: number
  /** Stops listening and closes every connection. */
  readonly close: () => Promise<void>
}

/** Starts {@link echoHandler} with `NodeNcp.make` on a free loopback port. */
export const listenEcho = async (options?: NodeNcp.ServeOptions): Promise<EchoServer> => {
  const scope = Effect.runSync(Scope.make())
  const { port } = await Effect.runPromise(
    NodeNcp.make(echoHandler, { ...options, host: HOST, port: 0 }).pipe(Scope.provide(scope))
  )
  return { port, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
