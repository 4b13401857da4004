/**
 * Assembling an open connection on a wire whose handshake is done: routing in the socket's
 * events, the liveness fiber (keep-alives and the timeouts), and the `Connection` object users
 * get. Client and Server call it.
 */

import type { NonEmptyReadonlyArray } from "effect/Array"
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import type { Connection, OutgoingField, RequestOptions, Response } from "../Connection.js"
import { CommandError, ConnectionClosed, ConnectionDefect, type ConnectionError } from "../ConnectionError.js"
import type * as Field from "../Field.js"
import { withDeadline } from "./deadline.js"
import { anyItem, fromItem, type Item, itemMatches, type Received } from "./items.js"
import { liveness } from "./liveness.js"
import { type ReplyDeadline, ResponseImpl } from "./response.js"
import { ResponseMailbox } from "./responses.js"
import { Router, type RouterConfig } from "./router.js"
import {
  commandAttributes,
  commandSpan,
  failedOutcome,
  logClose,
  logOpen,
  noStackTrace,
  Supervised
} from "./telemetry.js"
import type { Wire } from "./wire.js"

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
  /** How long a pull may wait for bytes, in seconds (0: no limit): the agreed timeout, bounded on a server. */
  readonly readTimeout: number
  /** How long the peer may go without a command, in seconds (0: no limit). */
  readonly idleTimeout: number
  /** The default deadline for each reply of a request, or `undefined` for none. */
  readonly requestTimeout?: Duration.Input | undefined
  /** Field ids: the next one to give out. */
  readonly nextFieldId: () => number
  /** Runs when the connection ends on its own, before the socket closes (a server's LINK ERRO). */
  readonly beforeEnd?: ((error: ConnectionError) => Effect.Effect<void>) | undefined
  /** The attributes of the connection's spans: the peer's address and port. */
  readonly spanAttributes: Record<string, unknown>
  /** The peer's address and port, as far as they are known. */
  readonly remoteAddress: string | undefined
  readonly remotePort: number | undefined
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
 * Assembles an open connection on a wire whose handshake is done: routing, keep-alives and the
 * timeouts. Everything lives in `scope`; closing it closes the connection. Client and Server
 * call it; users get connections from them.
 *
 * Every fiber forked here (the liveness fiber, and those routing waits in) ends the connection
 * on any exit but an interruption (which only the scope's closing causes): a typed failure ends
 * it with that error, a defect with a `ConnectionDefect` carrying the cause, logged once at
 * Error level.
 */
export const make = (wire: Wire, config: ConnectionConfig, scope: Scope.Closeable): Effect.Effect<Opened> =>
  Effect.gen(function* () {
    const tracer = yield* Effect.tracer
    const traced = tracer !== Tracer.nativeTracer
    const router = new Router(wire, config, traced ? { tracer, attributes: config.spanAttributes } : undefined)
    const terminate = (error: ConnectionError) => Effect.sync(() => router.terminate(error))
    const telemetry = wire.telemetry
    const annotations = wire.annotations
    const logged = !(yield* Supervised)
    telemetry.opened()
    if (logged) yield* logOpen(wire).pipe(Effect.annotateLogs(annotations))

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
            Effect.annotateLogs({ ...annotations, ncp: "ConnectionDefect" }),
            Effect.andThen(ending(error))
          )
        })

    // From now on the reader routes every packet as it arrives, starting with those the
    // handshake read past its last field. Only what must wait runs in a fiber, which ends the
    // connection as a reader fiber would (see endOnExit), and logs with its annotations.
    const endOnRead = endOnExit("reader")
    wire.reader.startRouting({
      route: router.routeAvailable,
      onExit: (effect) => Effect.annotateLogs(endOnRead(effect), annotations)
    })
    // One fiber for keep-alives and every bound (the receive, stall and idle timeouts).
    yield* Effect.forkIn(
      Effect.annotateLogs(
        liveness(wire, {
          timeout: config.timeout,
          readSeconds: config.readTimeout,
          stallSeconds: config.stallTimeout,
          idleSeconds: config.idleTimeout,
          lastCommand: () => router.lastCommand
        }).pipe(endOnExit("liveness")),
        annotations
      ),
      scope
    )
    // The writer belongs to the wire (the handshake writes too); when it breaks, the
    // connection ends with its error.
    wire.outbox.onBroken((error) =>
      wire.spawn(Effect.annotateLogs(endOnExit("writer")(Effect.fail(error)), annotations))
    )
    // The error is built when the scope closes, not now: an error captures its stack trace,
    // whose frames would keep the setup's fibers and closures alive for the connection's life.
    yield* Scope.addFinalizer(
      scope,
      Effect.suspend(() => {
        router.terminate(new ConnectionClosed({ detail: "the connection was closed", remote: wire.remote }))
        const reason = wire.ended
        if (reason === undefined) return Effect.void
        telemetry.closed(reason)
        return logged ? logClose(wire, reason).pipe(Effect.annotateLogs(annotations)) : Effect.void
      })
    )

    /** A command sent, at Debug, with the connection's annotations (the caller's fiber lacks them). */
    const logSent = (packetType: string, fieldName: string, id: number) =>
      Effect.logDebug(`sent ${packetType} ${fieldName}`).pipe(
        Effect.annotateLogs({ ...annotations, ncp: "CommandSent", fieldId: id })
      )

    const defaultDeadline =
      config.requestTimeout === undefined ? undefined : Duration.fromInputUnsafe(config.requestTimeout)
    /** `take` under the reply deadline, if there is one; `timedOut` runs when it passes. */
    const replyDeadline = (
      take: Effect.Effect<Received, ConnectionError>,
      packetType: string,
      fieldName: string,
      timeout: Duration.Input | undefined,
      timedOut?: () => void
    ): Effect.Effect<Received, ConnectionError> => {
      const duration = timeout === undefined ? defaultDeadline : Duration.fromInputUnsafe(timeout)
      if (duration === undefined) return take
      const command = `${packetType} ${fieldName}`
      return withDeadline(take, duration, wire.remote, `waiting for a reply to ${command}`, command, timedOut)
    }
    const responseDeadline: ReplyDeadline = replyDeadline
    const capacity = router.responseCapacity
    const budget = wire.reader.budget

    /** The Responses registered in each scope, released together when it closes: one finalizer per scope, not per command. */
    const heldByScope = new WeakMap<Scope.Scope, Array<ResponseImpl>>()
    const releaseAll = (held: ReadonlyArray<ResponseImpl>) =>
      Effect.sync(() => {
        for (const response of held) router.unregister(response)
      })

    // Plain combinators rather than Effect.gen and acquireRelease: this runs once per command.
    const sendPacket = (
      packetType: string,
      fields: NonEmptyReadonlyArray<OutgoingField>,
      options?: RequestOptions
    ): Effect.Effect<Response, ConnectionError, Scope.Scope> => {
      const sending = sendFields(packetType, fields, options)
      if (!traced) return sending
      // the span lasts as long as the Response: until the caller's scope closes
      const name = `${packetType} ${fields[0].name}`
      return Effect.flatMap(
        Effect.makeSpanScoped(name, {
          kind: "client",
          attributes: commandAttributes(packetType, name, config.spanAttributes),
          ...noStackTrace
        }),
        (span) => Effect.withParentSpan(sending, span)
      )
    }
    const sendFields = (
      packetType: string,
      fields: NonEmptyReadonlyArray<OutgoingField>,
      options: RequestOptions | undefined
    ): Effect.Effect<Response, ConnectionError, Scope.Scope> =>
      Effect.flatMap(Effect.scope, (scope) => {
        const terminal = router.terminated
        if (terminal !== undefined) return Effect.fail(terminal)
        const inputs = Arr.map(fields, (field) => ({
          name: field.name,
          id: config.nextFieldId(),
          params: field.params ?? {}
        }))
        const response = new ResponseImpl(capacity, budget, packetType, inputs, responseDeadline, options?.timeout)
        router.register(response)
        for (const field of inputs) telemetry.commandSent(packetType, field.name)
        const writing = telemetry.debug
          ? Effect.andThen(
              Effect.forEach(inputs, (field) => logSent(packetType, field.name, field.id), { discard: true }),
              wire.writePacket(packetType, inputs)
            )
          : wire.sendNow(packetType, inputs)
        const write = writing === undefined ? Effect.succeed<Response>(response) : Effect.as(writing, response)
        const held = heldByScope.get(scope)
        if (held !== undefined) {
          held.push(response)
          return write
        }
        // Registered before the finalizer is added: a scope already closed runs it at once.
        const first = [response]
        heldByScope.set(scope, first)
        return Effect.andThen(
          Scope.addFinalizer(
            scope,
            Effect.suspend(() => {
              heldByScope.delete(scope)
              return releaseAll(first)
            })
          ),
          write
        )
      })

    /** `request`'s exchange: registered, sent, its one reply taken, and its outcome counted. */
    const exchange = (
      packetType: string,
      fieldName: string,
      params: Field.ParamsInput,
      options: RequestOptions | undefined
    ): Effect.Effect<Received, ConnectionError> =>
      Effect.suspend(() => {
        const terminal = router.terminated
        if (terminal !== undefined) return Effect.fail(terminal)
        const id = config.nextFieldId()
        const mailbox = new ResponseMailbox(capacity, budget, packetType, fieldName, id, undefined)
        router.register(mailbox)
        const started = wire.clock.currentTimeMillisUnsafe()
        telemetry.commandSent(packetType, fieldName)
        const seconds = () => (wire.clock.currentTimeMillisUnsafe() - started) / 1000
        const failed = (error: ConnectionError) => {
          const code = error._tag === "CommandError" ? error.code : undefined
          telemetry.reply(packetType, fieldName, failedOutcome(error), code, seconds())
        }
        const replied = (item: Item): Effect.Effect<Received, ConnectionError> => {
          if (item instanceof CommandError) failed(item)
          else telemetry.reply(packetType, fieldName, "ok", undefined, seconds())
          return fromItem(item)
        }
        const ended = (error: ConnectionError): Effect.Effect<never, ConnectionError> => {
          failed(error)
          return Effect.fail(error)
        }
        const release = () => router.unregister(mailbox)
        // The one take releases the Response as it completes, fails or is interrupted: no
        // `ensuring` (several ops per request) around it.
        const reply = replyDeadline(
          mailbox.takeFirst(replied, ended, release),
          packetType,
          fieldName,
          options?.timeout,
          () => telemetry.reply(packetType, fieldName, "timeout", undefined, seconds())
        )
        const sent = [{ name: fieldName, id, params }]
        const writing = telemetry.debug
          ? Effect.andThen(logSent(packetType, fieldName, id), wire.writePacket(packetType, sent))
          : wire.sendNow(packetType, sent)
        if (writing === undefined) return reply
        return Effect.andThen(
          Effect.tapError(writing, (error) =>
            Effect.sync(() => {
              release()
              failed(error)
            })
          ),
          reply
        )
      })

    const connection: Connection = {
      remoteHostname: wire.peerHostname ?? wire.remote,
      remoteAddress: config.remoteAddress,
      remotePort: config.remotePort,
      timeout: config.timeout,
      send: (packetType, fieldName, params = {}, options) =>
        sendPacket(packetType, [{ name: fieldName, params }], options),
      sendPacket,
      // send + recv without a Scope: the hot path of request/reply clients.
      request: (packetType, fieldName, params = {}, options) => {
        const exchanged = exchange(packetType, fieldName, params, options)
        return traced ? commandSpan(exchanged, packetType, fieldName, config.spanAttributes) : exchanged
      },
      recv: router.inbox.takeAs(anyItem, fromItem),
      recvField: (packetType, fieldName) => router.inbox.takeAs(itemMatches(packetType, fieldName), fromItem),
      fields: router.fields,
      warnings: router.warnings,
      reserveOutgoing: (bytes) => wire.outbox.reserve(bytes),
      close: Scope.close(scope, Exit.void),
      closed: Deferred.await(router.ended)
    }
    router.connection = connection
    return { connection, stopReceiving: (reason) => router.stopReceiving(reason) }
  })
