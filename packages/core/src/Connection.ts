/**
 * An open NCP connection, client or server side, after the LINK handshake.
 *
 * One fiber reads packets and routes every field: to each waiting `Response` whose packet type,
 * field name and field id it matches, to every subscriber of `fields`, and otherwise to the
 * connection's inbox, read by `recv` and `recvField`. A slow Response or subscriber makes
 * routing wait, which stops reading the socket (backpressure to the peer) instead of buffering
 * without bound. The inbox of a client keeps the newest unclaimed fields and logs what it
 * drops, so unsolicited fields nobody reads cannot stall the replies; a server's inbox waits.
 * Another fiber sends keep-alives, a third watches the receive timeout. All live in the
 * connection's scope.
 *
 * @example
 * ```ts
 * import { Connection } from "@effect-ncp/core"
 * import * as Effect from "effect/Effect"
 *
 * declare const connection: Connection.Connection
 * const program = Effect.gen(function* () {
 *   const reply = yield* connection.request("DSPC", "SWEP", { FSTA: 10000, FSTP: 18000 })
 *   console.log(reply.params)
 * })
 * ```
 *
 * @since 0.1.0
 */
import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { ConnectionClosed, ConnectionDefect, type ConnectionError } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import { keepAlive, watchdog } from "./internal/liveness.js"
import type { Mailbox } from "./internal/mailbox.js"
import { type Item, itemMatches, Router, type RouterConfig, type Sent, streamItems } from "./internal/router.js"
import { syncScheduler, type Wire } from "./internal/wire.js"
import type * as Timestamp from "./Timestamp.js"

/** A field received on a connection, with its packet's header and a way to reply to it. */
export interface IncomingField extends Field.Field {
  readonly packetType: string
  readonly packetId: number
  readonly packetTimestamp: Timestamp.Timestamp
  /** Replies to this field: a packet of the same type with one field of the same name and id. */
  readonly reply: (params?: Field.ParamsInput) => Effect.Effect<void, ConnectionError>
}

/**
 * The replies to a command: fields of the same packet type, name and id. Registered before the
 * command is sent, so no reply is missed, and for the life of the scope `send` ran in.
 */
export interface Response {
  readonly packetType: string
  /** The name of the (first) field sent. */
  readonly fieldName: string
  /** The id of the (first) field sent. */
  readonly fieldId: number
  /** The next reply. Fails with a `CommandError` for an error reply. */
  readonly recv: Effect.Effect<IncomingField, ConnectionError>
  /** The next reply to the sent field called `name` (for a packet of several fields). */
  readonly recvField: (name: string) => Effect.Effect<IncomingField, ConnectionError>
  /** Every reply as a Stream; it ends when the connection closes gracefully. */
  readonly fields: Stream.Stream<IncomingField, ConnectionError>
}

/** A field to send in a packet of several fields. */
export interface OutgoingField {
  readonly name: string
  readonly params?: Field.ParamsInput | undefined
}

/**
 * Options of `send`, `sendPacket` and `request`.
 *
 * @example
 * ```ts
 * // Fails with a NetworkTimeout naming "DSPC SWEP" if no reply comes within 5 seconds.
 * const reply = yield* connection.request("DSPC", "SWEP", { FSTA: 400, FSTP: 500 }, { timeout: "5 seconds" })
 * ```
 */
export interface RequestOptions {
  /**
   * The longest wait for each reply: `request`'s first reply, or each `recv`, `recvField` and
   * element of `fields` of the `Response` that `send` returns. Past it the wait fails with a
   * `NetworkTimeout` whose `command` names the packet type and field; the connection stays
   * open. Default: the connection's `requestTimeout` (none unless set).
   */
  readonly timeout?: Duration.Input | undefined
}

