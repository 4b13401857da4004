/**
 * NCP identifiers: packet types, field names and param names.
 *
 * An identifier is 1 to 4 characters of `A-Z` and `0-9`. On the wire it takes exactly 4 bytes,
 * NUL-padded. Decoding strips trailing NUL and space bytes and reads the rest as Latin-1, so a
 * decoder accepts whatever a node sends; encoding accepts only valid identifiers.
 *
 * @module
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Domain from "./codec/domain.js"

const pattern = /^[A-Z0-9]{1,4}$/

/**
 * Whether `name` is a valid identifier (1-4 characters of A-Z, 0-9); answered from the cache of
 * {@link toWord} for the names that recur in every packet.
 */
export const isIdentifier = (name: string): boolean => toWord(name) >= 0

/**
 * The identifier as a Schema: a string of 1-4 characters of A-Z and 0-9.
 *
 * @example
 * ```ts
 * import { Identifier } from "@effect-ncp/core"
 * import * as Schema from "effect/Schema"
 *
 * Schema.decodeUnknownSync(Identifier.Identifier)("SWEP") // "SWEP"
 * ```
 */
export const Identifier = Schema.String.check(
  Schema.isPattern(pattern, {
    message: "an NCP identifier is 1-4 characters of A-Z and 0-9",
    // Generated identifiers: half any identifier (the longest ones often), half names real nodes
    // use, so that packets repeat names as real ones do.
    arbitraryConstraint: {
      patterns: [
        { source: `^[${Domain.identifierAlphabet}]{1,${Domain.identifierMaxLength}}$`, flags: "" },
        { source: `^(?:${Domain.commonNames.join("|")})$`, flags: "" }
      ]
    }
  })
).annotate({ identifier: "Identifier", description: "1-4 characters of A-Z and 0-9" })

// Both caches are bounded: a hostile peer sending millions of distinct names must not grow
// memory without limit, so past the bound names are converted without caching.
const CACHE_LIMIT = 4096
const wordByName = new Map<string, number>()
const nameByWord = new Map<number, string>()

/**
 * The 32-bit little-endian word of a valid identifier, or -1 when `name` is not one.
 * Cached, since the same few names recur in every packet.
 */
export const toWord = (name: string): number => {
  const cached = wordByName.get(name)
  if (cached !== undefined) return cached
  if (!pattern.test(name)) return -1
  let word = 0
  for (let i = 0; i < name.length; i++) word |= name.charCodeAt(i) << (8 * i)
  word >>>= 0
  if (wordByName.size < CACHE_LIMIT) wordByName.set(name, word)
  return word
}

/** The identifier held by a 32-bit little-endian word: trailing NUL and space bytes stripped, Latin-1. */
export const fromWord = (word: number): string => {
  const cached = nameByWord.get(word)
  if (cached !== undefined) return cached
  let length = 4
  while (length > 0) {
    const byte = (word >>> (8 * (length - 1))) & 0xff
    if (byte !== 0 && byte !== 0x20) break
    length--
  }
  let name = ""
  for (let i = 0; i < length; i++) name += String.fromCharCode((word >>> (8 * i)) & 0xff)
  if (nameByWord.size < CACHE_LIMIT) nameByWord.set(word, name)
  return name
}
