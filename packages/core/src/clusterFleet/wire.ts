/**
 * What crosses between the clustered fleet's processes: a reply field as the NCP packet that
 * carried it, a connection's error as plain fields (the same class and fields again at the other
 * end), and a node's state with the runner holding it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import * as Schema from "effect/Schema"
import * as SchemaIssue from "effect/SchemaIssue"
import * as SchemaTransformation from "effect/SchemaTransformation"
import { DecodeError, DecodeErrorReason, EncodeError, EncodeErrorReason } from "../CodecError.js"
import {
  AuthenticationError,
  CommandError,
  ConnectionClosed,
  ConnectionDefect,
  type ConnectionError,
  NetworkError,
  NetworkTimeout,
  NotConnected
} from "../ConnectionError.js"
import * as Decoder from "../Decoder.js"
import * as Encoder from "../Encoder.js"
import type * as Fleet from "../Fleet.js"
import * as NcpError from "../NcpError.js"
import { causeText } from "./details.js"

const isReplyField = (u: unknown): u is Fleet.ReplyField =>
  typeof u === "object" && u !== null && "packetType" in u && "packetId" in u && "params" in u

/**
 * A reply field on the wire: the NCP packet that carried it (its type, id and timestamp, and
 * the field alone), so every value type crosses exactly as the node sent it.
 */
export const ReplyFieldFromBytes = Schema.Uint8Array.pipe(
  Schema.decodeTo(
    Schema.declare(isReplyField, { identifier: "ReplyField" }),
    SchemaTransformation.transformEffect({
      decode: (bytes: Uint8Array, options) => {
        const decoded = Decoder.decodePacket(bytes)
        const packet = Result.isSuccess(decoded) ? decoded.success.packet : undefined
        const field = packet?.fields[0]
        return packet === undefined || field === undefined
          ? Effect.fail(
              new SchemaIssue.InvalidValue(
                { message: Result.isFailure(decoded) ? decoded.failure.message : "a reply packet without a field" },
                bytes,
                options
              )
            )
          : Effect.succeed<Fleet.ReplyField>({
              packetType: packet.type,
              packetId: packet.id,
              packetTimestamp: packet.timestamp,
              name: field.name,
              id: field.id,
              params: field.params
            })
      },
      encode: (reply: Fleet.ReplyField, options) => {
        const encoded = Encoder.encodePacket({
          type: reply.packetType,
          id: reply.packetId,
          timestamp: reply.packetTimestamp,
          fields: [{ name: reply.name, id: reply.id, params: reply.params }]
        })
        return Result.isSuccess(encoded)
          ? Effect.succeed(encoded.success)
          : Effect.fail(new SchemaIssue.InvalidValue({ message: encoded.failure.message }, reply, options))
      }
    })
  )
)

const Remote = Schema.optional(Schema.String)
const Where = {
  packetType: Schema.optional(Schema.String),
  field: Schema.optional(Schema.String),
  param: Schema.optional(Schema.String)
}

/** The errors a connection fails with, as plain fields: causes as their text, a field as its packet. */
const LeafErrorWire = Schema.Union([
  Schema.TaggedStruct("NetworkError", { detail: Schema.String, remote: Remote }),
  Schema.TaggedStruct("AuthenticationError", { detail: Schema.String, remote: Remote }),
  Schema.TaggedStruct("NetworkTimeout", {
    seconds: Schema.Number,
    during: Schema.String,
    remote: Remote,
    command: Schema.optional(Schema.String)
  }),
  Schema.TaggedStruct("ConnectionClosed", { detail: Schema.String, remote: Remote }),
  // the error reply itself: `CommandError.fromField` reads it again
  Schema.TaggedStruct("CommandError", { reply: Schema.Uint8Array }),
  Schema.TaggedStruct("ConnectionDefect", { detail: Schema.String, remote: Remote, cause: Schema.String }),
  Schema.TaggedStruct("DecodeError", {
    reason: DecodeErrorReason,
    offset: Schema.Number,
    detail: Schema.String,
    ...Where
  }),
  Schema.TaggedStruct("EncodeError", { reason: EncodeErrorReason, detail: Schema.String, ...Where })
])
type LeafErrorWire = typeof LeafErrorWire.Type

const ErrorWire = Schema.Union([
  ...LeafErrorWire.members,
  Schema.TaggedStruct("NotConnected", {
    state: Schema.Literals(["Connecting", "BackingOff", "Closed"]),
    remote: Remote,
    attempt: Schema.optional(Schema.Number),
    lastError: Schema.optional(LeafErrorWire)
  })
])
type ErrorWire = typeof ErrorWire.Type

