/**
 * Accepting connections: what a server does with each socket (the tunnel, the handshake, the
 * handler, the answers the protocol gives when something fails) and what its connections share
 * (how many are open, the total of what they hold, the shutdown).
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import type * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type * as Socket from "effect/socket/Socket"
import type * as Connection from "../Connection.js"
import { ConnectionClosed, type ConnectionError, errorParams } from "../ConnectionError.js"
import type * as Field from "../Field.js"
import type * as Limits from "../Limits.js"
import { AcceptedPeer, type PeerAddress } from "../Transport.js"
import { answers, type Credentials } from "../Tunnel.js"
import { ByteBudget } from "./budget.js"
import { make as makeConnection, type Opened } from "./connection.js"
import * as Handshake from "./handshake.js"
import { handshakeFailed, peerAttributes, refused, traced } from "./telemetry.js"
import * as Tunnel from "./tunnel.js"
import { makeWire, type Wire } from "./wire.js"

/** A server's options, resolved: what each accepted connection is handled with. */
export interface AcceptConfig<EA, RA> {
  readonly timeout: number
  readonly tunnel: boolean
  readonly authenticate: ((credentials: Credentials) => Effect.Effect<boolean, EA, RA>) | undefined
  readonly hello: Field.ParamsInput
  readonly autoErro: boolean
  readonly autoWarn: boolean
  readonly autoAckn: boolean
  readonly limits: Limits.ServerLimits
  readonly floats: "f64" | "f32" | undefined
}

const encoder = new TextEncoder()

/** A connection as its server sees it while it shuts down. */
interface Live {
  /** Stops delivering commands; completes once the connection has closed (its handler done, its replies sent). */
  readonly drain: Effect.Effect<void>
  /** Closes at once, dropping what is not sent yet: the grace has run out. */
  readonly abort: () => void
}

/**
 * What the connections of one server share: how many are open, the total of what they hold,
 * and whether the server is shutting down.
 */
export class Shared {
  readonly total: ByteBudget
  readonly totalWrite: ByteBudget
  readonly live = new Set<Live>()
  /** Connections open (or being refused) per client address. */
  private readonly byAddress = new Map<string, number>()
  shuttingDown = false
  /** How many connections were open when the shutdown began. */
  closedAtShutdown = 0
  private refused = 0
  private refusalsLoggedAt = Number.NEGATIVE_INFINITY

  constructor(
    readonly limits: Limits.ServerLimits,
    /** The services of the server: its metric registry. */
    readonly context: Context.Context<never>
  ) {
    this.total = new ByteBudget(limits.maxTotalBufferedBytes)
    this.totalWrite = new ByteBudget(limits.maxTotalWriteBufferBytes)
  }

  /** Counts a connection from `address`; the number open from it, this one included. */
  enter(address: string): number {
    const count = (this.byAddress.get(address) ?? 0) + 1
    this.byAddress.set(address, count)
    return count
  }

  /** Counts a connection from `address` gone. */
  leave(address: string): void {
    const count = (this.byAddress.get(address) ?? 1) - 1
    if (count <= 0) this.byAddress.delete(address)
    else this.byAddress.set(address, count)
  }

  /** Counts a refused connection; logs at most once a second, with the count since. */
  refuse(reason: string, kind: RefusalKind): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.refused++
      refused(this.context, kind)
      if (now - this.refusalsLoggedAt < 1000) return Effect.void
      this.refusalsLoggedAt = now
      const count = this.refused
      this.refused = 0
      return Effect.logWarning(`refused ${count} connection(s): ${reason}`).pipe(
        Effect.annotateLogs({ ncp: "ConnectionRefused", refused: count, open: this.live.size })
      )
    })
  }

  private handshakesFailed = 0
  private handshakesLoggedAt = Number.NEGATIVE_INFINITY

  /**
   * Logs a connection that ended before its handshake completed: one line at Info, at most one
   * a second, with how many ended so since (a burst of port scans is not a burst of lines).
   */
  handshakeFailed(reason: string): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (now) => {
      this.handshakesFailed++
      if (now - this.handshakesLoggedAt < 1000) return Effect.void
      this.handshakesLoggedAt = now
      const count = this.handshakesFailed
      this.handshakesFailed = 0
      return Effect.logInfo(
        count === 1
          ? `connection ended before the handshake completed: ${reason}`
          : `${count} connections ended before the handshake completed; the last: ${reason}`
      ).pipe(Effect.annotateLogs({ ncp: "HandshakeFailed", count }))
    })
  }

  /**
   * Stops delivering commands on every connection and lets them close within `grace`; then
   * aborts whatever is still open.
   */
  shutdown(grace: Duration.Duration): Effect.Effect<void> {
    return Effect.suspend(() => {
      this.shuttingDown = true
      this.closedAtShutdown = this.live.size
      return Effect.forEach([...this.live], (live) => live.drain, { concurrency: "unbounded", discard: true }).pipe(
        Effect.timeoutOrElse({ duration: grace, orElse: () => Effect.void }),
        Effect.andThen(
          Effect.sync(() => {
            for (const live of this.live) live.abort()
          })
        )
      )
    })
  }
}

