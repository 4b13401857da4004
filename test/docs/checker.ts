/**
 * The docs block checker: every TypeScript block of some markdown files is type-checked against
 * the built packages as a user's project gets them, and every program block is run against a
 * simulated NCP node. test/docs/README.md gives the conventions for writing docs; in short:
 *
 *   ```ts               a program: type-checked, then run as its own process (deadline 20 s)
 *   ```ts no-run        a complete module, type-checked only (a server, a test file, ...)
 *   ```ts fragment      type-checked only, inside its context: the `<!-- ts context -->`
 *                       comment right above it, or the one named by `ts fragment NAME`
 *                       (the fragment's own imports go above the context)
 *
 * Program blocks talk to a node at port 9999, whatever the host (`localhost`,
 * `rfeye000123.local`): the checker starts `ncp serve --port 0` (the built CLI) and a preload
 * (./simulated-node.mjs) sends every TCP connection to port 9999 there instead.
 *
 * Each block becomes a file of its own in a temporary project whose `node_modules` is the
 * repository's, so `@effect-ncp/*` resolve to the built packages (`dist`, through their
 * `exports` without the `@effect-ncp/source` condition) and `effect` and the rest to the
 * installed copies. All blocks are type-checked in one TypeScript program with
 * tsconfig.base.json's options; diagnostics name the markdown file, line and column.
 */
import { spawn } from "node:child_process"
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync
} from "node:fs"
import { tmpdir } from "node:os"
import { dirname, isAbsolute, join, relative, resolve } from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import ts from "typescript"

/** The repository's root directory. */
export const repositoryRoot = fileURLToPath(new URL("../..", import.meta.url))

/** How a block is checked, from the words after `ts` in its fence. */
export type BlockKind = "program" | "no-run" | "fragment"

/** A line of a block or of a context, and where it is in the markdown file (1-based; column of its first character). */
export interface SourceLine {
  readonly text: string
  readonly line: number
  readonly column: number
}

/** The declarations a fragment is type-checked in: the lines of a `<!-- ts context -->` comment. */
export interface Context {
  readonly name: string | undefined
  readonly line: number
  /** The lines before the `...` line (all of them when there is none). */
  readonly before: ReadonlyArray<SourceLine>
  /** The lines after the `...` line, which close what `before` opened. */
  readonly after: ReadonlyArray<SourceLine>
}

export interface Block {
  /** The markdown file, as given to the checker. */
  readonly file: string
  /** The line of the opening fence (1-based). */
  readonly line: number
  readonly kind: BlockKind
  readonly code: ReadonlyArray<SourceLine>
  readonly context: Context | undefined
}

export interface Failure {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly message: string
}

export interface Report {
  readonly files: ReadonlyArray<string>
  readonly blocks: ReadonlyArray<Block>
  /** Blocks type-checked: every block found. */
  readonly typeChecked: number
  /** Program blocks run (those without type errors). */
  readonly ran: number
  readonly failures: ReadonlyArray<Failure>
  /** One line: how many blocks were type-checked and run, and how many failures. */
  readonly summary: string
}

export interface CheckOptions {
  /** Paths in messages are relative to it; default the repository's root. */
  readonly root?: string
  /** How long a program block may run, in ms (default 20,000). */
  readonly deadline?: number
  /** Program blocks running at once (default 2). */
  readonly concurrency?: number
}

/** The documentation to check: README.md and every markdown file under docs/ (generated API pages excepted). */
export const documentationFiles = (root: string = repositoryRoot): ReadonlyArray<string> => {
  const docs = join(root, "docs")
  const guides = existsSync(docs)
    ? readdirSync(docs, { recursive: true, encoding: "utf8" })
        .filter((path) => path.endsWith(".md") && !path.split(/[\\/]/).includes("node_modules"))
        .map((path) => join(docs, path))
        .sort()
    : []
  return [join(root, "README.md"), ...guides]
}

