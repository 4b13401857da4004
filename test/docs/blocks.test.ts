/**
 * Every TypeScript block of README.md and of each markdown file under docs/, as
 * test/docs/README.md describes: type-checked (strict, NodeNext) against the built packages, and
 * each program block run against a simulated node, with a deadline. A new guide under docs/ is
 * checked with no change here.
 */
import { expect, it } from "vitest"
import { checkMarkdown, documentationFiles, formatFailures } from "./checker.js"

it("every TypeScript block of the README and docs/ type-checks, and every program block runs", async () => {
  const report = await checkMarkdown(documentationFiles())
  console.log(report.summary)
  expect(formatFailures(report)).toEqual([])
  expect(report.typeChecked).toBeGreaterThan(0)
}, 300_000)
