/**
 * What browser mode's WebSocket adds to a contract call, relative to calling
 * the dispatcher directly (as IPC's handler does), in the same run.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { openBackend } from '../../src-main/services/backend'
import { startServer } from '../../src-main/server/server'

const calls = 3000
const root = mkdtempSync(join(tmpdir(), 'bench-transport-'))
mkdirSync(join(root, 'renderer'))
writeFileSync(join(root, 'renderer', 'index.html'), '')
const backend = openBackend({ transport: 'browser', dataDir: join(root, 'data'), log: () => {} })
const server = await startServer({ backend, rendererDir: join(root, 'renderer'), port: 0 })

async function timeDirect(): Promise<number> {
  const start = performance.now()
  for (let i = 0; i < calls; i++) await backend.dispatch('settings.get', {})
  return performance.now() - start
}

async function timeSocket(): Promise<number> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/ws`, { headers: { authorization: `Bearer ${server.token}` } })
  await new Promise((resolve) => ws.once('open', resolve))
  const start = performance.now()
  for (let id = 0; id < calls; id++) {
    const reply = new Promise((resolve) => ws.once('message', resolve))
    ws.send(JSON.stringify({ type: 'request', id, method: 'settings.get' }))
    await reply
  }
  const elapsed = performance.now() - start
  ws.close()
  return elapsed
}

await timeDirect() // warm-up: JIT and SQLite page cache
await timeSocket()
const direct = await timeDirect()
const socket = await timeSocket()
console.log(
  JSON.stringify({
    bench: 'contract_call_transport',
    calls,
    direct_us_per_call: +((direct * 1000) / calls).toFixed(1),
    websocket_us_per_call: +((socket * 1000) / calls).toFixed(1),
    websocket_over_direct: +(socket / direct).toFixed(2),
  }),
)
await server.close()
await backend.close()
rmSync(root, { recursive: true, force: true })
