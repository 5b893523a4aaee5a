#!/usr/bin/env node
// Entry point of the `sorted` command: runs the CLI built by `npm run build`
// (which `npm install` runs through the prepare script).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const cli = fileURLToPath(new URL('../out/main/cli.js', import.meta.url))
if (!existsSync(cli)) {
  process.stderr.write('Sorted Studio is not built yet: run `npm run build` in its folder, then try again.\n')
  process.exit(1)
}
await import(cli)
