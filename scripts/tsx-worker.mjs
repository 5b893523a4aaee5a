// Runs a TypeScript worker from source (tests, `npm run dev`): Node 20 does
// not apply `--import tsx` from a Worker's execArgv to its entry file, so the
// worker registers tsx itself, then imports the entry named in workerData.
import { workerData } from 'node:worker_threads'
import { register } from 'tsx/esm/api'

register()
await import(workerData.tsEntry)
