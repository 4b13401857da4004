/** The value, or a test failure saying what was missing. */
export const must = <A>(value: A | undefined | null, what = "value"): A => {
  if (value === undefined || value === null) throw new Error(`expected a ${what}, got ${value}`)
  return value
}

export const bytesOf = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, "hex"))
export const hexOf = (bytes: Uint8Array): string => Buffer.from(bytes).toString("hex")
