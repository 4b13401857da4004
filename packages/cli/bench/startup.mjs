// How long `ncp` takes as a whole process, as an operator's shell sees it: `ncp --version`, and
// `ncp send` of one command to a local `ncp serve` (connect, handshake, one request and reply,
// exit). Runs the built command (`npm run bench:cli` builds it first); prints one JSON line per
// case with the median, fastest and slowest of `--runs` runs after `--warmup` unmeasured ones,
// and for scale the same for `node -e 0`, Node's own start on this machine at this moment.
//
//   node packages/cli/bench/startup.mjs [--runs 20] [--warmup 3]
import { spawn, spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { parseArgs } from "node:util"

const { values } = parseArgs({
  options: { runs: { type: "string", default: "20" }, warmup: { type: "string", default: "3" } }
})
const runs = Number(values.runs)
const warmup = Number(values.warmup)
const bin = fileURLToPath(new URL("../bin/ncp.js", import.meta.url))

const seconds = (args) => {
  const started = process.hrtime.bigint()
  const result = spawnSync(process.execPath, args, { stdio: ["ignore", "ignore", "pipe"] })
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9
  if (result.status !== 0) throw new Error(`node ${args.join(" ")} exited with ${result.status}: ${result.stderr}`)
  return elapsed
}

const measure = (name, args) => {
  for (let i = 0; i < warmup; i++) seconds(args)
  const times = Array.from({ length: runs }, () => seconds(args)).sort((a, b) => a - b)
  const round = (s) => Math.round(s * 1000) / 1000
  console.log(
    JSON.stringify({
      bench: "cli-startup",
      case: name,
      node: process.version,
      runs,
      median_s: round(times[Math.floor(runs / 2)] ?? Number.NaN),
      min_s: round(times[0] ?? Number.NaN),
      max_s: round(times[runs - 1] ?? Number.NaN)
    })
  )
}

const serve = () =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, "serve", "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] })
    let output = ""
    child.stdout.setEncoding("utf8").on("data", (chunk) => {
      output += chunk
      const address = /^listening on (\S+)\n/.exec(output)?.[1]
      if (address !== undefined) resolve({ child, address })
    })
    child.on("exit", (code) => reject(new Error(`ncp serve exited with ${code}`)))
  })

measure("node -e 0", ["-e", "0"])
measure("ncp --version", [bin, "--version"])
const { child, address } = await serve()
try {
  measure("ncp send STAT RFLO to ncp serve", [bin, "send", address, "STAT", "RFLO"])
} finally {
  child.kill("SIGTERM")
}
