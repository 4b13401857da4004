/**
 * A simulated RFeye node: the NCP protocol handler of a node without radio hardware, and the
 * deterministic data it serves (sweeps and IQ captures), for demos, tests and the `ncp`
 * command's local mode. Users can test their own programs against it, in-process or over TCP.
 *
 * It behaves like a real node at the protocol level: `LINK HELO` with `NCPV`, `SEID` and
 * `MACA` ({@link hello}), the full handshake and keep-alive (from `Server`), then these
 * commands, each answered first with an `ACKN` reply and then with the data:
 *
 * | command     | params (all optional unless marked)                                         | data reply                                          |
 * | ----------- | --------------------------------------------------------------------------- | --------------------------------------------------- |
 * | `DSPC SWEP` | `FSTA`, `FSTP` (required): start and stop in MHz, as RFeye nodes take them; `BINS` bins (default 1024, 1..65536) | `FSTA`, `FSTP` (as sent), `BINS`, `PDAT` (data u8, levels as `SweepLevel.toDbm` reads them) |
 * | `DSPC TIME` | `FCTR`: centre in MHz (default 2400); `NSMP` (or `SMPS`): complex samples (default 4096, up to 4 Mi); `SRAT`: sample rate in Hz (default 1e6) | `FCTR`, `SRAT`, `NSMP`, `DATA` (data i16, `I, Q, I, Q, ...`) |
 * | `STAT` any  | none                                                                        | `STAT="OK"`, `SEID`, `UPTM` (u32, seconds this connection has been open), `TEMP` (f32, °C) |
 *
 * `DSPC SWEP` and `DSPC TIME` also take `REPT`: how many data replies to send, 100 ms apart
 * (default 1; 0 repeats until the connection closes), so a client can follow a stream of them.
 *
 * The commands are described once with Schemas ({@link Sweep}, {@link Time}, {@link Status}:
 * a worked catalog to copy): clients call them with `CommandClient.call` and `CommandClient.stream`,
 * and the node itself is a `CommandRouter` of them ({@link router}). So bad params (a missing
 * or inverted range, a count out of range, a param of the wrong type) get a reply with
 * `ERRO` naming the param and `ERRC=400`; any other command a reply with
 * `ERRO="Unknown command"`, `ERRC=400`. `LINK` fields after the handshake are ignored.
 *
 * **Fair service.** One connection's expensive commands cannot starve the others: each
 * connection runs at most four commands at once (a repeating one does not block the others;
 * later ones wait in order, then reading stops), and captures and sweeps are generated in
 * slices that yield (`SimulatedSignal`), so a 4 Mi-sample capture never holds the event loop
 * for long. The data are deterministic: the same request gives the same carriers.
 *
 * **Many nodes.** {@link handler} and {@link hello} are one node, `SEID` {@link SERIAL}. A
 * simulated fleet gives each node an {@link Identity} of its own, a name (its `SEID`) and a
 * seed (its carriers): serve {@link makeHandler} with {@link helloOf} the same identity, as
 * `ncp serve --nodes N` and `SimulatedFleet` do ({@link fleetIdentity}).
 *
 * @example
 * ```ts
 * import { SimulatedNode } from "@effect-ncp/core/testing"
 * import { NodeListener } from "@effect-ncp/node"
 * import * as Effect from "effect/Effect"
 * import * as SocketServer from "effect/socket/SocketServer"
 *
 * // A simulated node on 127.0.0.1:9999 until interrupted.
 * const node = SimulatedNode.serve().pipe(
 *   Effect.provideServiceEffect(SocketServer.SocketServer, NodeListener.make({ host: "127.0.0.1", port: 9999 })),
 *   Effect.scoped
 * )
 * ```
 *
 * @module
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import type * as SocketServer from "effect/socket/SocketServer"
import * as CommandRouter from "./CommandRouter.js"
import type * as Connection from "./Connection.js"
import type { ConnectionError } from "./ConnectionError.js"
import type * as Field from "./Field.js"
import * as NcpCommand from "./NcpCommand.js"
import * as Server from "./Server.js"
import * as SimulatedSignal from "./SimulatedSignal.js"
import * as Value from "./Value.js"
import * as WireSchema from "./WireSchema.js"

/** The simulated node's version string, sent as `NCPV` in `LINK HELO`. */
export const NCP_VERSION = "effect-ncp SimulatedNode 0.1.0"
/** The simulated node's id, sent as `SEID` in `LINK HELO` and in `STAT` replies. */
export const SERIAL = "simulated"
/** The simulated node's MAC address (a locally administered one), sent as `MACA`. */
export const MAC_ADDRESS = "02:00:5e:00:00:01"

