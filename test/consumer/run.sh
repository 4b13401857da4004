#!/usr/bin/env bash
# The packages as a user gets them: from a clean copy of the repository, build, `npm pack` each
# package, install the tarballs (and registry packages only) into a project outside the
# repository, and there
#   1. run app.mjs (plain JavaScript) against the installed `ncp serve --echo`,
#   2. type-check consumer.ts under the strictest options, with moduleResolution nodenext
#      (then run it) and bundler, without skipLibCheck,
#   3. run the installed `ncp --version` and `ncp send`,
#   4. run examples/testing.test.ts, the README's test file (type-checked in 2), with vitest.
#
#   bash test/consumer/run.sh DIR           everything, in the new directory DIR
#   bash test/consumer/run.sh --again DIR   again in DIR, on the Node first in PATH: what runs
#                                           (1, the program of 2, 3, 4); types do not depend on Node
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
reuse=false
if [[ "${1:-}" == "--again" ]]; then
  reuse=true
  shift
fi
work="${1:?usage: run.sh [--again] DIR}"
project="$work/project"

step() { printf '\n-- consumer: %s\n' "$*"; }
npm_quiet() { npm --no-audit --no-fund --loglevel=error "$@" </dev/null; }

if [[ "$reuse" == false ]]; then
  if [[ -e "$work" ]]; then
    echo "$work exists; give a new directory" >&2
    exit 1
  fi
  mkdir -p "$work/clone" "$work/packs" "$project"
  case "$project/" in
    "$repo"/*) echo "the consumer project must be outside the repository" >&2; exit 1 ;;
  esac

  step "clean copy of the working tree (tracked and unignored files only)"
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard) |
    (cd "$repo" && xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh) |
    (cd "$repo" && tar --null -T - -cf -) | tar -xf - -C "$work/clone"

  step "npm ci, npm run build, npm pack"
  (
    cd "$work/clone"
    npm_quiet ci
    npm run --silent build
    npm_quiet pack --workspaces --pack-destination "$work/packs" >/dev/null
  )
  ls "$work/packs"

  step "tarball contents: dist, sources, README, LICENSE; no tests, benches, fixtures or build state"
  for pack in "$work/packs"/*.tgz; do
    listing="$(tar -tzf "$pack")"
    for required in package/package.json package/README.md package/LICENSE package/dist/index.js \
      package/dist/index.d.ts package/dist/index.js.map package/src/index.ts; do
      grep -qx "$required" <<<"$listing" || { echo "$(basename "$pack") lacks $required" >&2; exit 1; }
    done
    if grep -E '^package/(test|bench|examples)/|fixtures|\.tsbuildinfo$|tsconfig' <<<"$listing"; then
      echo "$(basename "$pack") ships the files above, which it should not" >&2
      exit 1
    fi
  done

  step "install the tarballs and registry packages into $project"
  cp "$here/package.json" "$here/app.mjs" "$here/consumer.ts" "$here/tsconfig.json" "$here/tsconfig.bundler.json" "$project/"
  cp "$repo/examples/testing.test.ts" "$project/"
  (
    cd "$project"
    # The @effect-ncp packages come from the tarballs; everything else from the registry.
    node -e '
      const fs = require("fs")
      const manifest = JSON.parse(fs.readFileSync("package.json", "utf8"))
      for (const name of Object.keys(manifest.dependencies)) if (name.startsWith("@effect-ncp/")) delete manifest.dependencies[name]
      fs.writeFileSync("package.json", JSON.stringify(manifest, null, 2) + "\n")
    '
    npm_quiet install "$work/packs"/*.tgz
    # Nothing may resolve into the repository: the packages are copies, not links.
    if find node_modules -maxdepth 2 -type l -not -path 'node_modules/.bin/*' | grep .; then
      echo "the project links to the packages above instead of installing them" >&2
      exit 1
    fi
    if grep -rl --include=package.json "$repo" node_modules/@effect-ncp; then
      echo "an installed package names the repository" >&2
      exit 1
    fi
    # fast-check is an optional peer of @effect-ncp/core/Arbitrary only: the testing entry point
    # (and the property tests of step 4, on effect/Arbitrary) and the ncp command must work
    # without it. vite is pinned to 8.3 for the reason the repository's package.json pins it.
    if [[ -e node_modules/fast-check ]]; then
      echo "fast-check was installed; the consumer must run without it" >&2
      exit 1
    fi
  )
fi

cd "$project"
step "node $(node --version)"

server_pid=""
cleanup() { if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

step "ncp serve --echo (installed)"
node_modules/.bin/ncp serve --echo --port 0 >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
address=""
for _ in $(seq 1 100); do
  address="$(sed -n 's/^listening on //p' "$work/serve.out" | head -n 1)"
  [[ -n "$address" ]] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$address" ]] || { echo "ncp serve did not start" >&2; cat "$work/serve.err" >&2; exit 1; }
echo "listening on $address"

step "1. node app.mjs (plain JavaScript)"
node app.mjs "$address"

if [[ "$reuse" == false ]]; then
  step "2. tsc, moduleResolution nodenext (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess, noPropertyAccessFromIndexSignature, verbatimModuleSyntax; no skipLibCheck)"
  node_modules/.bin/tsc -p tsconfig.json
  step "2. tsc, moduleResolution bundler (the same options)"
  node_modules/.bin/tsc -p tsconfig.bundler.json
fi
step "2. node dist/consumer.js (what tsc emitted)"
node dist/consumer.js

step "3. ncp --version and ncp send (installed)"
version="$(node_modules/.bin/ncp --version)"
echo "$version"
expected="ncp v$(node -p 'require("@effect-ncp/cli/package.json").version')"
[[ "$version" == "$expected" ]] || { echo "expected $expected" >&2; exit 1; }
node_modules/.bin/ncp send "$address" ECHO TEST X=1 NAME=consumer --json >"$work/send.out"
cat "$work/send.out"
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n").filter(Boolean)
  if (lines.length !== 1) throw new Error(`expected one JSON line, got ${lines.length}`)
  const field = JSON.parse(lines[0])
  const params = Object.fromEntries(field.params)
  if (field.packet_type !== "ECHO" || field.name !== "TEST" || params.X.value !== 1 || params.NAME.value !== "consumer") {
    throw new Error(`unexpected reply: ${lines[0]}`)
  }
' "$work/send.out"

step "4. vitest run testing.test.ts (examples/testing.test.ts on the installed packages)"
node_modules/.bin/vitest run testing.test.ts

step "ok on node $(node --version)"
