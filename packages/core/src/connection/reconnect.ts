/**
 * The reconnecting client: one supervisor fiber keeps a connection to the node open, making a
 * new one on the schedule's delays whenever an attempt fails or the connection ends, and
 * publishes every change of state. The client itself is a `Connection` whose methods delegate
 * to the connection open at the time of the call.
 *
 * The supervisor is the only writer of the state. Everything it opens lives in a scope of its
 * own, closed when the connection ends or the supervisor stops, whatever the reason.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as Connection from "../Connection.js"
import type { ClientState, ReconnectingConnection } from "../Connection.js"
import { ConnectionDefect, type ConnectionError, NotConnected } from "../ConnectionError.js"
import { reasonOf, reconnected, Supervised, traced } from "./telemetry.js"

/** What the reconnecting client needs: how to connect, and what to do between attempts. */
export interface ReconnectConfig {
  /** The node's name, as connections name it (`host:port` by default). */
  readonly remote: string
  /** The node's host and port. */
  readonly remoteAddress: string
  readonly remotePort: number
  /** The timeout asked for in the handshake, reported as `timeout` while no connection is open. */
  readonly requestedTimeout: number
  /** The connections' default reply deadline: also the default bound of a wait for a connection. */
  readonly requestTimeout: Duration.Input | undefined
  /** Delays between attempts; its input is the error of the failed attempt or ended connection. */
  readonly schedule: Schedule.Schedule<unknown, ConnectionError>
  /** Wait for a connection (up to the deadline) instead of failing at once with `NotConnected`. */
  readonly waitForConnection: boolean
  /** One attempt: connect and perform the handshake, in the given scope. */
  readonly connect: Effect.Effect<Connection.Connection, ConnectionError, Scope.Scope>
}

/** A state as published: the public state, and for `Open`, the connection behind it. */
interface Snapshot {
  readonly state: ClientState
  readonly connection: Connection.Connection | undefined
}

/** How one attempt ended: it failed, or it opened a connection that has now ended. */
type Outcome =
  | { readonly _tag: "Failed"; readonly error: ConnectionError }
  | { readonly _tag: "Ended"; readonly reason: ConnectionError }

// States a slow subscriber of `changes` (or `fields`) may lag behind before it misses the oldest:
// it always sees the newest, and memory stays bounded whatever it does.
const stateBuffer = 64

const secondsOf = (duration: Duration.Duration): number => Math.round(Duration.toMillis(duration)) / 1000

/**
 * Starts the client in the current scope, and returns once the first attempt has ended (opened
 * a connection or failed): with the node up, the first request finds the connection open.
 * Closing the scope stops the supervisor and closes the connection.
 */
