/**
 * The request target as a URL on this server. Node hands over whatever the
 * client wrote after the method (`//[`, `http://[`, `*`), and `new URL`
 * throws on some of it or reads `//host/path` as another host; only a path
 * (origin-form, RFC 9112 §3.2.1) is a target this server answers.
 */
export function parseRequestTarget(raw: string | undefined, origin: string): URL | undefined {
  if (raw === undefined || !raw.startsWith('/')) return undefined
  try {
    // Appended, not resolved against the origin: `//x/y` stays the path `//x/y`.
    return new URL(`${origin}${raw}`)
  } catch {
    return undefined
  }
}
