// `npm run bench`: runs every tests/bench/*.bench.ts in its own Node process,
// one after another (this machine has two cores); each prints one JSON line.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './build-state.mjs'

const dir = join(root, 'tests/bench')
const only = process.argv[2]
let failed = 0
for (const file of readdirSync(dir).filter((f) => f.endsWith('.bench.ts')).sort()) {
  if (only && !file.includes(only)) continue
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(dir, file)], { cwd: root, stdio: 'inherit' })
  if (result.status !== 0) {
    console.error(`${file} failed with exit code ${result.status}`)
    failed++
  }
}
process.exit(failed ? 1 : 0)
