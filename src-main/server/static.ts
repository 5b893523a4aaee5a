/** Serves the built renderer: fixed folder, no directory listing, no escapes. */
import { createReadStream, statSync } from 'node:fs'
import type { ServerResponse } from 'node:http'
import { extname, join, normalize, sep } from 'node:path'
import { pipeline } from 'node:stream'
import { refuse, securityHeaders } from './replies'

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.map': 'application/json',
}

/** Resolves a URL path inside `root`, or undefined if it would leave it or is not a file. */
export function resolveStaticFile(root: string, pathname: string): string | undefined {
  let decoded: string
  try {
    decoded = decodeURIComponent(pathname)
  } catch {
    return undefined
  }
  if (decoded.includes('\0')) return undefined
  const relative = decoded === '/' ? 'index.html' : decoded.replace(/^\/+/, '')
  const file = normalize(join(root, relative))
  if (file !== root && !file.startsWith(root.endsWith(sep) ? root : root + sep)) return undefined
  try {
    return statSync(file).isFile() ? file : undefined
  } catch {
    return undefined
  }
}

/**
 * Sends a file found by resolveStaticFile. The file is opened before the
 * headers go out, so one that vanished since (a rebuild, say) is a 404, and
 * a read that fails later cuts the response off; neither reaches the process.
 */
export function sendFile(res: ServerResponse, file: string, method: string): void {
  const type = contentTypes[extname(file).toLowerCase()] ?? 'application/octet-stream'
  // Vite names files under assets/ by content hash, so they can be cached for
  // good; anything else (index.html above all) must be revalidated, or a new
  // build goes unseen.
  const cache = file.includes(`${sep}assets${sep}`) ? 'private, max-age=31536000, immutable' : 'no-cache'
  const stream = createReadStream(file)
  stream.once('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'EISDIR') refuse(res, 404, 'File not found')
    else refuse(res, 500, 'The file could not be read')
  })
  stream.once('open', () => {
    res.writeHead(200, { ...securityHeaders(), 'Content-Type': type, 'Cache-Control': cache })
    if (method === 'HEAD') {
      stream.destroy()
      res.end()
      return
    }
    // pipeline, not pipe: it destroys both ends on an error (a client that
    // went away, a failed read) rather than leaving the error unhandled.
    pipeline(stream, res, () => {})
  })
}