const leafToWire = (error: Exclude<ConnectionError, NotConnected>): LeafErrorWire => {
  switch (error._tag) {
    case "NetworkError":
      return { _tag: "NetworkError", detail: error.detail, remote: error.remote }
    case "AuthenticationError":
      return { _tag: "AuthenticationError", detail: error.detail, remote: error.remote }
    case "NetworkTimeout":
      return {
        _tag: "NetworkTimeout",
        seconds: error.seconds,
        during: error.during,
        remote: error.remote,
        command: error.command
      }
    case "ConnectionClosed":
      return { _tag: "ConnectionClosed", detail: error.detail, remote: error.remote }
    case "CommandError": {
      const reply = Encoder.encodePacket({ type: error.packetType, fields: [error.field] })
      return Result.isSuccess(reply)
        ? { _tag: "CommandError", reply: reply.success }
        : { _tag: "NetworkError", detail: error.message, remote: undefined }
    }
    case "ConnectionDefect":
      return { _tag: "ConnectionDefect", detail: error.detail, remote: error.remote, cause: causeText(error.cause) }
    case "DecodeError":
      return {
        _tag: "DecodeError",
        reason: error.reason,
        offset: error.offset,
        detail: error.detail,
        packetType: error.packetType,
        field: error.field,
        param: error.param
      }
    case "EncodeError":
      return {
        _tag: "EncodeError",
        reason: error.reason,
        detail: error.detail,
        packetType: error.packetType,
        field: error.field,
        param: error.param
      }
  }
}

const errorToWire = (error: ConnectionError): ErrorWire =>
  error._tag === "NotConnected"
    ? {
        _tag: "NotConnected",
        state: error.state,
        remote: error.remote,
        attempt: error.attempt,
        // one level is enough: a connection's last error is never itself `NotConnected`
        lastError:
          error.lastError === undefined || error.lastError._tag === "NotConnected"
            ? undefined
            : leafToWire(error.lastError)
      }
    : leafToWire(error)

const leafFromWire = (wire: LeafErrorWire): Exclude<ConnectionError, NotConnected> => {
  switch (wire._tag) {
    case "NetworkError":
      return new NetworkError({ detail: wire.detail, remote: wire.remote })
    case "AuthenticationError":
      return new AuthenticationError({ detail: wire.detail, remote: wire.remote })
    case "NetworkTimeout":
      return new NetworkTimeout({
        seconds: wire.seconds,
        during: wire.during,
        remote: wire.remote,
        command: wire.command
      })
    case "ConnectionClosed":
      return new ConnectionClosed({ detail: wire.detail, remote: wire.remote })
    case "CommandError": {
      const decoded = Decoder.decodePacket(wire.reply)
      if (Result.isFailure(decoded)) return decoded.failure
      const field = decoded.success.packet.fields[0]
      return field === undefined
        ? new NetworkError({ detail: "cluster: an error reply without its field" })
        : CommandError.fromField(decoded.success.packet.type, field)
    }
    case "ConnectionDefect":
      return new ConnectionDefect({ detail: wire.detail, remote: wire.remote, cause: new Error(wire.cause) })
    case "DecodeError":
      return new DecodeError({
        reason: wire.reason,
        offset: wire.offset,
        detail: wire.detail,
        packetType: wire.packetType,
        field: wire.field,
        param: wire.param
      })
    case "EncodeError":
      return new EncodeError({
        reason: wire.reason,
        detail: wire.detail,
        packetType: wire.packetType,
        field: wire.field,
        param: wire.param
      })
  }
}

const errorFromWire = (wire: ErrorWire): ConnectionError =>
  wire._tag === "NotConnected"
    ? new NotConnected({
        state: wire.state,
        remote: wire.remote,
        attempt: wire.attempt,
        lastError: wire.lastError === undefined ? undefined : leafFromWire(wire.lastError)
      })
    : leafFromWire(wire)

const connectionErrorTags: ReadonlySet<string> = new Set<ConnectionError["_tag"]>([
  "NetworkError",
  "AuthenticationError",
  "NetworkTimeout",
  "ConnectionClosed",
  "CommandError",
  "ConnectionDefect",
  "NotConnected",
  "DecodeError",
  "EncodeError"
])

/** Whether `u` is one of the errors a connection fails with. */
export const isConnectionError = (u: unknown): u is ConnectionError =>
  NcpError.isNcpError(u) && connectionErrorTags.has(u._tag)

/** A connection's error on the wire, and back: the same class and fields at the other end. */
export const ConnectionErrorFromWire = ErrorWire.pipe(
  Schema.decodeTo(
    Schema.declare(isConnectionError, { identifier: "ConnectionError" }),
    SchemaTransformation.transform({ decode: errorFromWire, encode: errorToWire })
  )
)

/** A node's state on the wire: `Fleet.NodeState`, its last error as a connection error's wire form. */
const NodeStateSchema = Schema.Struct({
  node: Schema.String,
  link: Schema.Literals(["Connecting", "Open", "BackingOff", "Closed", "Removed"]),
  attempt: Schema.UndefinedOr(Schema.Number),
  lastError: Schema.UndefinedOr(ConnectionErrorFromWire),
  timeout: Schema.Number,
  roundTrip: Schema.UndefinedOr(Schema.Number),
  connectedSince: Schema.UndefinedOr(Schema.Number)
})

/** A node's state and where its connection is held: `host:port` of its runner. */
export interface Placement {
  readonly state: Fleet.NodeState
  readonly runner: string
}

/** A {@link Placement} on the wire. */
export const PlacementSchema = Schema.Struct({ state: NodeStateSchema, runner: Schema.String })
