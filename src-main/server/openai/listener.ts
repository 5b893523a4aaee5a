/**
 * The desktop app's OpenAI-compatible API: a listener on 127.0.0.1 that
 * serves /v1 only (the app itself talks over IPC, so there is no page here).
 * Same routes and gate as browser mode's /v1.
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { parseRequestTarget } from '../request-target'
import { OpenAiError, sendError } from './errors'
import type { ApiGateConfig } from './gate'
import { apiPathPrefix, createOpenAiRouter, type OpenAiBackend } from './router'

export interface ApiServerOptions {
  api: OpenAiBackend
  port: number
  key: string
  allowedOrigins?: readonly string[]
  log?: (line: string) => void
}

export async function startApiServer(options: ApiServerOptions): Promise<{ url: string; port: number; close(): Promise<void> }> {
  const gate: ApiGateConfig = { key: options.key, allowedOrigins: options.allowedOrigins ?? [], loopback: true, port: options.port }
  const route = createOpenAiRouter({ api: options.api, gate, log: options.log ?? ((line) => process.stderr.write(`${line}\n`)) })
  const http = createServer((req, res) => {
    const url = parseRequestTarget(req.url, `http://127.0.0.1:${gate.port}`)
    if (url && (url.pathname === apiPathPrefix || url.pathname.startsWith(`${apiPathPrefix}/`))) return route(req, res, url.pathname)
    sendError(res, new OpenAiError(404, 'This server offers the OpenAI-compatible API under /v1 only.', 'invalid_request_error', null, 'unknown_url'))
  })
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject)
    http.listen(options.port, '127.0.0.1', () => {
      http.off('error', reject)
      resolve()
    })
  })
  gate.port = (http.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${gate.port}/v1`,
    port: gate.port,
    close: async () => {
      http.closeAllConnections()
      await new Promise<void>((resolve) => http.close(() => resolve()))
    },
  }
}
