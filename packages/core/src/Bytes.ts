/**
 * Small helpers over `Uint8Array` shared by the packages.
 *
 * @since 0.1.0
 */

/** The chunks joined into one array; a single chunk is returned as it is, without copying. */
export const concat = (chunks: ReadonlyArray<Uint8Array>): Uint8Array => {
  if (chunks.length === 1 && chunks[0] !== undefined) return chunks[0]
  const out = new Uint8Array(chunks.reduce((total, chunk) => total + chunk.length, 0))
  let at = 0
  for (const chunk of chunks) {
    out.set(chunk, at)
    at += chunk.length
  }
  return out
}
