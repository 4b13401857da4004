#!/usr/bin/env node
// The `ncp` launcher. The package ships TypeScript sources, so tsx (a root devDependency)
// compiles them on the fly.
import { register } from "tsx/esm/api"

register()
await import("../src/bin.ts")
