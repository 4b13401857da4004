#!/usr/bin/env node
// The `ncp` launcher: the command is bundled into one module, dist/ncp.js (`npm run build` makes
// it in a checkout). Where Node can (22.1 and newer), it keeps the compiled code between runs.
import module from "node:module"
import { fileURLToPath } from "node:url"

module.enableCompileCache?.()
const bundle = new URL("../dist/ncp.js", import.meta.url)
try {
  await import(bundle.href)
} catch (error) {
  const path = fileURLToPath(bundle)
  if (error?.code !== "ERR_MODULE_NOT_FOUND" || !String(error.message).includes(path)) throw error
  console.error(`ncp: ${path} is missing; build it with npm run build`)
  process.exitCode = 1
}
