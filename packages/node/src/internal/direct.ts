/**
 * Node sockets as `Transport.DirectSocket`s: a connection reads each chunk in the socket's own
 * `data` event and writes with `socket.write`, with no fiber (and no `readable` event and
 * `read()` call, a `process.nextTick` apart) per chunk, as `@effect/platform-node`'s
 * `NodeSocket` adapter needs for its pull-based reader. Backpressure stays end to end:
 * `pause()` stops the socket reading (Node stops reading from the kernel once its buffer holds
 * its high-water mark, and the kernel's window closes on the peer), and `write` reports
 * Node's `writableNeedDrain`.
 *
 * @internal
 */
import type * as Net from "node:net"
import type { Transport } from "@effect-ncp/core"
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import * as Socket from "effect/socket/Socket"

const EMPTY = new Uint8Array(0)

/** `conn`, open and connected, driven directly. */
export const directSocket = (conn: Net.Socket): Transport.DirectSocket => {
  let drainWaiters: Array<() => void> = []
  /** An empty write is queued, whose callback says when everything before it has gone. */
  let tracking = false
  const drained = () => {
    const waiters = drainWaiters
    drainWaiters = []
    for (const f of waiters) f()
  }
  // Node emits `drain` only after a write found its buffer full; an empty write's callback
  // runs once everything written before it has been handed to the kernel, whatever the amount.
  const settle = () => {
    tracking = false
    if (conn.writableLength > 0 && !conn.destroyed) track()
    else drained()
  }
  const track = () => {
    tracking = true
    conn.write(EMPTY, settle)
  }
  return {
    start: (handlers) => {
      let ended = false
      const fail = (error: Socket.SocketError) => {
        if (ended) return
        ended = true
        handlers.fail(error)
      }
      conn.on("data", (chunk: Buffer) => handlers.data(chunk))
      conn.on("end", () => {
        if (ended) return
        ended = true
        handlers.end()
      })
      conn.on("error", (cause: Error) =>
        fail(new Socket.SocketError({ reason: new Socket.SocketReadError({ cause }) }))
      )
      conn.on("close", (hadError: boolean) => {
        drained()
        if (hadError) fail(new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: 1006 }) }))
        else if (!ended) {
          ended = true
          handlers.end()
        }
      })
      // A server's sockets arrive paused; a client's flow once a `data` listener is attached.
      conn.resume()
    },
    pause: () => {
      conn.pause()
    },
    resume: () => {
      conn.resume()
    },
    write: (chunks: NonEmptyReadonlyArray<Uint8Array>) => {
      if (conn.destroyed || !conn.writable) return true
      if (chunks.length === 1) conn.write(chunks[0])
      else {
        // one writev for the batch
        conn.cork()
        for (const chunk of chunks) conn.write(chunk)
        conn.uncork()
      }
      return !conn.writableNeedDrain
    },
    pendingBytes: () => (conn.destroyed ? 0 : conn.writableLength),
    whenDrained: (f) => {
      if (conn.destroyed || conn.writableLength === 0) return f()
      drainWaiters.push(f)
      if (!tracking) track()
    },
    abort: () => {
      conn.destroy()
    }
  }
}

/** Closes a socket whose scope ends: gracefully once open (what was written is sent first), at once while opening. */
export const closeSocket = (conn: Net.Socket, open: boolean): void => {
  if (conn.closed !== false) return
  if (open) conn.destroySoon()
  else conn.destroy()
}

/**
 * Opens a socket with `create` (which returns it at once and emits `event` when it is ready) in
 * the current scope, as `NodeSocket`'s readers do: a failure to open is a `SocketOpenError`,
 * and the scope's end closes the socket. `opened` runs once it is ready.
 */
export const opening = <S extends Net.Socket>(
  create: () => S,
  event: "connect" | "secureConnect",
  opened?: (socket: S) => void
): Effect.Effect<S, Socket.SocketError, Scope.Scope> =>
  Effect.gen(function* () {
    const scope = yield* Effect.scope
    let conn: S | undefined
    let isOpen = false
    yield* Scope.addFinalizer(
      scope,
      Effect.sync(() => {
        if (conn !== undefined) closeSocket(conn, isOpen)
      })
    )
    return yield* Effect.callback<S, Socket.SocketError>((resume) => {
      const socket = create()
      conn = socket
      socket.once(event, () => {
        isOpen = true
        // `opened` may run a caller's code (a tracer's span): a throw there, in the socket's
        // event, would be uncaught; it fails the opening instead.
        try {
          opened?.(socket)
        } catch (cause) {
          resume(Effect.die(cause))
          return
        }
        resume(Effect.succeed(socket))
      })
      // Stays attached: an error between opening and the connection's reading must not be
      // an uncaught exception. Once resumed, resuming again does nothing.
      socket.on("error", (cause: Error) =>
        resume(Effect.fail(new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause }) })))
      )
    })
  })

/** `open`, failing with a `SocketOpenError` of kind `"Timeout"` past `openTimeout`, as `NodeSocket`'s readers do. */
export const withOpenTimeout = <A, R>(
  open: Effect.Effect<A, Socket.SocketError, R>,
  openTimeout: Duration.Input | undefined
): Effect.Effect<A, Socket.SocketError, R> =>
  openTimeout === undefined
    ? open
    : Effect.timeoutOrElse(open, {
        duration: Duration.fromInputUnsafe(openTimeout),
        orElse: () =>
          Effect.fail(
            new Socket.SocketError({
              reason: new Socket.SocketOpenError({ kind: "Timeout", cause: new Error("Connection timed out") })
            })
          )
      })

/**
 * An accepted socket, driven directly; the scope's end closes it, gracefully. As `NodeSocket`'s
 * reader acquisition does, a connection that failed or closed before its handler took it fails
 * to open.
 */
export const acceptedDirect = (
  conn: Net.Socket
): Effect.Effect<Transport.DirectSocket, Socket.SocketError, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.suspend(() => {
      if (conn.errored !== null) {
        return Effect.fail(
          new Socket.SocketError({ reason: new Socket.SocketOpenError({ kind: "Unknown", cause: conn.errored }) })
        )
      }
      if (conn.closed) {
        return Effect.fail(new Socket.SocketError({ reason: new Socket.SocketCloseError({ code: 1000 }) }))
      }
      return Effect.succeed(directSocket(conn))
    }),
    () => Effect.sync(() => closeSocket(conn, true))
  )
