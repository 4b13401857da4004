/**
 * Sweep levels: RFeye nodes send a sweep as data u8, one byte per frequency bin, each byte a
 * level in 0.5 dB steps from -147.5 dBm. This module owns that mapping, so that the simulated
 * node's generator and every reader (the `ncp` command's chart, a user's program) agree on it:
 *
 * ```text
 * dBm = byte / 2 - 147.5      byte 0 = -147.5 dBm, byte 255 = -20 dBm, 0.5 dB steps
 * ```
 *
 * @example
 * ```ts
 * import { SweepLevel } from "@effect-ncp/core"
 *
 * SweepLevel.toDbm(75) // -110
 * SweepLevel.fromDbm(-110) // 75
 * ```
 *
 * @module
 * @since 0.1.0
 */

/** The level in dBm of sweep byte 0. */
export const minDbm = -147.5
/** dB per step of a sweep byte. */
export const stepDb = 0.5
/** The level in dBm of sweep byte 255. */
export const maxDbm = minDbm + 255 * stepDb

/** The level in dBm a sweep byte (data u8 element) stands for: `byte / 2 - 147.5`. */
export const toDbm = (byte: number): number => byte * stepDb + minDbm

/** The sweep byte nearest to a level in dBm, clamped to 0..255. */
export const fromDbm = (dbm: number): number => {
  const byte = Math.round((dbm - minDbm) / stepDb)
  return Number.isNaN(byte) ? 0 : Math.min(255, Math.max(0, byte))
}
