/**
 * The README's "Testing your NCP code" section shows `examples/testing.test.ts` as it is, so the
 * file users copy is the one CI runs.
 */
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { expect, it } from "@effect/vitest"

const root = join(dirname(fileURLToPath(import.meta.url)), "..")

it("the README shows examples/testing.test.ts verbatim", () => {
  const readme = readFileSync(join(root, "README.md"), "utf8")
  const file = readFileSync(join(root, "examples", "testing.test.ts"), "utf8")
  const section = readme.slice(readme.indexOf("## Testing your NCP code"))
  const block = /```ts\n([\s\S]*?)```\n/.exec(section)?.[1]
  expect(block).toBe(file)
})