/**
 * Handles one accepted socket: tunnel, handshake, then `handler` with the open connection.
 * Never fails: every problem is logged, answered on the wire where the protocol says so, and
 * ends only this connection.
 */
export const handle = <E, R, EA, RA>(
  socket: Socket.Socket,
  handler: (connection: Connection.Connection) => Effect.Effect<unknown, E, R>,
  config: AcceptConfig<EA, RA>,
  shared: Shared
): Effect.Effect<void, never, R | RA> =>
  Effect.scoped(
    Effect.gen(function* () {
      const timeout = config.timeout
      const tunnel = config.tunnel
      const parent = yield* Effect.scope
      const scope = yield* Scope.fork(parent)
      const limits = shared.limits
      const peer = yield* Effect.serviceOption(AcceptedPeer)
      const address = peer._tag === "Some" ? peer.value.address : "unknown"
      const fromAddress = shared.enter(address)
      yield* Effect.addFinalizer(() => Effect.sync(() => shared.leave(address)))
      const remote = peer._tag === "Some" ? formatPeer(peer.value) : "client"
      const spanAttributes = peerAttributes("server", address, peer._tag === "Some" ? peer.value.port : undefined)
      const wire = yield* makeWire(socket, {
        role: "server",
        remote,
        limits,
        totalBudget: shared.total,
        totalWriteBudget: shared.totalWrite,
        floats: config.floats
      }).pipe(Scope.provide(scope))
      // refused before the tunnel or the handshake cost anything
      const refusal: readonly [string, RefusalKind] | undefined = shared.shuttingDown
        ? ["the server is shutting down", "shutting_down"]
        : shared.live.size >= limits.maxConnections
          ? [`${shared.live.size} connections are open, the most allowed (maxConnections)`, "max_connections"]
          : fromAddress > limits.maxConnectionsPerAddress
            ? [
                `${fromAddress - 1} connections are open from ${address}, the most allowed from one address (maxConnectionsPerAddress)`,
                "max_connections_per_address"
              ]
            : undefined
      if (refusal !== undefined) {
        yield* refuse(wire, tunnel)
        return yield* shared.refuse(...refusal)
      }
      const closed = Deferred.makeUnsafe<void>()
      let opened: Opened | undefined
      const live: Live = {
        drain: Effect.suspend(() => {
          // Not open yet: nothing in flight to wait for.
          if (opened === undefined) wire.outbox.abortNow()
          else
            opened.stopReceiving(new ConnectionClosed({ detail: "the server is shutting down", remote: wire.remote }))
          return Deferred.await(closed)
        }),
        abort: () => wire.outbox.abortNow()
      }
      shared.live.add(live)
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          shared.live.delete(live)
          Deferred.doneUnsafe(closed, Effect.void)
        })
      )
      if (tunnel) {
        const verdict = yield* traced(Tunnel.server(wire, config.authenticate, timeout), "ncp.tunnel", {
          attributes: spanAttributes
        }).pipe(
          Effect.catch((error) =>
            Effect.as(Effect.ignore(wire.outbox.write(encoder.encode(answers.unauthorized))), {
              _tag: "Refused",
              status: 401,
              reason: errorMessage(error)
            } as const)
          )
        )
        if (verdict._tag === "Refused") {
          // After any answer but 200 the connection closes at once (the scope's end).
          return yield* Effect.logInfo(`tunnel refused (${verdict.status}): ${verdict.reason}`).pipe(
            Effect.annotateLogs({ ncp: "TunnelRefused", status: verdict.status })
          )
        }
      }
      const agreement = yield* traced(Handshake.server(wire, config.hello, timeout), "ncp.handshake", {
        attributes: spanAttributes
      })
      // The error the connection ended with on its own: answered (and, for a defect, logged)
      // as it ended, so a handler failing with it has nothing to add.
      let endedWith: ConnectionError | undefined
      opened = yield* makeConnection(
        wire,
        {
          timeout: agreement.timeout,
          stallTimeout: agreement.timeout > 0 ? agreement.timeout : timeout,
          // whatever the client agreed to, LINK=0 included, it may not stay silent for longer
          readTimeout:
            agreement.timeout > 0 && limits.maxSilentSeconds > 0
              ? Math.min(agreement.timeout, limits.maxSilentSeconds)
              : Math.max(agreement.timeout, limits.maxSilentSeconds),
          idleTimeout: limits.maxIdleSeconds,
          maxPacketsPerSecond: limits.maxPacketsPerSecond,
          packetsPerTurn: PACKETS_PER_TURN,
          autoErro: config.autoErro,
          autoWarn: config.autoWarn,
          autoAckn: config.autoAckn,
          bufferCapacity: limits.bufferCapacity,
          // A server's handler reads every field: a slow one slows the client, losing nothing.
          inboxCapacity: limits.bufferCapacity,
          inboxOverflow: "backpressure",
          checkNames: true,
          nextFieldId: agreement.nextFieldId,
          spanAttributes,
          remoteAddress: peer._tag === "Some" ? peer.value.address : undefined,
          remotePort: peer._tag === "Some" ? peer.value.port : undefined,
          beforeEnd: (error) => {
            endedWith = error
            switch (error._tag) {
              case "DecodeError":
                return Effect.andThen(
                  Effect.logInfo(`bad data from the client; answering LINK ERRO 400: ${error.message}`).pipe(
                    Effect.annotateLogs({ ncp: "BadRequest" })
                  ),
                  sendError(wire, 400)
                )
              case "ConnectionDefect":
                return sendError(wire, 500)
              case "NetworkTimeout":
                return Effect.logInfo(`dropping the connection: ${error.message}`).pipe(
                  Effect.annotateLogs({ ncp: "ConnectionDropped" })
                )
              default:
                return Effect.void
            }
          }
        },
        scope
      )
      const connection = opened.connection
      if (shared.shuttingDown)
        opened.stopReceiving(new ConnectionClosed({ detail: "the server is shutting down", remote: wire.remote }))
      // Suspended, so that a handler throwing before it returns an Effect fails like one whose
      // Effect dies: with a LINK ERRO 500. The handler logs with the connection's annotations.
      const exit = yield* Effect.exit(
        Effect.annotateLogs(
          Effect.suspend(() => handler(connection)),
          wire.annotations
        )
      )
      if (Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause)) {
        const failure = Cause.findErrorOption(exit.cause)
        const error = failure._tag === "Some" ? failure.value : undefined
        const gone =
          (error !== undefined && error === endedWith) ||
          (isTagged(error) && (error._tag === "ConnectionClosed" || error._tag === "NetworkError"))
        if (!gone) {
          const code = isTagged(error) && error._tag === "DecodeError" ? 400 : 500
          yield* Effect.logError(`connection handler failed; answering LINK ERRO ${code}`, exit.cause).pipe(
            Effect.annotateLogs({ ...wire.annotations, ncp: "HandlerFailed", code })
          )
          yield* sendError(wire, code)
        }
      }
      yield* Scope.close(scope, Exit.void)
    }).pipe(
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        if (Cause.hasDies(cause)) {
          return Effect.logError("connection failed unexpectedly before the handshake completed", cause).pipe(
            Effect.annotateLogs({ ncp: "ConnectionDefect" })
          )
        }
        // One line at Info (a port scan, a TLS client that refused the certificate, a client
        // that gave up); what caused it, stack included, at Debug.
        const failure = Cause.findErrorOption(cause)
        const reason = failure._tag === "Some" ? failure.value : undefined
        handshakeFailed(shared.context, "server", isTagged(reason) ? reason._tag : "unknown")
        return Effect.andThen(
          shared.handshakeFailed(reason === undefined ? "unknown" : errorMessage(reason)),
          Effect.logDebug("connection ended before the handshake completed", cause).pipe(
            Effect.annotateLogs({ ncp: "HandshakeFailed" })
          )
        )
      }),
      (connection) => traced(connection, "ncp.connection", { kind: "server" })
    )
  )

