/**
 * Locks down every web contents the app creates: no navigation away from the
 * app, no new windows, no webviews, no permission grants (camera, geolocation,
 * notifications …). The app needs none of them.
 */
import { app, session, type WebContents } from 'electron'

export function hardenWebContents(contents: WebContents): void {
  contents.on('will-navigate', (event) => event.preventDefault())
  contents.on('will-redirect', (event) => event.preventDefault())
  contents.on('will-attach-webview', (event) => event.preventDefault())
  contents.setWindowOpenHandler(() => ({ action: 'deny' }))
}

export function installSecurityPolicy(): void {
  app.on('web-contents-created', (_event, contents) => hardenWebContents(contents))
  session.defaultSession.setPermissionRequestHandler((_contents, _permission, callback) => callback(false))
  session.defaultSession.setPermissionCheckHandler(() => false)
}