/** `path:line:column`, the path relative to `root`. */
export const location = (failure: Failure, root: string = repositoryRoot): string =>
  `${relative(root, failure.file)}:${failure.line}:${failure.column}`

/** Every failure as `path:line:column message`, for an assertion or a log. */
export const formatFailures = (report: Report, root: string = repositoryRoot): ReadonlyArray<string> =>
  report.failures.map((failure) => `${location(failure, root)} ${failure.message}`)

// ---------------------------------------------------------------------------------------------
// Markdown

const fenceOpen = /^(\s*)(`{3,}|~{3,})\s*([^`]*?)\s*$/
const contextOpen = /^\s*<!--\s*ts context(?:\s+([\w-]+))?\s*$/
const contextClose = /^\s*-->\s*$/
const typescript = new Set(["ts", "typescript"])

/** The TypeScript blocks of a markdown file, and what is wrong with its fences and contexts. */
export const extractBlocks = (
  file: string,
  text: string = readFileSync(file, "utf8")
): { readonly blocks: ReadonlyArray<Block>; readonly failures: ReadonlyArray<Failure> } => {
  const lines = text.split(/\r?\n/)
  const failures: Array<Failure> = []
  const fail = (line: number, message: string) => failures.push({ file, line, column: 1, message })
  const named = new Map<string, Context>()
  const found: Array<{ block: Omit<Block, "context">; contextName: string | undefined; above: Context | undefined }> =
    []
  // A context comment waiting for the block right below it.
  let above: Context | undefined
  const dropAbove = () => {
    if (above !== undefined && above.name === undefined) {
      fail(
        above.line,
        "this `ts context` comment applies to nothing: it has no name, and no `ts fragment` block right below it"
      )
    }
    above = undefined
  }

  for (let index = 0; index < lines.length; index++) {
    const current = lines[index] ?? ""
    const opened = contextOpen.exec(current)
    if (opened !== null) {
      dropAbove()
      const start = index
      const body: Array<SourceLine> = []
      for (index++; index < lines.length && !contextClose.test(lines[index] ?? ""); index++) {
        body.push({ text: lines[index] ?? "", line: index + 1, column: 1 })
      }
      if (index >= lines.length) fail(start + 1, "this `ts context` comment is not closed (`-->` on a line of its own)")
      const hole = body.findIndex((line) => line.text.trim() === "...")
      const context: Context = {
        name: opened[1],
        line: start + 1,
        before: hole < 0 ? body : body.slice(0, hole),
        after: hole < 0 ? [] : body.slice(hole + 1)
      }
      if (context.name !== undefined) {
        if (named.has(context.name)) fail(start + 1, `a second \`ts context ${context.name}\` in this file`)
        named.set(context.name, context)
      }
      above = context
      continue
    }
    const fence = fenceOpen.exec(current)
    if (fence === null) {
      if (current.trim() !== "") dropAbove()
      continue
    }
    const indent = fence[1]?.length ?? 0
    const marker = fence[2] ?? "```"
    const [language = "", ...words] = (fence[3] ?? "").split(/\s+/).filter((word) => word !== "")
    const start = index
    const code: Array<SourceLine> = []
    const closing = new RegExp(`^\\s*${marker[0] === "`" ? "`" : "~"}{${marker.length},}\\s*$`)
    for (index++; index < lines.length && !closing.test(lines[index] ?? ""); index++) {
      const line = lines[index] ?? ""
      const strip = Math.min(indent, line.length - line.trimStart().length)
      code.push({ text: line.slice(strip), line: index + 1, column: strip + 1 })
    }
    if (!typescript.has(language.toLowerCase())) {
      dropAbove()
      continue
    }
    if (index >= lines.length) fail(start + 1, "this code block is not closed")
    const [word, contextName, ...extra] = words
    const kind: BlockKind | undefined =
      word === undefined ? "program" : word === "no-run" ? "no-run" : word === "fragment" ? "fragment" : undefined
    if (kind === undefined || extra.length > 0 || (kind !== "fragment" && contextName !== undefined)) {
      fail(
        start + 1,
        `unknown fence \`${(fence[3] ?? "").trim()}\`: write \`${language}\` (a program), \`${language} no-run\`, \`${language} fragment\` or \`${language} fragment NAME\``
      )
      dropAbove()
      continue
    }
    if (above !== undefined && kind !== "fragment") {
      if (above.name === undefined) fail(above.line, "a `ts context` comment applies only to a `ts fragment` block")
      above = undefined
    }
    if (above !== undefined && contextName !== undefined) dropAbove()
    found.push({ block: { file, line: start + 1, kind, code }, contextName, above })
    above = undefined
  }
  dropAbove()

  const blocks = found.map(({ block, contextName, above }): Block => {
    if (contextName === undefined) return { ...block, context: above }
    const context = named.get(contextName)
    if (context === undefined) fail(block.line, `no \`<!-- ts context ${contextName}\` comment in this file`)
    return { ...block, context }
  })
  return { blocks, failures }
}