/** An open NCP connection. */
export interface Connection {
  /** The peer's name: `host:port` for a client (unless told otherwise), the client's `CIW` for a server. */
  readonly remoteHostname: string
  /** The timeout agreed in the handshake, in seconds (0: a legacy peer, keep-alive every 3 s). */
  readonly timeout: number
  /**
   * Sends one field (a command) and returns its `Response`, registered for the life of the
   * current scope. Completes when the bytes are handed to the socket.
   */
  readonly send: (
    packetType: string,
    fieldName: string,
    params?: Field.ParamsInput,
    options?: RequestOptions
  ) => Effect.Effect<Response, ConnectionError, Scope.Scope>
  /** Sends a packet of one or more fields; the `Response` gets the replies to any of them. */
  readonly sendPacket: (
    packetType: string,
    fields: NonEmptyReadonlyArray<OutgoingField>,
    options?: RequestOptions
  ) => Effect.Effect<Response, ConnectionError, Scope.Scope>
  /**
   * Sends one field and waits for its first reply (`send` then `Response.recv`, without a
   * Scope). With a `timeout` (or the connection's `requestTimeout`), a node that never answers
   * fails it with a `NetworkTimeout` instead of keeping it waiting.
   */
  readonly request: (
    packetType: string,
    fieldName: string,
    params?: Field.ParamsInput,
    options?: RequestOptions
  ) => Effect.Effect<IncomingField, ConnectionError>
  /** The next field no `Response` claimed. */
  readonly recv: Effect.Effect<IncomingField, ConnectionError>
  /** The next field no `Response` claimed with this packet type and name; others stay queued. */
  readonly recvField: (packetType: string, fieldName: string) => Effect.Effect<IncomingField, ConnectionError>
  /**
   * Every incoming field from now on, including those a `Response` also receives (and first
   * the queued fields no `Response` claimed). While a stream runs, unclaimed fields go to it
   * rather than to `recv`. Ends when the connection closes gracefully.
   */
  readonly fields: Stream.Stream<IncomingField, ConnectionError>
  /** Closes the connection now; waiting operations fail with `ConnectionClosed`. */
  readonly close: Effect.Effect<void>
  /** Completes when the connection has ended, with the reason (`ConnectionClosed` when graceful). */
  readonly closed: Effect.Effect<ConnectionError>
}

/**
 * What {@link make} needs besides the wire: the agreed timeout, routing's settings, the field
 * id counter the handshake started, and what a server does before a connection that ended on
 * its own closes.
 */
export interface ConnectionConfig extends RouterConfig {
  readonly timeout: number
  /**
   * How long the socket may hold bytes the peer does not read before the connection is
   * dropped, in seconds (0: never). Usually the agreed timeout; for a legacy peer (timeout 0)
   * the side's own configured timeout.
   */
  readonly stallTimeout: number
  /** The default deadline for each reply of a request, or `undefined` for none. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Field ids: the next one to give out. */
  readonly nextFieldId: () => number
  /** Runs when the connection ends on its own, before the socket closes (a server's LINK ERRO). */
  readonly beforeEnd?: ((error: ConnectionError) => Effect.Effect<void>) | undefined
}

/** An open connection, and what its server does with it when it shuts down. */
export interface Opened {
  readonly connection: Connection
  /**
   * Stops delivering received fields: the `fields` streams and `recv` end (as at a graceful
   * close) once they have handed out what is queued. Writing goes on, so replies in flight are
   * still sent.
   */
  readonly stopReceiving: (reason: ConnectionClosed) => void
}

/**
 * Assembles an open connection on a wire whose handshake is done: routing, the reader, keep-alive
 * and the receive timeout. Everything lives in `scope`; closing it closes the connection. Client
 * and Server call it; users get connections from them.
 *
 * Every fiber forked here ends the connection on any exit but an interruption (which only the
 * scope's closing causes): a typed failure ends it with that error, a defect with a
 * `ConnectionDefect` carrying the cause, logged once at Error level.
 */