/**
 * Who a simulated node is: its name, sent as `SEID` (in `LINK HELO` and in `STAT` replies),
 * and the seed of its spectra, so that the nodes of a simulated fleet each show carriers of
 * their own. Each node of `ncp serve --nodes N` and of `SimulatedFleet` is named
 * `simulated-0000`, `simulated-0001`, ... with seeds 1, 2, ...
 */
export interface Identity {
  /** The node's id, sent as `SEID`. Default {@link SERIAL}. */
  readonly name?: string | undefined
  /**
   * Mixed into the seed of every sweep: the same request to two nodes with different seeds
   * shows different carriers. Default: none (the spectra of a lone simulated node).
   */
  readonly seed?: number | undefined
}

/** The params of a simulated node's `LINK HELO`, as a real node sends them, with its name as `SEID`. */
export const helloOf = (identity: Identity = {}): Field.ParamsInput => [
  ["NCPV", Value.string(NCP_VERSION)],
  ["SEID", Value.string(identity.name ?? SERIAL)],
  ["MACA", Value.string(MAC_ADDRESS)]
]

/** The params of the simulated node's `LINK HELO`, as a real node sends them. */
export const hello: Field.ParamsInput = helloOf()

/**
 * The name of node number `index` (from 0) of a simulated fleet: `simulated-0007`. Its seed is
 * `index + 1`.
 */
export const fleetName = (index: number): string => `${SERIAL}-${String(index).padStart(4, "0")}`

/** The identity of node number `index` (from 0) of a simulated fleet: {@link fleetName} and seed `index + 1`. */
export const fleetIdentity = (index: number): Identity => ({ name: fleetName(index), seed: index + 1 })

/** The largest `BINS` a sweep takes. */
export const MAX_SWEEP_BINS = 65_536
/** The largest `NSMP` a time capture takes: 4 Mi complex samples, 16 MiB of data. */
export const MAX_IQ_SAMPLES = 4 * 1024 * 1024
/** The time between repeated data replies (`REPT`). */
export const REPEAT_INTERVAL_MILLIS = 100

/** `REPT`: how many data replies (0: until the connection closes). */
const Repeat = WireSchema.i32.check(Schema.isGreaterThanOrEqualTo(0, { expected: "a whole number, 0 or more" }))

const sweepRange = "SWEP needs FSTA and FSTP (start and stop in MHz)"

/**
 * `DSPC SWEP`: a sweep from `FSTA` to `FSTP` (MHz, as RFeye nodes take them, whole or not) in
 * `BINS` bins (default 1024, 1..{@link MAX_SWEEP_BINS}), repeated `REPT` times
 * {@link REPEAT_INTERVAL_MILLIS} apart (default 1; 0 until the connection closes). Each reply
 * holds the range as sent, `BINS` and the levels, `PDAT` (data u8, `SweepLevel.toDbm`,
 * padded to whole words: `BINS` says how many are real). `BINS` is optional in the reply, for
 * nodes that do not send it.
 *
 * @example
 * ```ts
 * const sweep = yield* CommandClient.call(connection, SimulatedNode.Sweep, { FSTA: 88, FSTP: 108, BINS: 500 })
 * sweep.PDAT.subarray(0, sweep.BINS ?? sweep.PDAT.length)
 * ```
 */
export const Sweep = NcpCommand.make("DSPC", "SWEP", {
  params: Schema.Struct({
    FSTA: WireSchema.number.pipe(Schema.annotateKey({ messageMissingKey: sweepRange })),
    FSTP: WireSchema.number.pipe(Schema.annotateKey({ messageMissingKey: sweepRange })),
    BINS: Schema.optionalKey(
      WireSchema.i32.check(
        Schema.isBetween({ minimum: 1, maximum: MAX_SWEEP_BINS }, { expected: `a whole number 1..${MAX_SWEEP_BINS}` })
      )
    ),
    REPT: Schema.optionalKey(Repeat)
  }).check(
    Schema.makeFilter(({ FSTA, FSTP }) =>
      Number.isFinite(FSTA) && Number.isFinite(FSTP) && FSTA >= 0 && FSTP > FSTA
        ? true
        : { path: ["FSTP"], issue: "SWEP needs 0 <= FSTA < FSTP (MHz)" }
    )
  ),
  reply: {
    FSTA: WireSchema.number,
    FSTP: WireSchema.number,
    BINS: Schema.optionalKey(WireSchema.i32),
    PDAT: WireSchema.u8Array
  },
  stream: true
})

