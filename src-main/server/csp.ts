/**
 * The renderer's Content Security Policy: only the app's own scripts, styles
 * and connections. The build puts it in index.html as a meta tag (which is
 * what the Electron window gets); browser mode also sends it as a header,
 * adding what only a header can carry.
 */
const directives = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
]

export const rendererPolicy = directives.join('; ')

/** frame-ancestors is ignored in a meta tag, so it lives only in the header. */
export const headerPolicy = [...directives, "frame-ancestors 'none'"].join('; ')

/** `vite dev` injects styles inline and talks to its HMR socket. */
export const devRendererPolicy = directives
  .map((d) => (d.startsWith('style-src') ? "style-src 'self' 'unsafe-inline'" : d.startsWith('connect-src') ? "connect-src 'self' ws: http://localhost:*" : d))
  .join('; ')
