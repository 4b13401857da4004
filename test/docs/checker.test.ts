/**
 * The docs block checker (./checker.ts) on its own fixtures: the sample guide passes, with each
 * kind of block; each broken block fails at its markdown file and line (a renamed import, a
 * program that fails, one that hangs past its deadline, a type error in a fragment, fence and
 * context mistakes); and the sample guide with one import renamed fails. One check of all of
 * them (one TypeScript program, one simulated node), then one test per case.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  checkMarkdown,
  extractBlocks,
  type Failure,
  location,
  moduleSource,
  type Report,
  repositoryRoot
} from "./checker.js"

const fixtures = join(repositoryRoot, "test/docs/fixtures")
const guide = join(fixtures, "guide.md")
const broken = join(fixtures, "broken.md")
const scratch = mkdtempSync(join(tmpdir(), "effect-ncp-docs-fixtures-"))
const renamed = join(scratch, "renamed.md")

// The sample guide after a rename in the library: its first block imports a name that is gone.
const guideText = readFileSync(guide, "utf8")
const renamedText = guideText.replace(
  'import { NodeNcp } from "@effect-ncp/node"',
  'import { Ncp } from "@effect-ncp/node"'
)
const renamedImportLine = guideText
  .slice(0, guideText.indexOf('import { NodeNcp } from "@effect-ncp/node"'))
  .split("\n").length
writeFileSync(renamed, renamedText)

// A hanging block costs this much of the run; the programs that end take a second or two.
const deadline = 10_000

let report: Report
beforeAll(async () => {
  report = await checkMarkdown([guide, broken, renamed], { deadline })
  console.log(report.summary)
}, 180_000)
afterAll(() => rmSync(scratch, { recursive: true, force: true }))

const failuresOf = (file: string) => report.failures.filter((failure) => failure.file === file)
const at = (failures: ReadonlyArray<Failure>, line: number) => failures.filter((failure) => failure.line === line)

describe("extractBlocks", () => {
  it("finds each TypeScript block of the sample guide, with its kind, context and lines; other blocks are not TypeScript", () => {
    const { blocks, failures } = extractBlocks(guide)
    expect(failures).toEqual([])
    expect(
      blocks.map((block) => [block.line, block.kind, block.context?.name ?? (block.context ? "(above)" : "-")])
    ).toEqual([
      [15, "program", "-"],
      [32, "program", "-"],
      [49, "no-run", "-"],
      [72, "fragment", "(above)"],
      [83, "fragment", "codec"],
      [91, "fragment", "codec"],
      [98, "fragment", "-"],
      [111, "fragment", "(above)"]
    ])
    // a block in a list item: its lines lose the fence's indentation, and keep their columns
    const listed = blocks[5]
    expect(listed?.code[0]).toEqual({
      text: "const { packet } = Result.getOrThrow(Decoder.decodePacket(new Uint8Array(0)))",
      line: 92,
      column: 3
    })
    // the context's lines around the `...` line
    expect(blocks[3]?.context?.before.map((line) => line.text).at(-1)).toBe("Effect.gen(function* () {")
    expect(blocks[3]?.context?.after.map((line) => line.text)).toEqual(["})"])
  })

  it("puts a fragment's own imports above its context", () => {
    const fragment = extractBlocks(guide).blocks[7]
    const source = fragment === undefined ? [] : moduleSource(fragment).map((line) => line.text)
    expect(source.slice(0, 3)).toEqual([
      'import { CommandClient, type Connection } from "@effect-ncp/core"',
      'import { SimulatedNode } from "@effect-ncp/core/testing"',
      'import * as Effect from "effect/Effect"'
    ])
    expect(source.at(-1)).toBe("})")
  })
})

describe("checkMarkdown", () => {
  it("passes the sample guide: every block type-checked, its two programs run against the simulated node", () => {
    expect(failuresOf(guide).map((failure) => `${location(failure)} ${failure.message}`)).toEqual([])
    expect(report.blocks.filter((block) => block.file === guide)).toHaveLength(8)
  })

  it("counts the blocks type-checked and run, in one summary line", () => {
    // guide 8 + broken 5 (the misspelt fence is not a block) + renamed 8; programs without type
    // errors: guide 2, broken 2 (the renamed import does not run), renamed 1
    expect(report.typeChecked).toBe(21)
    expect(report.ran).toBe(5)
    expect(report.summary).toMatch(
      /^docs: 21 TypeScript blocks in 3 files: 21 type-checked .*, 5 ran against the simulated node; /
    )
  })

  it("reports a renamed import at its line of the markdown file, and does not run the block", () => {
    const failures = at(failuresOf(broken), 8)
    expect(failures).toHaveLength(1)
    expect(location(failures[0] as Failure)).toBe("test/docs/fixtures/broken.md:8:10")
    expect(failures[0]?.message).toMatch(/TS2724: '"@effect-ncp\/node"' has no exported member named 'NodeNCP'/)
  })

  it("reports a program that exits non-zero at its fence, with its stderr", () => {
    const failures = at(failuresOf(broken), 16)
    expect(failures).toHaveLength(1)
    expect(failures[0]?.message).toMatch(/^program block failed: exit 1\n {2}stderr:\n/)
    expect(failures[0]?.message).toContain("Unknown command")
  })

  it("fails a program that is still running at its deadline", () => {
    const failures = at(failuresOf(broken), 30)
    expect(failures).toHaveLength(1)
    expect(failures[0]?.message).toMatch(/^program block still running after 10 s/)
  })

  it("reports a type error in a fragment at the fragment's line, not the context's", () => {
    const failures = at(failuresOf(broken), 54)
    expect(failures).toHaveLength(1)
    expect(failures[0]?.column).toBe(7)
    expect(failures[0]?.message).toMatch(/TS2339: Property 'PDAT' does not exist on type 'IncomingField'/)
  })

  it("reports a fence it does not know, a context that is missing, and one that applies to nothing", () => {
    expect(at(failuresOf(broken), 59)[0]?.message).toMatch(/^unknown fence `ts fragmnet`/)
    expect(at(failuresOf(broken), 65)[0]?.message).toMatch(/^no `<!-- ts context nowhere` comment/)
    expect(at(failuresOf(broken), 71)[0]?.message).toMatch(/applies to nothing/)
    expect(failuresOf(broken).map((failure) => failure.line)).toEqual([8, 16, 30, 54, 59, 65, 71])
  })

  it("fails the sample guide once one of its imports is renamed", () => {
    const failures = failuresOf(renamed)
    expect(failures.length).toBeGreaterThan(0)
    expect(failures[0]?.line).toBe(renamedImportLine)
    expect(failures[0]?.message).toMatch(/TS2305: Module '"@effect-ncp\/node"' has no exported member 'Ncp'/)
  })
})
