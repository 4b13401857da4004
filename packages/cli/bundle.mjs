// Bundles the compiled `ncp` command (dist/bin.js, from `tsc -b`) with everything it imports
// into ES modules: dist/ncp.js and the chunks it shares with what it imports only when asked for
// (dist/chunk-*.js; the cluster's code, for `ncp runner` and `--cluster`, is loaded by those
// alone). Loading a few files instead of the ~290 modules of effect, @effect/platform-node and
// our packages is what makes the command start in a fraction of a second; minified, Node parses
// 0.4 MB instead of 0.9 MB, about 15% faster again (ncp prints no stack traces, so the names are
// not missed). The licenses of the bundled packages go beside it, in dist/ncp.js.LICENSES.txt.
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import * as esbuild from "esbuild"

const here = dirname(fileURLToPath(import.meta.url))
const outfile = join(here, "dist/ncp.js")

// the chunks of an earlier build, whose names were their contents' hashes
for (const entry of readdirSync(join(here, "dist"))) {
  if (/^chunk-\w+\.js$/.test(entry)) rmSync(join(here, "dist", entry))
}

const result = await esbuild.build({
  entryPoints: { ncp: join(here, "dist/bin.js") },
  // What only `ncp runner` and `--cluster` load (the cluster, Postgres) is a chunk of its own
  // (dist/chunk-*.js), imported when asked for: the other commands parse what they did before.
  outdir: join(here, "dist"),
  splitting: true,
  chunkNames: "chunk-[hash]",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // CommonJS dependencies (ws) require Node built-ins; an ES module has no `require` of its own.
  banner: {
    js: '#!/usr/bin/env node\nimport { createRequire as __ncpCreateRequire } from "node:module";\nconst require = __ncpCreateRequire(import.meta.url);'
  },
  minify: true,
  legalComments: "none",
  metafile: true,
  logLevel: "warning"
})

// Every package directory under node_modules that contributed code, with its license text.
const packages = new Map()
for (const input of Object.keys(result.metafile.inputs)) {
  const match = /^(.*?node_modules\/(@[^/]+\/[^/]+|[^/]+))\//.exec(input)
  if (match?.[1] !== undefined && match[2] !== undefined) packages.set(match[2], match[1])
}
const licenses = [...packages.entries()]
  .sort(([a], [b]) => a.localeCompare(b))
  .map(([name, path]) => {
    const dir = join(process.cwd(), path)
    const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"))
    const file = readdirSync(dir).find((entry) => /^licen[cs]e/i.test(entry))
    if (file === undefined) throw new Error(`${name} has no license file to ship with the bundle`)
    return `${name} ${manifest.version} (${manifest.license})\n\n${readFileSync(join(dir, file), "utf8").trim()}\n`
  })
writeFileSync(
  `${outfile}.LICENSES.txt`,
  `dist/ncp.js bundles these packages, under these licenses:\n\n${licenses.join("\n---\n\n")}`
)
chmodSync(outfile, 0o755)
