/**
 * JSON columns hold text. These helpers are the only place it is encoded or
 * decoded, so an unencodable value fails with the field's name instead of
 * SQLite's "NOT NULL constraint failed".
 */

export type JsonObject = Record<string, unknown>

export function encodeJson(value: unknown, field: string): string {
  let text: string | undefined
  try {
    text = JSON.stringify(value)
  } catch (error) {
    throw new TypeError(`${field} cannot be stored as JSON: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
  }
  if (text === undefined) throw new TypeError(`${field} cannot be stored as JSON (got ${typeof value})`)
  return text
}

/**
 * Like `encodeJson`, with object keys sorted at every level: two equal
 * decoding configs written in a different key order must be the same text,
 * because the text is part of a generation's identity.
 */
export function encodeCanonicalJson(value: unknown, field: string): string {
  return encodeJson(sortKeys(value), field)
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (value === null || typeof value !== 'object' || typeof (value as { toJSON?: unknown }).toJSON === 'function') return value
  const sorted: JsonObject = {}
  for (const key of Object.keys(value).sort()) sorted[key] = sortKeys((value as JsonObject)[key])
  return sorted
}

/** Decodes text this module wrote; the column's CHECK (json_valid) guarantees it parses. */
export function decodeJson<T>(text: string): T {
  return JSON.parse(text) as T
}

export function decodeJsonOrNull<T>(text: string | null): T | null {
  return text === null ? null : decodeJson<T>(text)
}
