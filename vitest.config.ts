import { defaultServerConditions } from "vite"
import { defineConfig } from "vitest/config"

// Vitest 5 prints failed tests with Map.groupBy, which Node 20 lacks (Node 21+): without this,
// a failing run on Node 20 ends in a TypeError instead of the failure report.
if (!("groupBy" in Map)) {
  Object.defineProperty(Map, "groupBy", {
    configurable: true,
    writable: true,
    value: <K, T>(items: Iterable<T>, key: (item: T, index: number) => K): Map<K, Array<T>> => {
      const groups = new Map<K, Array<T>>()
      let index = 0
      for (const item of items) {
        const k = key(item, index++)
        const group = groups.get(k)
        if (group === undefined) groups.set(k, [item])
        else group.push(item)
      }
      return groups
    }
  })
}

// One Vitest project per workspace package, and one for the examples' tests (which import the
// packages by name, as users do); run them all with `npm test` (`vitest run`), or one with
// `npx vitest run --project core`.
const project = (name: "core" | "node" | "cli") => ({
  extends: true as const,
  test: {
    name,
    include: [`packages/${name}/test/**/*.test.ts`]
  }
})
const examples = {
  extends: true as const,
  // with the checks that the docs show the example test file and the limits as they are
  test: { name: "examples", include: ["examples/**/*.test.ts", "test/*.test.ts"] }
}
// The docs' TypeScript blocks, type-checked against the built packages and run against a
// simulated node (test/docs/README.md): the checker's own tests on its fixtures
// (checker.test.ts), and every block of README.md and docs/ (blocks.test.ts), so a new guide
// under docs/ is checked with no change here.
const docs = {
  extends: true as const,
  test: { name: "docs", include: ["test/docs/*.test.ts"] }
}

export default defineConfig({
  // Workspace packages resolve to their TypeScript sources (the `@effect-ncp/source` condition of
  // their `exports`), so tests need no build; the CLI tests run the built `ncp` as a process.
  ssr: {
    resolve: {
      conditions: ["@effect-ncp/source", ...defaultServerConditions.filter((condition) => condition !== "module")]
    }
  },
  test: {
    environment: "node",
    // Test files share their worker's module cache instead of loading effect again for each
    // file: a third less CPU for the suite. No test changes global or module state.
    isolate: false,
    passWithNoTests: false,
    projects: [project("core"), project("node"), project("cli"), examples, docs]
  }
})
