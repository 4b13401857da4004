/**
 * Small helpers over `Uint8Array` shared by the packages.
 *
 * @module
 * @since 0.1.0
 */
import * as EffectBytes from "effect/Bytes"

/**
 * The chunks joined into one array. A single chunk is returned as it is, without copying (the
 * joining itself is `effect/Bytes`'s `concat`, which always copies): callers collecting a
 * stream that often arrives in one chunk skip a copy of it.
 */
export const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0]
  return EffectBytes.concat(chunks)
}