// NSMP, or SMPS as some nodes call it: IQ samples to capture.
const SampleCount = Schema.optionalKey(
  WireSchema.i32.check(
    Schema.isBetween({ minimum: 1, maximum: MAX_IQ_SAMPLES }, { expected: `a whole number 1..${MAX_IQ_SAMPLES}` })
  )
)

/**
 * `DSPC TIME`: an IQ capture of `NSMP` complex samples (or `SMPS`; default 4096, up to
 * {@link MAX_IQ_SAMPLES}) at `SRAT` Hz (default 1e6) around `FCTR` MHz (default 2400),
 * repeated `REPT` times as for {@link Sweep}. Each reply holds `DATA` (data i16, interleaved
 * `I, Q, I, Q, ...`), and `FCTR`, `SRAT`, `NSMP` (optional in the reply, for nodes that do not
 * send them).
 */
export const Time = NcpCommand.make("DSPC", "TIME", {
  params: {
    FCTR: Schema.optionalKey(
      WireSchema.number.check(
        Schema.isFinite(),
        Schema.isGreaterThanOrEqualTo(0, { expected: "a frequency in MHz, 0 or more" })
      )
    ),
    NSMP: SampleCount,
    SMPS: SampleCount,
    SRAT: Schema.optionalKey(
      WireSchema.number.check(
        Schema.isGreaterThan(0, { expected: "a sample rate in Hz above 0" }),
        Schema.isLessThanOrEqualTo(2 ** 31 - 1, { expected: "a sample rate in Hz up to 2^31-1" })
      )
    ),
    REPT: Schema.optionalKey(Repeat)
  },
  reply: {
    FCTR: Schema.optionalKey(WireSchema.number),
    SRAT: Schema.optionalKey(WireSchema.number),
    NSMP: Schema.optionalKey(WireSchema.i32),
    DATA: WireSchema.i16Array
  },
  stream: true
})

/**
 * `STAT`: the node's status, `STAT="OK"`, its id `SEID`, `UPTM` (u32, seconds this connection
 * has been open) and `TEMP` (f32, °C). The simulated node answers it whatever the field's name
 * (`STAT RFLO` as well as `STAT STAT`).
 */
export const Status = NcpCommand.make("STAT", "STAT", {
  reply: { STAT: WireSchema.string, SEID: WireSchema.string, UPTM: WireSchema.u32, TEMP: WireSchema.f32 }
})

/** Every command the simulated node serves. */
export const commands = [Sweep, Time, Status] as const

/** A data reply's bytes besides its data: header, footer and the other params. */
const REPLY_OVERHEAD_BYTES = 128

/** A seed from the request, so the same request shows the same carriers. */
const seedOf = (...numbers: ReadonlyArray<number>): number => {
  let seed = 0x9e3779b9
  for (const n of numbers) seed = Math.imul(seed ^ Math.round(n * 1000), 0x85ebca6b) >>> 0
  return seed
}

/**
 * `data`, then `repeat - 1` more, each {@link REPEAT_INTERVAL_MILLIS} after the previous one (0:
 * forever). The data are generated once: their seed is the request's, so every repeat is the
 * same, and a large capture took longer to generate than the interval.
 */
const repeated = <A>(data: Effect.Effect<A>, repeat: number): Stream.Stream<A> =>
  Stream.unwrap(
    Effect.map(data, (value) => {
      const later = Stream.fromEffectRepeat(Effect.as(Effect.sleep(REPEAT_INTERVAL_MILLIS), value))
      return Stream.concat(Stream.succeed(value), repeat === 0 ? later : Stream.take(later, repeat - 1))
    })
  )

/**
 * The simulated node's router, for a connection opened at `openedAt` (epoch millis, Clock):
 * the commands above, each generated in slices that yield, as the node `identity` names.
 */