// ---------------------------------------------------------------------------------------------
// The temporary project

interface Written {
  readonly block: Block
  /** The block's own .ts file. */
  readonly path: string
  /** Where each of its lines comes from in the markdown file. */
  readonly origin: ReadonlyArray<SourceLine>
}

/** How many of the fragment's first lines are its imports (with the comments among them). */
const importLines = (code: ReadonlyArray<SourceLine>): number => {
  const source = ts.createSourceFile("fragment.ts", code.map((line) => line.text).join("\n"), ts.ScriptTarget.Latest)
  let end = 0
  for (const statement of source.statements) {
    if (!ts.isImportDeclaration(statement) && !ts.isImportEqualsDeclaration(statement)) break
    end = source.getLineAndCharacterOfPosition(statement.end).line + 1
  }
  return end
}

/**
 * The block as a module. A program's lines stay at their markdown line numbers, so that stack
 * traces point there. A fragment goes inside its context, its own imports first.
 */
export const moduleSource = (block: Block): ReadonlyArray<SourceLine> => {
  if (block.context !== undefined) {
    const imports = importLines(block.code)
    return [
      ...block.code.slice(0, imports),
      ...block.context.before,
      ...block.code.slice(imports),
      ...block.context.after
    ]
  }
  const padding = Array.from({ length: block.line }, (): SourceLine => ({ text: "", line: block.line, column: 1 }))
  return [...padding, ...block.code]
}

const blockPath = (project: string, root: string, block: Block) => {
  const file = relative(root, block.file)
  const inside = file.startsWith("..") || isAbsolute(file) ? file.replace(/[^\w.-]+/g, "_") : file
  return join(project, "blocks", inside, `L${block.line}.ts`)
}

/** The compiler options of tsconfig.base.json, less the ones that do not fit docs: unused names are fine, and the blocks are emitted. */
const compilerOptions = (root: string): ts.CompilerOptions => {
  const base = ts.readConfigFile(join(root, "tsconfig.base.json"), ts.sys.readFile)
  if (base.error !== undefined) throw new Error(ts.flattenDiagnosticMessageText(base.error.messageText, "\n"))
  const { options, errors } = ts.convertCompilerOptionsFromJson(base.config.compilerOptions, root)
  if (errors.length > 0)
    throw new Error(errors.map((e) => ts.flattenDiagnosticMessageText(e.messageText, "\n")).join("\n"))
  return {
    ...options,
    // A fragment may show a value without using it, an example may import more than it needs.
    noUnusedLocals: false,
    noUnusedParameters: false,
    noEmit: false,
    declaration: false,
    sourceMap: false,
    incremental: false,
    customConditions: []
  }
}

const makeProject = (root: string): string => {
  for (const name of ["core", "node", "cli"]) {
    if (!existsSync(join(root, "packages", name, "dist", "index.d.ts"))) {
      throw new Error(
        `packages/${name}/dist is missing: the docs are checked against the built packages (npm run build)`
      )
    }
  }
  const project = mkdtempSync(join(tmpdir(), "effect-ncp-docs-"))
  writeFileSync(join(project, "package.json"), `${JSON.stringify({ type: "module", private: true })}\n`)
  symlinkSync(join(root, "node_modules"), join(project, "node_modules"), "dir")
  return project
}

