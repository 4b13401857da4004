/**
 * Facts the docs show whose home is elsewhere, checked against that home: the testing guide
 * shows `examples/testing.test.ts` as it is (so the file users copy is the one CI runs), the
 * serving guide's limits table gives `Limits.table`'s defaults, and the README gives the test
 * command CI runs.
 */
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"
import { Limits } from "@effect-ncp/core"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")
const read = (...path: ReadonlyArray<string>) => readFileSync(join(root, ...path), "utf8")

it("the testing guide shows examples/testing.test.ts verbatim", () => {
  const guide = read("docs", "testing.md")
  const file = read("examples", "testing.test.ts")
  const section = guide.slice(guide.indexOf("## A complete test file"))
  const block = /```ts no-run\n([\s\S]*?)```\n/.exec(section)?.[1]
  expect(block).toBe(file)
})

/** A default as the table writes it: `1 MiB`, `65,536`, `120 s`, `10,000/s`, or `—` for none. */
const formatted = (unit: Limits.Unit, value: number | undefined): string => {
  if (value === undefined) return "—"
  if (unit === "bytes") {
    for (const [name, size] of [
      ["GiB", 1024 ** 3],
      ["MiB", 1024 ** 2],
      ["KiB", 1024]
    ] as const) {
      if (value >= size && value % size === 0) return `${value / size} ${name}`
    }
    return `${value} B`
  }
  const count = value.toLocaleString("en-US")
  return unit === "seconds" ? `${count} s` : unit === "perSecond" ? `${count}/s` : count
}

it("the serving guide lists every limit of Limits.table, with its server and client defaults", () => {
  const guide = read("docs", "serving.md")
  const rows = new Map<string, ReadonlyArray<string>>()
  for (const line of guide.split("\n")) {
    const cells = /^\|\s*`(\w+)`\s*\|(.*)\|\s*$/.exec(line)
    if (cells?.[1] !== undefined && cells[2] !== undefined && cells[1] in Limits.table) {
      rows.set(
        cells[1],
        cells[2].split("|").map((cell) => cell.trim())
      )
    }
  }
  const expected = Object.entries(Limits.table).map(([name, entry]) => [
    name,
    formatted(entry.unit, entry.server),
    formatted(entry.unit, entry.client)
  ])
  expect([...rows].map(([name, [server, client]]) => [name, server, client])).toEqual(expected)
})

it("the README gives the commands of a checkout, and the test command is the one CI runs", () => {
  const readme = read("README.md")
  const checkout = readme.slice(readme.indexOf("## From a checkout"))
  for (const command of ["npm ci", "npm start", "npm test"]) expect(checkout).toContain(command)
  // CI's test step runs `npm test` (with reporters added), not another command
  expect(read(".ci", "run")).toMatch(/^\s*npm test\b/m)
})
