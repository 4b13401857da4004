/**
 * The LINK handshake, both roles, over a wire (after the tunnel, when there is one):
 *
 * ```text
 * server: LINK HELO            client: LINK CCRE (CIW, CUSR, CDOM, LINK)
 * server: LINK SCAR (LINK)     client: LINK CARE (CAR)
 * server: LINK SCON
 * ```
 *
 * Each side waits for each expected field under one deadline, skipping other fields; a
 * `LINK ERRO` fails the handshake. The server clamps the timeout the client asks for; the
 * client takes the one the server answers. Field ids come from one counter per connection,
 * which the open connection goes on using.
 */
import * as Effect from "effect/Effect"
import { CommandError, type ConnectionError } from "../ConnectionError.js"
import * as Field from "../Field.js"
import type { Packet } from "../Packet.js"
import { withDeadline } from "./deadline.js"
import type { Wire } from "./wire.js"

/** A counter of field ids that wraps at 2^32. */
const fieldIds = (): (() => number) => {
  let next = 1
  return () => {
    const id = next
    next = (next + 1) % 4294967296
    return id
  }
}

/** The value of a LINK param as a timeout: a non-negative integer, else `undefined`. */
const linkTimeout = (field: Field.Field): number | undefined => {
  const value = Field.get(field, "LINK")
  return typeof value === "number" && Number.isInteger(value) && value >= 0 ? value : undefined
}

/**
 * The timeout a server agrees to for the one a client asks: 0 stays 0 (legacy), otherwise
 * clamped into 5..60 seconds.
 */
export const clampTimeout = (requested: number): number => (requested === 0 ? 0 : Math.min(60, Math.max(5, requested)))

/**
 * Reads packets until a field of this packet type and name arrives, skipping others (as the
 * handshake must), under one deadline for the field. A `LINK ERRO` fails with a `CommandError`.
 */
const waitField = (
  wire: Wire,
  packetType: string,
  fieldName: string,
  timeoutSeconds: number
): Effect.Effect<{ readonly packet: Packet; readonly field: Field.Field }, ConnectionError> => {
  const loop: Effect.Effect<{ readonly packet: Packet; readonly field: Field.Field }, ConnectionError> = Effect.flatMap(
    wire.reader.readPacket(),
    ({ packet }) => {
      for (const field of packet.fields) {
        if (packet.type === packetType && field.name === fieldName) return Effect.succeed({ packet, field })
        if (packet.type === "LINK" && field.name === "ERRO") return Effect.fail(CommandError.fromField("LINK", field))
      }
      return loop
    }
  )
  // A deadline for the field, not for each packet: a peer sending other packets (say
  // keep-alives) but never this field must not hold the handshake open forever.
  return withDeadline(loop, timeoutSeconds, wire.remote, `waiting for ${packetType} ${fieldName}`)
}

/**
 * The timeout a `LINK` param of CCRE or SCAR carries; a missing, negative or non-numeric one
 * counts as 0 (legacy), with a decode warning naming the field and the value.
 */
const readLinkTimeout = (wire: Wire, field: Field.Field) =>
  Effect.suspend(() => {
    const timeout = linkTimeout(field)
    if (timeout !== undefined) return Effect.succeed(timeout)
    const value = Field.getValue(field, "LINK")
    const described = value === undefined ? "missing" : `${value.type} ${String(value.value)}`
    return Effect.as(
      Effect.logWarning(`LINK ${field.name} carries no valid LINK timeout (${described}); using 0 (legacy)`).pipe(
        Effect.annotateLogs({
          ncp: "DecodeWarning",
          remote: wire.remote,
          packetType: "LINK",
          field: field.name,
          param: "LINK"
        })
      ),
      0
    )
  })

const logTimeoutChanged = (wire: Wire, requested: number, agreed: number) =>
  Effect.logWarning(`timeout of ${requested} s asked for, ${agreed} s agreed (servers clamp into 5..60 s)`).pipe(
    Effect.annotateLogs({ ncp: "TimeoutChanged", remote: wire.remote, requested, agreed })
  )

/** What a handshake settles. */
export interface Agreement {
  /** The timeout both sides use, in seconds (0: legacy). */
  readonly timeout: number
  /** The connection's field ids, going on from the handshake's. */
  readonly nextFieldId: () => number
}

/** The client's names, sent in CCRE and CARE. */
export interface ClientIdentity {
  readonly hostname: string
  readonly username: string
  readonly domain: string
}

/** The client's side: asks for `timeout` seconds and takes the one the server answers. */
export const client = (
  wire: Wire,
  identity: ClientIdentity,
  timeout: number
): Effect.Effect<Agreement, ConnectionError> =>
  Effect.gen(function* () {
    const nextFieldId = fieldIds()
    yield* waitField(wire, "LINK", "HELO", timeout)
    yield* wire.writePacket("LINK", [
      {
        name: "CCRE",
        id: nextFieldId(),
        params: [
          ["CIW", { type: "string", value: identity.hostname }],
          ["CUSR", { type: "string", value: identity.username }],
          ["CDOM", { type: "string", value: identity.domain }],
          // whole seconds on the wire: a fraction asked for is rounded up
          ["LINK", { type: "i32", value: Math.ceil(timeout) }]
        ]
      }
    ])
    const { field: scar } = yield* waitField(wire, "LINK", "SCAR", timeout)
    const agreed = yield* readLinkTimeout(wire, scar)
    if (agreed !== 0 && agreed !== timeout) yield* logTimeoutChanged(wire, timeout, agreed)
    yield* wire.writePacket("LINK", [
      { name: "CARE", id: nextFieldId(), params: [["CAR", { type: "string", value: identity.hostname }]] }
    ])
    yield* waitField(wire, "LINK", "SCON", timeout)
    return { timeout: agreed, nextFieldId }
  })

/**
 * The server's side: greets with `hello`, keeps the host name the client gives (`CIW`), and clamps the
 * timeout it asks for.
 */
export const server = (
  wire: Wire,
  hello: Field.ParamsInput,
  timeout: number
): Effect.Effect<Agreement, ConnectionError> =>
  Effect.gen(function* () {
    const nextFieldId = fieldIds()
    yield* wire.writePacket("LINK", [{ name: "HELO", id: 0, params: hello }])
    const { field: ccre } = yield* waitField(wire, "LINK", "CCRE", timeout)
    const ciw = Field.get(ccre, "CIW")
    if (typeof ciw === "string" && ciw !== "") wire.peerHostname = ciw
    const requested = yield* readLinkTimeout(wire, ccre)
    const agreed = clampTimeout(requested)
    if (agreed !== requested) yield* logTimeoutChanged(wire, requested, agreed)
    yield* wire.writePacket("LINK", [
      { name: "SCAR", id: nextFieldId(), params: [["LINK", { type: "i32", value: agreed }]] }
    ])
    yield* waitField(wire, "LINK", "CARE", timeout)
    yield* wire.writePacket("LINK", [{ name: "SCON", id: nextFieldId(), params: [] }])
    return { timeout: agreed, nextFieldId }
  })