// ---------------------------------------------------------------------------------------------
// Type-checking

const typeCheck = (written: ReadonlyArray<Written>, options: ts.CompilerOptions) => {
  const program = ts.createProgram({ rootNames: written.map((w) => w.path), options })
  const byPath = new Map(written.map((w) => [resolve(w.path), w]))
  const failures: Array<Failure> = []
  const failed = new Set<Written>()
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const message = `error TS${diagnostic.code}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")}`
    const source = diagnostic.file
    const owner = source === undefined ? undefined : byPath.get(resolve(source.fileName))
    if (source === undefined || diagnostic.start === undefined) {
      failures.push({ file: source?.fileName ?? "(TypeScript)", line: 1, column: 1, message })
    } else if (owner === undefined) {
      const at = source.getLineAndCharacterOfPosition(diagnostic.start)
      failures.push({ file: source.fileName, line: at.line + 1, column: at.character + 1, message })
    } else {
      failed.add(owner)
      const at = source.getLineAndCharacterOfPosition(diagnostic.start)
      const from = owner.origin[at.line] ?? { text: "", line: owner.block.line, column: 1 }
      const shown = from.text.trim() === "" ? "" : `\n    ${from.text.trim()}`
      failures.push({
        file: owner.block.file,
        line: from.line,
        column: from.column + at.character,
        message: `${message}${shown}`
      })
    }
  }
  return { program, failures, failed }
}

// ---------------------------------------------------------------------------------------------
// The simulated node, and running the programs

interface SimulatedNode {
  readonly address: string
  readonly stop: () => Promise<void>
}

/** `ncp serve --port 0`, the built CLI, as the CLI tests start it; resolves with its address once it listens. */
const startSimulatedNode = (root: string): Promise<SimulatedNode> =>
  new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [join(root, "packages/cli/bin/ncp.js"), "serve", "--port", "0"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" }
    })
    let output = ""
    let listening = false
    const exited = new Promise<void>((done) => child.once("exit", () => done()))
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM")
        const killer = setTimeout(() => child.kill("SIGKILL"), 3_000)
        await exited
        clearTimeout(killer)
      }
    }
    const deadline = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`ncp serve did not print its address within 20 s: ${output}`))
    }, 20_000)
    const onData = (chunk: string) => {
      output += chunk
      const address = /^listening on (\S+)\n/.exec(output)?.[1]
      if (!listening && address !== undefined) {
        listening = true
        clearTimeout(deadline)
        resolvePromise({ address, stop })
      }
    }
    child.stdout.setEncoding("utf8").on("data", onData)
    child.stderr.setEncoding("utf8").on("data", onData)
    child.once("error", reject)
    child.once("exit", (code, signal) => {
      clearTimeout(deadline)
      if (!listening) reject(new Error(`ncp serve exited (${code ?? signal}) before listening: ${output}`))
    })
  })

const preload = pathToFileURL(fileURLToPath(new URL("simulated-node.mjs", import.meta.url))).href

/** The first `lines` lines of `text` (where an error's message is), indented. */
const head = (text: string, lines: number) => {
  const all = text.trimEnd().split("\n")
  const shown = all.length > lines ? [...all.slice(0, lines), `... (${all.length - lines} more lines)`] : all
  return shown.map((line) => `    ${line}`).join("\n")
}

