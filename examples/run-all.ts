/**
 * Runs every example (`npm run examples`), one after the other, each as its own process with a
 * time limit; fails when one fails or hangs. The examples' tests (`*.test.ts`) run with `npm test`.
 */
import { spawnSync } from "node:child_process"
import { readdirSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))
const examples = readdirSync(here).filter(
  (name) => name.endsWith(".ts") && !name.endsWith(".test.ts") && name !== "run-all.ts"
)
const tsx = join(here, "..", "node_modules", ".bin", "tsx")

let failed = 0
for (const example of examples.sort()) {
  const started = Date.now()
  const result = spawnSync(tsx, [join(here, example)], { stdio: ["ignore", "inherit", "inherit"], timeout: 20_000 })
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  const ok = result.status === 0
  if (!ok) failed++
  const why = result.error !== undefined ? result.error.message : `exit ${result.status ?? result.signal}`
  console.log(`${ok ? "ok  " : "FAIL"} examples/${example} (${seconds} s)${ok ? "" : `: ${why}`}\n`)
}
if (failed > 0) {
  console.error(`${failed} of ${examples.length} examples failed`)
  process.exit(1)
}
