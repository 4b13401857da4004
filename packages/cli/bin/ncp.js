#!/usr/bin/env node
// The `ncp` launcher: the command is bundled into one module, dist/ncp.js (`npm run build` makes
// it in a checkout). Where Node can (22.1 and newer), it keeps the compiled code between runs.
import module from "node:module"

module.enableCompileCache?.()
await import("../dist/ncp.js")