export const make = (wire: Wire, config: ConnectionConfig, scope: Scope.Closeable): Effect.Effect<Opened> =>
  Effect.gen(function* () {
    const router = new Router(wire, config)
    const terminate = (error: ConnectionError) => Effect.sync(() => router.terminate(error))

    // When any part stops, the connection ends: close the scope, which releases the socket.
    const ending = (error: ConnectionError) =>
      Effect.andThen(
        config.beforeEnd === undefined ? terminate(error) : Effect.andThen(config.beforeEnd(error), terminate(error)),
        // detached: the fiber ending the connection may itself live in `scope`
        Effect.forkDetach(Scope.close(scope, Exit.void))
      )
    const endOnExit =
      (part: string) =>
      (effect: Effect.Effect<unknown, ConnectionError>): Effect.Effect<void> =>
        Effect.catchCause(effect, (cause) => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.void
          const failure = Cause.findErrorOption(cause)
          if (failure._tag === "Some") return ending(failure.value)
          const error = new ConnectionDefect({
            detail: `the connection's ${part} failed unexpectedly`,
            remote: wire.remote,
            cause: Cause.squash(cause)
          })
          return Effect.logError(error.detail, cause).pipe(
            Effect.annotateLogs({ ncp: "ConnectionDefect", remote: wire.remote }),
            Effect.andThen(ending(error))
          )
        })

    // Routes first: the handshake may have read past its last field, and those packets must
    // not wait for (or be lost at) the next read.
    const readLoop: Effect.Effect<never, ConnectionError> = Effect.forever(
      Effect.andThen(Effect.suspend(router.routeAvailable), wire.fill())
    )
    yield* Effect.forkIn(
      readLoop.pipe(endOnExit("reader"), Effect.provideService(Scheduler.Scheduler, syncScheduler)),
      scope
    )
    yield* Effect.forkIn(keepAlive(wire, config.timeout).pipe(endOnExit("keep-alive")), scope)
    if (config.timeout > 0 || config.stallTimeout > 0) {
      yield* Effect.forkIn(watchdog(wire, config.timeout, config.stallTimeout).pipe(endOnExit("watchdog")), scope)
    }
    // The writer fiber belongs to the wire (the handshake writes too); when it breaks, the
    // connection ends with its error.
    yield* Effect.forkIn(Deferred.await(wire.broken).pipe(endOnExit("writer")), scope)
    // The error is built when the scope closes, not now: an error captures its stack trace,
    // whose frames would keep the setup's fibers and closures alive for the connection's life.
    yield* Scope.addFinalizer(
      scope,
      Effect.suspend(() =>
        terminate(new ConnectionClosed({ detail: "the connection was closed", remote: wire.remote }))
      )
    )

    const defaultDeadline =
      config.requestTimeout === undefined ? undefined : Duration.fromInputUnsafe(config.requestTimeout)
    /** `take` under the reply deadline, if there is one. */
    const withDeadline = (
      take: Effect.Effect<IncomingField, ConnectionError>,
      packetType: string,
      fieldName: string,
      timeout: Duration.Input | undefined
    ): Effect.Effect<IncomingField, ConnectionError> => {
      const duration = timeout === undefined ? defaultDeadline : Duration.fromInputUnsafe(timeout)
      if (duration === undefined) return take
      const command = `${packetType} ${fieldName}`
      return wire.withDeadline(take, duration, `waiting for a reply to ${command}`, command)
    }

    const makeResponse = (
      packetType: string,
      sent: Sent,
      mailbox: Mailbox<Item, ConnectionError>,
      timeout: Duration.Input | undefined
    ): Response => {
      const [name, id] = sent[0] ?? ["", 0]
      return {
        packetType,
        fieldName: name,
        fieldId: id,
        recv: withDeadline(Effect.flatMap(mailbox.take(), Effect.fromResult), packetType, name, timeout),
        recvField: (fieldName) =>
          withDeadline(
            Effect.flatMap(mailbox.take(itemMatches(packetType, fieldName)), Effect.fromResult),
            packetType,
            fieldName,
            timeout
          ),
        // built on first use: most Responses are only ever `recv`ed
        get fields() {
          return streamItems(mailbox, (take) => withDeadline(take, packetType, name, timeout))
        }
      }
    }

    // Plain combinators rather than Effect.gen and acquireRelease: this runs once per command.
    const sendPacket = (
      packetType: string,
      fields: NonEmptyReadonlyArray<OutgoingField>,
      options?: RequestOptions
    ): Effect.Effect<Response, ConnectionError, Scope.Scope> =>
      Effect.flatMap(Effect.scope, (scope) => {
        const terminal = router.terminated
        if (terminal !== undefined) return Effect.fail(terminal)
        const inputs = fields.map((field) => ({
          name: field.name,
          id: config.nextFieldId(),
          params: field.params ?? {}
        }))
        const sent: Sent = inputs.map((field) => [field.name, field.id] as const)
        const mailbox = router.register(packetType, sent)
        return Scope.addFinalizer(
          scope,
          Effect.sync(() => router.unregister(sent, mailbox))
        ).pipe(
          Effect.andThen(wire.writePacket(packetType, inputs)),
          Effect.as(makeResponse(packetType, sent, mailbox, options?.timeout))
        )
      })

    const connection: Connection = {
      remoteHostname: wire.remote,
      timeout: config.timeout,
      send: (packetType, fieldName, params = {}, options) =>
        sendPacket(packetType, [{ name: fieldName, params }], options),
      sendPacket,
      // send + recv without a Scope: the hot path of request/reply clients.
      request: (packetType, fieldName, params = {}, options) =>
        Effect.suspend(() => {
          const terminal = router.terminated
          if (terminal !== undefined) return Effect.fail(terminal)
          const id = config.nextFieldId()
          const sent: Sent = [[fieldName, id]]
          const mailbox = router.register(packetType, sent)
          return wire
            .writePacket(packetType, [{ name: fieldName, id, params }])
            .pipe(
              Effect.andThen(
                withDeadline(Effect.flatMap(mailbox.take(), Effect.fromResult), packetType, fieldName, options?.timeout)
              ),
              Effect.ensuring(Effect.sync(() => router.unregister(sent, mailbox)))
            )
        }),
      recv: Effect.flatMap(router.inbox.take(), Effect.fromResult),
      recvField: (packetType, fieldName) =>
        Effect.flatMap(router.inbox.take(itemMatches(packetType, fieldName)), Effect.fromResult),
      fields: router.fields,
      close: Scope.close(scope, Exit.void),
      closed: Deferred.await(router.ended)
    }
    return { connection, stopReceiving: (reason) => router.stopReceiving(reason) }
  })
