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
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scheduler from "effect/Scheduler"
import * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import { ConnectionClosed, type ConnectionError, NetworkError } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import { keepAlive, watchdog } from "./internal/liveness.js"
import type { Mailbox } from "./internal/mailbox.js"
import {
  fromItem,
  type Item,
  itemMatches,
  Router,
  type RouterConfig,
  type Sent,
  streamItems
} from "./internal/router.js"
import type { Wire } from "./internal/wire.js"
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
    params?: Field.ParamsInput
  ) => Effect.Effect<Response, ConnectionError, Scope.Scope>
  /** Sends a packet of several fields; the `Response` gets the replies to any of them. */
  readonly sendPacket: (
    packetType: string,
    fields: ReadonlyArray<OutgoingField>
  ) => Effect.Effect<Response, ConnectionError, Scope.Scope>
  /** Sends one field and waits for its first reply (`send` then `Response.recv`, scoped). */
  readonly request: (
    packetType: string,
    fieldName: string,
    params?: Field.ParamsInput
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
  /** Field ids: the next one to give out. */
  readonly nextFieldId: () => number
  /** Runs when the connection ends on its own, before the socket closes (a server's LINK ERRO). */
  readonly beforeEnd?: ((error: ConnectionError) => Effect.Effect<void>) | undefined
}

// The reader resumes in a microtask rather than a macrotask when bytes arrive, saving a turn of
// the event loop on every packet; it cannot starve the loop, since it always goes back to
// waiting on the socket.
const readerScheduler = new Scheduler.MixedScheduler("sync")

/**
 * Assembles an open connection on a wire whose handshake is done: routing, the reader, keep-alive
 * and the receive timeout. Everything lives in `scope`; closing it closes the connection. Client
 * and Server call it; users get connections from them.
 */
export const make = (wire: Wire, config: ConnectionConfig, scope: Scope.Closeable): Effect.Effect<Connection> =>
  Effect.gen(function* () {
    const router = new Router(wire, config)
    const terminate = (error: ConnectionError) => Effect.sync(() => router.terminate(error))

    // When any loop stops, the connection ends: close the scope, which releases the socket.
    const ending = (error: ConnectionError) =>
      Effect.andThen(
        config.beforeEnd === undefined ? terminate(error) : Effect.andThen(config.beforeEnd(error), terminate(error)),
        Effect.forkDetach(Scope.close(scope, Exit.void))
      )
    const readLoop: Effect.Effect<never, ConnectionError> = Effect.forever(
      Effect.andThen(wire.fill(), Effect.suspend(router.routeAvailable))
    )
    yield* Effect.forkIn(
      readLoop.pipe(
        Effect.catch((error: ConnectionError) => ending(error)),
        Effect.provideService(Scheduler.Scheduler, readerScheduler)
      ),
      scope
    )
    yield* Effect.forkIn(
      keepAlive(wire, config.timeout).pipe(Effect.catch((error: ConnectionError) => ending(error))),
      scope
    )
    if (config.timeout > 0) {
      yield* Effect.forkIn(
        watchdog(wire, config.timeout).pipe(Effect.catch((error: ConnectionError) => ending(error))),
        scope
      )
    }
    yield* Scope.addFinalizer(
      scope,
      terminate(new ConnectionClosed({ detail: "the connection was closed", remote: wire.remote }))
    )

    const failIfEnded = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | ConnectionError, R> =>
      Effect.suspend((): Effect.Effect<A, E | ConnectionError, R> => {
        const terminal = router.terminated
        return terminal === undefined ? effect : Effect.fail(terminal)
      })

    const makeResponse = (packetType: string, sent: Sent, mailbox: Mailbox<Item, ConnectionError>): Response => {
      const [first] = sent as readonly [readonly [string, number]]
      return {
        packetType,
        fieldName: first[0],
        fieldId: first[1],
        recv: Effect.flatMap(mailbox.take(), fromItem),
        recvField: (name) => Effect.flatMap(mailbox.take(itemMatches(packetType, name)), fromItem),
        // built on first use: most Responses are only ever `recv`ed
        get fields() {
          return streamItems(mailbox)
        }
      }
    }

    // Plain combinators rather than Effect.gen and acquireRelease: this runs once per command.
    const sendPacket = (
      packetType: string,
      fields: ReadonlyArray<OutgoingField>
    ): Effect.Effect<Response, ConnectionError, Scope.Scope> =>
      Effect.flatMap(Effect.scope, (scope) => {
        const terminal = router.terminated
        if (terminal !== undefined) return Effect.fail(terminal)
        if (fields.length === 0) {
          return Effect.fail(new NetworkError({ detail: "sendPacket needs at least one field", remote: wire.remote }))
        }
        const sent: Sent = fields.map((field) => [field.name, config.nextFieldId()] as const)
        const inputs = fields.map((field, i) => ({
          name: field.name,
          id: (sent[i] as readonly [string, number])[1],
          params: field.params ?? {}
        }))
        const mailbox = router.register(packetType, sent)
        return Scope.addFinalizer(
          scope,
          Effect.sync(() => router.unregister(sent, mailbox))
        ).pipe(Effect.andThen(wire.writePacket(packetType, inputs)), Effect.as(makeResponse(packetType, sent, mailbox)))
      })

    const send = (packetType: string, fieldName: string, params: Field.ParamsInput = {}) =>
      sendPacket(packetType, [{ name: fieldName, params }])

    const connection: Connection = {
      remoteHostname: wire.remote,
      timeout: config.timeout,
      send,
      sendPacket,
      // send + recv without a Scope: the hot path of request/reply clients.
      request: (packetType, fieldName, params = {}) =>
        failIfEnded(
          Effect.suspend(() => {
            const sent: Sent = [[fieldName, config.nextFieldId()]]
            const mailbox = router.register(packetType, sent)
            return wire
              .writePacket(packetType, [{ name: fieldName, id: sent[0]?.[1] ?? 0, params }])
              .pipe(
                Effect.andThen(Effect.flatMap(mailbox.take(), fromItem)),
                Effect.ensuring(Effect.sync(() => router.unregister(sent, mailbox)))
              )
          })
        ),
      recv: Effect.flatMap(router.inbox.take(), fromItem),
      recvField: (packetType, fieldName) =>
        Effect.flatMap(router.inbox.take(itemMatches(packetType, fieldName)), fromItem),
      fields: router.fields,
      close: Scope.close(scope, Exit.void),
      closed: Deferred.await(router.ended)
    }
    return connection
  })
