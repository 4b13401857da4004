/**
 * What every error of this library is: an `NcpError`, as in ncplib, whatever module defines it
 * (the codec's `DecodeError`, a connection's `NetworkError`, a typed command's `InvalidReply`,
 * ...). Each stays its own tagged class for Effect's error channel (`Effect.catchTag`); this
 * module gives them one base to test for, with `instanceof` or {@link isNcpError}, as code
 * written with Promises does.
 *
 * @example
 * ```ts
 * import { ConnectionError, NcpError } from "@effect-ncp/core"
 *
 * const error: unknown = new ConnectionError.NetworkError({ detail: "connection refused" })
 * error instanceof NcpError.NcpError // true
 * NcpError.isNcpError(error) // true
 * NcpError.isNcpError(new Error("other")) // false
 * ```
 *
 * @module
 * @since 0.1.0
 */

/** The mark every NCP error carries on its prototype. */
export const TypeId: unique symbol = Symbol.for("@effect-ncp/core/NcpError")

/**
 * The base of every error of the library. Not a class errors extend (Effect's tagged errors
 * extend their own), but `instanceof NcpError` is true of each of them.
 */
export abstract class NcpError extends Error {
  /** The error's class, as Effect's tagged errors name it (`"NetworkError"`, `"DecodeError"`, ...). */
  abstract readonly _tag: string
  /** The mark; see {@link isNcpError}. */
  abstract readonly [TypeId]: typeof TypeId

  /** `error instanceof NcpError`: whether `u` carries the mark ({@link isNcpError}). */
  static override [Symbol.hasInstance](u: unknown): boolean {
    return isNcpError(u)
  }
}

/** Whether `u` is an error of this library. */
export const isNcpError = (u: unknown): u is NcpError =>
  typeof u === "object" && u !== null && (u as { readonly [TypeId]?: unknown })[TypeId] === TypeId

/**
 * Marks a class's instances as NCP errors: what each error class of the library does in a
 * static block. For errors of your own that should count as NCP errors too.
 */
export const mark = (errorClass: { readonly prototype: object }): void => {
  Object.defineProperty(errorClass.prototype, TypeId, { value: TypeId, enumerable: false })
}