/** Runs one emitted block with node; a failure if it exits non-zero or runs past the deadline. */
const runProgram = (js: string, block: Block, node: string, deadline: number): Promise<Failure | undefined> =>
  new Promise((resolvePromise) => {
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", NCP_DOCS_NODE: node }
    delete env.FORCE_COLOR
    delete env.NODE_OPTIONS
    const child = spawn(process.execPath, ["--import", preload, js], {
      cwd: dirname(js),
      stdio: ["ignore", "pipe", "pipe"],
      env
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
      stdout += chunk
    })
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      stderr += chunk
    })
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      child.kill("SIGKILL")
    }, deadline)
    const failure = (message: string): Failure => {
      const output = stderr.trim() !== "" ? `\n  stderr:\n${head(stderr, 20)}` : ""
      const printed = stdout.trim() !== "" ? `\n  stdout:\n${head(stdout, 10)}` : ""
      return { file: block.file, line: block.line, column: 1, message: `${message}${output}${printed}` }
    }
    child.once("error", (error) => {
      clearTimeout(timer)
      resolvePromise(failure(`could not run: ${error.message}`))
    })
    child.once("close", (code, signal) => {
      clearTimeout(timer)
      if (timedOut) {
        resolvePromise(
          failure(
            `program block still running after ${deadline / 1000} s: a program must end by itself (mark a server or a loop \`ts no-run\`)`
          )
        )
      } else if (code !== 0) {
        resolvePromise(failure(`program block failed: exit ${code ?? signal}`))
      } else resolvePromise(undefined)
    })
  })

const inPool = async <A, B>(items: ReadonlyArray<A>, concurrency: number, f: (a: A) => Promise<B>) => {
  const results: Array<B> = []
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      results[index] = await f(items[index] as A)
    }
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker))
  return results
}

// ---------------------------------------------------------------------------------------------

/** Checks every TypeScript block of `files`: type-checks all of them in one program, then runs the program blocks. */
export const checkMarkdown = async (files: ReadonlyArray<string>, options: CheckOptions = {}): Promise<Report> => {
  const root = options.root ?? repositoryRoot
  const deadline = options.deadline ?? 20_000
  const started = Date.now()
  const failures: Array<Failure> = []
  const blocks: Array<Block> = []
  for (const file of files) {
    const extracted = extractBlocks(file)
    blocks.push(...extracted.blocks)
    failures.push(...extracted.failures)
  }

  const project = makeProject(root)
  try {
    const written = blocks.map((block): Written => {
      const origin = moduleSource(block)
      const path = blockPath(project, root, block)
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, `${origin.map((line) => line.text).join("\n")}\n`)
      return { block, path, origin }
    })
    const checking = Date.now()
    const checked = typeCheck(written, compilerOptions(root))
    failures.push(...checked.failures)
    const running = Date.now()

    const programs = written.filter((w) => w.block.kind === "program" && !checked.failed.has(w))
    let ran = 0
    if (programs.length > 0) {
      for (const w of programs) {
        const source = checked.program.getSourceFile(w.path)
        if (source !== undefined) checked.program.emit(source)
      }
      const node = await startSimulatedNode(root)
      try {
        const results = await inPool(programs, options.concurrency ?? 2, (w) => {
          ran++
          return runProgram(w.path.replace(/\.ts$/, ".js"), w.block, node.address, deadline)
        })
        for (const result of results) if (result !== undefined) failures.push(result)
      } finally {
        await node.stop()
      }
    }

    failures.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column)
    const count = (kind: BlockKind) => blocks.filter((block) => block.kind === kind).length
    const seconds = (from: number, to: number = Date.now()) => `${((to - from) / 1000).toFixed(1)} s`
    const summary =
      `docs: ${blocks.length} TypeScript blocks in ${files.length} file${files.length === 1 ? "" : "s"}: ` +
      `${blocks.length} type-checked (${count("program")} programs, ${count("fragment")} fragments, ${count("no-run")} no-run), ` +
      `${ran} ran against the simulated node; ${failures.length} failure${failures.length === 1 ? "" : "s"} ` +
      `(${seconds(started)}: type-check ${seconds(checking, running)}, runs ${seconds(running)})`
    return { files, blocks, typeChecked: blocks.length, ran, failures, summary }
  } finally {
    rmSync(project, { recursive: true, force: true })
  }
}
