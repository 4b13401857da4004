/**
 * Benchmark settings: each is read from a `--name=value` argument, else from an environment
 * variable, else its default, so a run can be scaled from `npm run ... -- --name=value` or
 * from the environment alike.
 */

/** The raw text of a setting: `--name=value`, else `process.env[variable]`. */
export const text = (name: string, variable: string): string | undefined => {
  const prefix = `--${name}=`
  const argument = process.argv.slice(2).find((arg) => arg.startsWith(prefix))
  return argument !== undefined ? argument.slice(prefix.length) : process.env[variable]
}

/** A numeric setting; a value that is not a finite number is refused with the setting's name. */
export const number = (name: string, variable: string, fallback: number): number => {
  const value = text(name, variable)
  if (value === undefined || value === "") return fallback
  const parsed = Number(value)
  if (!Number.isFinite(parsed))
    throw new Error(`--${name} (${variable}) must be a number, got ${JSON.stringify(value)}`)
  return parsed
}

/**
 * A comma-separated list, `undefined` when not given or `all`. Every item must be one of
 * `known`.
 */
export const list = <const K extends string>(
  name: string,
  variable: string,
  known: ReadonlyArray<K>
): ReadonlyArray<K> | undefined => {
  const value = text(name, variable)
  if (value === undefined || value === "" || value === "all") return undefined
  const items: Array<K> = []
  for (const item of value.split(",")) {
    const trimmed = item.trim()
    if (trimmed === "") continue
    const match = known.find((candidate) => candidate === trimmed)
    if (match === undefined) {
      throw new Error(`--${name} (${variable}): unknown ${JSON.stringify(trimmed)}; want ${known.join(", ")}`)
    }
    items.push(match)
  }
  return items
}
