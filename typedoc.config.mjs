/**
 * The API reference, `npm run docs`: HTML from the packages' TSDoc comments, by TypeDoc, into
 * site/api/ (gitignored). Open site/api/index.html.
 *
 * Its pages are the public entry points: every `exports` entry of packages/<name>/package.json,
 * through its `@effect-ncp/source` file, named as users import it (`@effect-ncp/core/testing`).
 * A new entry point is documented as soon as it is in `exports`; nothing to add here.
 *
 * It fails (non-zero exit) on an exported name without a doc comment and on a `{@link}` that
 * resolves to nothing: TypeDoc's validation, warnings treated as errors.
 */
import { readdirSync, readFileSync } from "node:fs"
import { posix } from "node:path"

const packages = new URL("./packages/", import.meta.url)

/** Every public entry point: `name` as imported, `file` its source, relative to the repository. */
export const apiEntryPoints = readdirSync(packages, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort()
  .flatMap((dir) => {
    const manifest = JSON.parse(readFileSync(new URL(`${dir}/package.json`, packages), "utf8"))
    return Object.entries(manifest.exports ?? {}).flatMap(([subpath, target]) => {
      const source = typeof target === "object" && target !== null ? target["@effect-ncp/source"] : undefined
      return typeof source === "string"
        ? [
            {
              name: posix.join(manifest.name, subpath),
              file: posix.join("packages", dir, source),
              package: manifest.name
            }
          ]
        : []
    })
  })

/** @type {Partial<import("typedoc").TypeDocOptions>} */
export default {
  name: "effect-ncp",
  entryPoints: apiEntryPoints.map((entry) => entry.file),
  // the packages' sources, each workspace package resolved to its sources (a core type named
  // by the node package links to the core's page)
  tsconfig: "tsconfig.docs.json",
  // names the entry points' pages as users import them (./scripts/typedoc-plugin.mjs)
  plugin: ["./scripts/typedoc-plugin.mjs"],
  out: "site/api",
  // "Defined in" links to the repository's sources (a fresh clone has no remote named origin)
  disableGit: true,
  sourceLinkTemplate: "https://github.com/effect-ncp/effect-ncp/blob/main/{path}#L{line}",
  readme: "none",
  // an index lists each name with the first paragraph of its comment
  useFirstParagraphOfCommentAsSummary: true,
  excludePrivate: true,
  excludeInternal: true,
  validation: { notExported: true, invalidLink: true, rewrittenLink: true, notDocumented: true },
  // exported names: the entry points themselves, their names, and their namespaces' names
  // (`Client.connect`); a module's doc comment is its file's first comment, with `@module`
  requiredToBeDocumented: ["Module", "Namespace", "Enum", "Variable", "Function", "Class", "Interface", "TypeAlias"],
  packagesRequiringDocumentation: [...new Set(apiEntryPoints.map((entry) => entry.package))],
  treatValidationWarningsAsErrors: true
}
