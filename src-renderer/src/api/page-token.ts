/**
 * Browser mode: the page learns the per-launch token from the address it was
 * opened with (`/?token=…`, printed by `sorted serve`). It keeps the token in
 * sessionStorage (this tab only, gone with it) so a reload still connects, and
 * takes it out of the address bar so it does not linger in the history or get
 * copied along with the address. The server never puts it in a cookie.
 */

/** The parts of `window` this needs, typed here: tsconfig.node.json (which checks the unit tests) has no DOM. */
export interface TokenPage {
  location: { search: string; pathname: string; hash: string }
  history: { state: unknown; replaceState(data: unknown, unused: string, url: string): void }
  sessionStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void }
}

const storageKey = 'sorted-studio.token'

/** The shape newToken makes (base64url); anything else is not our token and would not fit in a subprotocol name. */
const tokenShape = /^[A-Za-z0-9_-]{1,512}$/

function stored(page: TokenPage): string | null {
  try {
    return page.sessionStorage.getItem(storageKey)
  } catch {
    // Storage can be switched off; the token then lasts until the next reload.
    return null
  }
}

function store(page: TokenPage, token: string): void {
  try {
    page.sessionStorage.setItem(storageKey, token)
  } catch {
    // As above: this page load still has the token.
  }
}

/** The token from the address (which it then leaves) or from an earlier load of this tab; undefined if neither has one. */
export function takePageToken(page: TokenPage): string | undefined {
  const params = new URLSearchParams(page.location.search)
  const fromAddress = params.get('token')
  if (fromAddress !== null) {
    params.delete('token')
    const query = params.toString()
    page.history.replaceState(page.history.state, '', `${page.location.pathname}${query ? `?${query}` : ''}${page.location.hash}`)
    if (tokenShape.test(fromAddress)) {
      store(page, fromAddress)
      return fromAddress
    }
  }
  const kept = stored(page)
  return kept !== null && tokenShape.test(kept) ? kept : undefined
}
