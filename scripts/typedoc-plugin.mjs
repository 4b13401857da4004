/**
 * A TypeDoc plugin for `npm run docs` (../typedoc.config.mjs):
 *
 * - each entry point's page is named as users import it (`@effect-ncp/core/testing`) rather
 *   than by its path (`core/src/testing`);
 * - a `{@link}` in a comment that is not ours (the members Effect's base classes give our
 *   classes, such as `makeEffect` of a `Schema.TaggedErrorClass`, documented in effect's own
 *   declarations with links to names outside these docs) shows as code instead of failing the
 *   link check, which stays on for every comment of the packages' sources.
 */
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { Converter, Reflection, ReflectionKind } from "typedoc"
import { apiEntryPoints } from "../typedoc.config.mjs"

const root = fileURLToPath(new URL("..", import.meta.url))
const names = new Map(apiEntryPoints.map((entry) => [resolve(root, entry.file), entry.name]))

/** Declared outside the repository's sources: in node_modules (effect, @types/node, ...). */
const isExternal = (reflection) => {
  const sources = reflection.sources ?? reflection.parent?.sources ?? []
  return sources.length > 0 && sources.every((source) => source.fullFileName.includes("/node_modules/"))
}

const isLinkTag = (part) => part.kind === "inline-tag" && ["@link", "@linkcode", "@linkplain"].includes(part.tag)
const resolved = (part) => part.target instanceof Reflection || typeof part.target === "string"
const unlink = (parts) =>
  parts.map((part) => (isLinkTag(part) && !resolved(part) ? { kind: "code", text: `\`${part.text.trim()}\`` } : part))

/** @param {import("typedoc").Application} app */
export const load = (app) => {
  app.converter.on(Converter.EVENT_CREATE_DECLARATION, (context, reflection) => {
    if (!reflection.kindOf(ReflectionKind.Module) || reflection.parent !== context.project) return
    for (const declaration of context.getSymbolFromReflection(reflection)?.declarations ?? []) {
      const name = names.get(resolve(declaration.getSourceFile().fileName))
      if (name !== undefined) reflection.name = name
    }
  })
  // after TypeDoc resolves links (priority -300), before validation
  app.converter.on(
    Converter.EVENT_RESOLVE_END,
    (context) => {
      for (const reflection of Object.values(context.project.reflections)) {
        const comment = reflection.comment
        if (comment === undefined || !isExternal(reflection)) continue
        comment.summary = unlink(comment.summary)
        for (const tag of comment.blockTags) tag.content = unlink(tag.content)
      }
    },
    -400
  )
}