export const router = (openedAt: number, identity: Identity = {}) =>
  CommandRouter.make(
    CommandRouter.route(
      Sweep,
      (params) => {
        const bins = params.BINS ?? 1024
        const sweep = Effect.map(
          SimulatedSignal.sweepSpectrumEffect({
            startHz: params.FSTA * 1e6,
            stopHz: params.FSTP * 1e6,
            bins,
            seed:
              identity.seed === undefined
                ? seedOf(params.FSTA, params.FSTP)
                : seedOf(params.FSTA, params.FSTP, identity.seed)
          }),
          (levels) => ({ FSTA: params.FSTA, FSTP: params.FSTP, BINS: bins, PDAT: levels })
        )
        return repeated(sweep, params.REPT ?? 1)
      },
      { replyBytes: (params) => REPLY_OVERHEAD_BYTES + (params.BINS ?? 1024) }
    ),
    CommandRouter.route(
      Time,
      (params) => {
        const centre = params.FCTR ?? 2400
        const samples = params.NSMP ?? params.SMPS ?? 4096
        const rate = params.SRAT ?? 1_000_000
        const capture = Effect.map(
          SimulatedSignal.iqCaptureEffect({
            samples,
            sampleRateHz: rate,
            toneHz: rate / 10,
            seed: seedOf(centre, samples, rate)
          }),
          (iq) => ({ FCTR: centre, SRAT: rate, NSMP: samples, DATA: iq })
        )
        return repeated(capture, params.REPT ?? 1)
      },
      { replyBytes: (params) => REPLY_OVERHEAD_BYTES + 4 * (params.NSMP ?? params.SMPS ?? 4096) }
    ),
    CommandRouter.route(
      Status,
      () =>
        Effect.map(Clock.currentTimeMillis, (now) => ({
          STAT: "OK",
          SEID: identity.name ?? SERIAL,
          UPTM: Math.floor((now - openedAt) / 1000),
          TEMP: 41.5
        })),
      { anyFieldName: true }
    )
  )

/** Options of {@link makeHandler}: who the node is, and how many commands it runs at once. */
export interface HandlerOptions extends Identity {
  /** Commands of one connection that run at once. Default `CommandRouter.defaultConcurrency` (4). */
  readonly concurrency?: number | undefined
}

/**
 * The connection handler of a simulated node with these options: its {@link router}, answering
 * each command with `ACKN` first, anything else with `ERRO="Unknown command"`, `ERRC=400`.
 * Serve it with {@link helloOf} the same identity, so that `LINK HELO` and `STAT` agree.
 *
 * @example
 * ```ts
 * // node 7 of a fleet: SEID "simulated-0007", carriers of its own
 * const identity = SimulatedNode.fleetIdentity(7)
 * const node = Server.serve(SimulatedNode.makeHandler(identity), { hello: SimulatedNode.helloOf(identity) })
 * ```
 */
export const makeHandler =
  (options: HandlerOptions = {}) =>
  (connection: Connection.Connection): Effect.Effect<void, ConnectionError> =>
    Effect.flatMap(Clock.currentTimeMillis, (openedAt) =>
      CommandRouter.toHandler(router(openedAt, options), { acknowledge: true, concurrency: options.concurrency })(
        connection
      )
    )

/**
 * The simulated node's connection handler, for `Server.serve` or `Server.layer`: answers every
 * command on the connection until it closes (see the module doc for the commands), at most
 * four at once. The handler ends when the connection closes, also in the middle of a
 * repeating reply; another failure to send ends it with that error.
 *
 * @example
 * ```ts
 * import { CommandClient, Server } from "@effect-ncp/core"
 * import { SimulatedNode } from "@effect-ncp/core/testing"
 *
 * // The simulated node with a password.
 * const node = Server.serve(SimulatedNode.handler, {
 *   hello: SimulatedNode.hello,
 *   authenticate: ({ username }) => Effect.succeed(username === "admin")
 * })
 * ```
 */
export const handler: (connection: Connection.Connection) => Effect.Effect<void, ConnectionError> = makeHandler()

/**
 * Serves the simulated node on the `SocketServer` in context until interrupted:
 * `Server.serve(handler, { hello, ...options })`.
 */
export const serve = <EA = never, RA = never>(
  options: Server.ServerOptions<EA, RA> = {}
): Effect.Effect<never, SocketServer.SocketServerError, SocketServer.SocketServer | RA> =>
  Server.serve(handler, { hello, ...options })

/** {@link serve} as a Layer: the simulated node runs while the layer is alive. */
export const layer = <EA = never, RA = never>(
  options: Server.ServerOptions<EA, RA> = {}
): Layer.Layer<never, never, SocketServer.SocketServer | RA> => Server.layer(handler, { hello, ...options })