export const make = (config: ReconnectConfig): Effect.Effect<ReconnectingConnection, never, Scope.Scope> =>
  Effect.gen(function* () {
    const { remote } = config
    const context = yield* Effect.context<never>()
    const pubsub = yield* PubSub.sliding<Snapshot>({ capacity: stateBuffer, replay: 1 })
    let current: Snapshot = { state: { _tag: "Connecting", attempt: 1, lastError: undefined }, connection: undefined }
    PubSub.publishUnsafe(pubsub, current)
    // Completed with the connection when one opens; replaced when it ends; failed when the
    // client closes. Waiting requests wait on it.
    let opened = Deferred.makeUnsafe<Connection.Connection, NotConnected>()
    const closedForGood = Deferred.makeUnsafe<ConnectionError>()
    const firstAttempt = Deferred.makeUnsafe<void>()

    const notConnected = (state: ClientState = current.state): NotConnected =>
      new NotConnected({
        state: state._tag === "Open" ? "Connecting" : state._tag,
        remote,
        attempt: state._tag === "Connecting" || state._tag === "BackingOff" ? state.attempt : undefined,
        lastError: state._tag === "Open" ? undefined : state.lastError
      })

    const publish = (snapshot: Snapshot): void => {
      current = snapshot
      PubSub.publishUnsafe(pubsub, snapshot)
    }
    const setOpen = (connection: Connection.Connection): void => {
      publish({ state: { _tag: "Open", remote, timeout: connection.timeout }, connection })
      Deferred.doneUnsafe(opened, Exit.succeed(connection))
    }
    const setDown = (state: ClientState): void => {
      if (Deferred.isDoneUnsafe(opened)) opened = Deferred.makeUnsafe()
      publish({ state, connection: undefined })
    }
    const setClosed = (lastError: ConnectionError | undefined): void => {
      if (current.state._tag === "Closed") return
      const state: ClientState = { _tag: "Closed", lastError }
      setDown(state)
      const error = notConnected(state)
      Deferred.doneUnsafe(opened, Exit.fail(error))
      Deferred.doneUnsafe(closedForGood, Exit.succeed(error))
    }

    const log = (
      level: "Debug" | "Info" | "Warn" | "Error",
      message: string,
      annotations: Record<string, unknown>,
      cause?: Cause.Cause<unknown>
    ) =>
      Effect.logWithLevel(level)(message, ...(cause === undefined ? [] : [cause])).pipe(
        Effect.annotateLogs({ remote, ...annotations })
      )

    /**
     * One attempt, and the life of the connection it opens. The connection's scope is closed
     * whatever happens, interruption included.
     */
    const attemptOnce = (attempt: number): Effect.Effect<Outcome> =>
      Effect.acquireUseRelease(
        Scope.make(),
        (scope) =>
          Effect.gen(function* () {
            // The connection does not log its own connect and disconnect: this client does, with the attempt.
            const exit = yield* Effect.exit(
              traced(
                Scope.provide(config.connect, scope).pipe(Effect.provideService(Supervised, true)),
                "ncp.reconnect",
                { attributes: { "ncp.attempt": attempt, "server.address": remote } }
              )
            )
            reconnected(context, Exit.isSuccess(exit) ? "connected" : "failed")
            if (Exit.isFailure(exit)) {
              const failure = Cause.findErrorOption(exit.cause)
              if (failure._tag === "Some") return { _tag: "Failed", error: failure.value } as const
              // The supervisor's own interruption takes effect at this yield; an attempt
              // interrupted from elsewhere is a failure like a defect, not a reason to stop.
              if (Cause.hasInterruptsOnly(exit.cause)) yield* Effect.yieldNow
              const defect = new ConnectionDefect({
                detail: Cause.hasInterruptsOnly(exit.cause)
                  ? "connecting was interrupted unexpectedly"
                  : "connecting failed unexpectedly",
                remote,
                cause: Cause.squash(exit.cause)
              })
              yield* log("Error", defect.detail, { ncp: "ConnectionDefect", attempt }, exit.cause)
              return { _tag: "Failed", error: defect } as const
            }
            const connection = exit.value
            setOpen(connection)
            Deferred.doneUnsafe(firstAttempt, Exit.void)
            yield* log("Info", `Connected to ${remote} over NCP`, { ncp: "Connected", attempt })
            const reason = yield* connection.closed.pipe(
              Effect.onInterrupt(() =>
                log("Info", `Disconnected from ${remote} over NCP`, {
                  ncp: "Disconnected",
                  reason: "the client was closed"
                })
              )
            )
            yield* log("Info", `Disconnected from ${remote} over NCP`, {
              ncp: "Disconnected",
              reason: reasonOf(reason, remote)
            })
            return { _tag: "Ended", reason } as const
          }),
        (scope, exit) => Scope.close(scope, exit)
      )

    const supervise = Effect.gen(function* () {
      let step = yield* Schedule.toStep(config.schedule)
      let attempt = 1
      // whether this outage's first failure has been logged at Warn; later ones go to Debug
      let outageLogged = false
      for (;;) {
        const outcome = yield* attemptOnce(attempt)
        let lastError: ConnectionError
        if (outcome._tag === "Ended") {
          // a connection that opened starts the schedule over
          lastError = outcome.reason
          step = yield* Schedule.toStep(config.schedule)
          attempt = 1
          outageLogged = false
        } else {
          lastError = outcome.error
          attempt += 1
        }
        const now = yield* Clock.currentTimeMillis
        const next = yield* Effect.exit(step(now, lastError))
        if (Exit.isFailure(next)) {
          if (!Pull.isDoneCause(next.cause)) return yield* Effect.failCause(next.cause)
          yield* log(
            "Error",
            `Gave up connecting to ${remote} over NCP after ${attempt - 1} failed attempt(s): ${reasonOf(lastError, remote)}`,
            { ncp: "ReconnectStopped", attempt: attempt - 1 }
          )
          setClosed(lastError)
          return
        }
        const delay = next.value[1]
        setDown({ _tag: "BackingOff", attempt, lastError, delay })
        Deferred.doneUnsafe(firstAttempt, Exit.void)
        if (outcome._tag === "Failed") {
          const annotations = { ncp: "ConnectFailed", attempt: attempt - 1, retryInSeconds: secondsOf(delay) }
          const message = `Connecting to ${remote} over NCP failed: ${reasonOf(lastError, remote)}`
          if (outageLogged) {
            yield* log("Debug", message, annotations)
          } else {
            outageLogged = true
            yield* log("Warn", `${message} (retrying; later failures are logged at Debug)`, annotations)
          }
        }
        yield* Effect.sleep(delay)
        setDown({ _tag: "Connecting", attempt, lastError })
      }
    })

    const supervisor = yield* supervise.pipe(
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        const defect = new ConnectionDefect({
          detail: "the reconnecting client failed unexpectedly",
          remote,
          cause: Cause.squash(cause)
        })
        return log("Error", defect.detail, { ncp: "ConnectionDefect" }, cause).pipe(
          Effect.andThen(Effect.sync(() => setClosed(defect)))
        )
      }),
      // released, closed, or given up: whatever stopped the supervisor, nothing waits any more
      Effect.ensuring(
        Effect.sync(() => {
          setClosed(undefined)
          Deferred.doneUnsafe(firstAttempt, Exit.void)
        })
      ),
      Effect.forkScoped
    )
    yield* Deferred.await(firstAttempt)

    /** The open connection, or (when asked to wait) the next one within `deadline`, with the time left. */
    const awaitConnection = (
      deadline: Duration.Input | undefined
    ): Effect.Effect<readonly [Connection.Connection, Duration.Duration | undefined], NotConnected> =>
      Effect.suspend(
        (): Effect.Effect<readonly [Connection.Connection, Duration.Duration | undefined], NotConnected> => {
          if (!config.waitForConnection || current.state._tag === "Closed") return Effect.fail(notConnected())
          const wait = Deferred.await(opened)
          if (deadline === undefined) return Effect.map(wait, (connection) => [connection, undefined] as const)
          const millis = Duration.toMillis(Duration.fromInputUnsafe(deadline))
          return Effect.flatMap(Clock.currentTimeMillis, (start) =>
            wait.pipe(
              Effect.timeoutOrElse({
                duration: Duration.millis(millis),
                orElse: () => Effect.suspend(() => Effect.fail(notConnected()))
              }),
              Effect.flatMap((connection) =>
                Effect.map(
                  Clock.currentTimeMillis,
                  (now) => [connection, Duration.millis(Math.max(0, millis - (now - start)))] as const
                )
              )
            )
          )
        }
      )

    /** Runs `use` on the open connection, or fails (or waits) as the options say. */
    const withConnection = <A, E, R>(
      deadline: Duration.Input | undefined,
      use: (connection: Connection.Connection, left: Duration.Duration | undefined) => Effect.Effect<A, E, R>
    ): Effect.Effect<A, E | NotConnected, R> =>
      Effect.suspend(() => {
        const connection = current.connection
        if (connection !== undefined) return use(connection, undefined)
        return Effect.flatMap(awaitConnection(deadline), ([next, left]) => use(next, left))
      })

    const snapshots = Stream.fromPubSub(pubsub).pipe(Stream.takeUntil((snapshot) => snapshot.state._tag === "Closed"))

    const client: ReconnectingConnection = {
      remoteHostname: remote,
      remoteAddress: config.remoteAddress,
      remotePort: config.remotePort,
      get timeout() {
        return current.connection?.timeout ?? config.requestedTimeout
      },
      send: (packetType, fieldName, params, options) =>
        withConnection(options?.timeout ?? config.requestTimeout, (connection) =>
          connection.send(packetType, fieldName, params, options)
        ),
      sendPacket: (packetType, fields, options) =>
        withConnection(options?.timeout ?? config.requestTimeout, (connection) =>
          connection.sendPacket(packetType, fields, options)
        ),
      request: (packetType, fieldName, params, options) =>
        withConnection(options?.timeout ?? config.requestTimeout, (connection, left) =>
          connection.request(
            packetType,
            fieldName,
            params,
            left === undefined ? options : { ...options, timeout: left }
          )
        ),
      recv: withConnection(undefined, (connection) => connection.recv),
      recvField: (packetType, fieldName) =>
        withConnection(undefined, (connection) => connection.recvField(packetType, fieldName)),
      // Spans reconnects: each connection's fields in turn, until the client closes. The end of
      // a connection is its state's business (and logged), not the subscriber's.
      fields: Stream.flatMap(snapshots, (snapshot): Stream.Stream<Connection.IncomingField, ConnectionError> => {
        if (snapshot.connection !== undefined) return Stream.ignore(snapshot.connection.fields)
        const state = snapshot.state
        return state._tag === "Closed" && state.lastError !== undefined
          ? Stream.fail(notConnected(state))
          : Stream.empty
      }),
      // each connection's warnings in turn, as `fields`
      warnings: Stream.flatMap(snapshots, (snapshot) =>
        snapshot.connection === undefined ? Stream.empty : snapshot.connection.warnings
      ),
      // on the connection open now; with none, nothing is outstanding to wait for
      reserveOutgoing: (bytes) => Effect.suspend(() => current.connection?.reserveOutgoing(bytes) ?? Effect.void),
      close: Fiber.interrupt(supervisor),
      closed: Deferred.await(closedForGood),
      state: Effect.sync(() => current.state),
      changes: Stream.map(snapshots, (snapshot) => snapshot.state)
    }
    return client
  })
