/**
 * Summarises runs of `bench:loopback`: one file of JSON lines per run, as the benchmark prints
 * them. For each shape and pair, the median of each figure over the runs, and each rate's share
 * of the `node:net` pair's: the median of each run's own ratio (machines are noisy; a ratio
 * within one run is steadier than the figures). Prints a Markdown table per shape.
 *
 *   for i in 1 2 3; do node .bench/loopback.mjs > .bench/run-$i.jsonl; done
 *   npx tsx packages/node/bench/summary.ts .bench/run-*.jsonl
 */
import { readFileSync } from "node:fs"

type Line = Record<string, unknown>

const RATES = ["rtt_per_s", "call_rtt_per_s", "pipelined_fields_per_s", "stream_mb_per_s"] as const

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2
}

const runs: Array<Array<Line>> = process.argv.slice(2).map((file) =>
  readFileSync(file, "utf8")
    .split("\n")
    .filter((line) => line.startsWith("{"))
    .map((line): Line => JSON.parse(line))
)

const key = (line: Line) => `${String(line.shape ?? "one-process")}\t${String(line.impl)}`
const keys = [...new Set(runs.flatMap((run) => run.map(key)))]
const shapes = [...new Set(keys.map((k) => k.split("\t")[0]))]

for (const shape of shapes) {
  console.log(`\n### ${shape} (${runs.length} runs; share: median of each run's ratio to node:net)\n`)
  const fields = new Set<string>()
  for (const run of runs)
    for (const line of run) if (key(line).startsWith(`${shape}\t`)) for (const f in line) fields.add(f)
  const numeric = [...fields].filter((f) => !["shape", "impl", "client", "server"].includes(f))
  console.log(`| pair | ${numeric.join(" | ")} |`)
  console.log(`| --- | ${numeric.map(() => "--:").join(" | ")} |`)
  for (const k of keys.filter((candidate) => candidate.startsWith(`${shape}\t`))) {
    const impl = k.split("\t")[1]
    const cells = numeric.map((field) => {
      const values: Array<number> = []
      const shares: Array<number> = []
      for (const run of runs) {
        const line = run.find((candidate) => key(candidate) === k)
        const base = run.find((candidate) => key(candidate) === `${shape}\tnode:net`)
        const value = line?.[field]
        if (typeof value !== "number") continue
        values.push(value)
        const reference = base?.[field === "call_rtt_per_s" ? "rtt_per_s" : field]
        if (typeof reference === "number" && reference > 0) shares.push(value / reference)
      }
      if (values.length === 0) return ""
      const m = median(values)
      const shown = m >= 100 ? Math.round(m).toLocaleString("en") : String(Math.round(m * 100) / 100)
      const isRate = RATES.some((rate) => rate === field)
      return isRate && impl !== "node:net" && shares.length > 0
        ? `${shown} (${Math.round(median(shares) * 100)}%)`
        : shown
    })
    console.log(`| ${impl} | ${cells.join(" | ")} |`)
  }
}