/** Why a server turned a connection away, as the refusals metric labels it. */
type RefusalKind = "max_connections" | "max_connections_per_address" | "shutting_down"

/**
 * Packets a server routes from one connection before the others get a turn: a client sending
 * thousands of packets in one chunk does not hold the event loop for all of them.
 */
const PACKETS_PER_TURN = 64

/** A client's address and port as a name: `10.0.0.7:53012`, `[::1]:53012`. */
const formatPeer = (peer: PeerAddress): string =>
  peer.address.includes(":") ? `[${peer.address}]:${peer.port}` : `${peer.address}:${peer.port}`

const isTagged = (u: unknown): u is { readonly _tag: string } =>
  typeof u === "object" && u !== null && "_tag" in u && typeof u._tag === "string"

const errorMessage = (u: unknown): string =>
  typeof u === "object" && u !== null && "message" in u ? String(u.message) : String(u)

/** Sends `LINK ERRO` as the spec words it: 400 "Bad request", 500 "Server error", 503 "Server busy". */
const sendError = (wire: Wire, code: 400 | 500 | 503) =>
  Effect.ignore(
    wire.writePacket("LINK", [
      {
        name: "ERRO",
        id: 0,
        params: errorParams(code === 400 ? "Bad request" : code === 500 ? "Server error" : "Server busy", code)
      }
    ])
  )

/** Turns a connection away before anything else: `LINK ERRO 503`, or an HTTP 503 where the tunnel is expected. */
const refuse = (wire: Wire, tunnel: boolean) =>
  tunnel ? Effect.ignore(wire.outbox.write(encoder.encode(answers.unavailable))) : sendError(wire, 503)
