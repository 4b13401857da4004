/**
 * Packets: the unit on the wire. A packet has a type, an id, a timestamp, 4 info bytes and
 * zero or more fields.
 *
 * @module
 * @since 0.1.0
 */
import type { Field, FieldInput } from "./Field.js"
import type { Timestamp } from "./Timestamp.js"

/** A decoded packet. */
export interface Packet {
  readonly type: string
  readonly id: number
  readonly timestamp: Timestamp
  /** 4 opaque bytes; senders put the last 4 bytes of a MAC address here. */
  readonly info: Uint8Array
  readonly fields: ReadonlyArray<Field>
}

/**
 * A packet as a caller may give it to the encoder. Defaults: id 1, timestamp now (from
 * `Date.now()`; protocol code passes the Effect `Clock`'s time), info 4 zero bytes.
 */
export interface PacketInput {
  readonly type: string
  readonly id?: number | undefined
  readonly timestamp?: Timestamp | undefined
  readonly info?: Uint8Array | undefined
  readonly fields: ReadonlyArray<FieldInput>
}

/** Size of the packet header in bytes. */
export const HEADER_BYTES = 32
/** Size of the packet footer (checksum and magic) in bytes. */
export const FOOTER_BYTES = 8
/** Size of a field header in bytes. */
export const FIELD_HEADER_BYTES = 12
/** Size of a param header in bytes. */
export const PARAM_HEADER_BYTES = 8
/** The header magic `DD CC BB AA`, as a little-endian u32. */
export const HEADER_MAGIC = 0xaabbccdd
/** The footer magic `AA BB CC DD`, as a little-endian u32. */
export const FOOTER_MAGIC = 0xddccbbaa
/** The format version senders write. */
export const FORMAT_VERSION = 1
