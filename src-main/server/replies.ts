/** The headers every browser-mode response carries, and the short plain-text refusals. */
import { STATUS_CODES, type ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { headerPolicy } from './csp'

export function securityHeaders(): Record<string, string> {
  return {
    'Content-Security-Policy': headerPolicy,
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Referrer-Policy': 'no-referrer',
    'Cross-Origin-Opener-Policy': 'same-origin',
    'Cross-Origin-Resource-Policy': 'same-origin',
  }
}

function statusText(status: number): string {
  return STATUS_CODES[status] ?? 'Error'
}

/** A one-line plain-text answer; a response already under way is cut off instead. */
export function refuse(res: ServerResponse, status: number, reason: string): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  res.writeHead(status, { ...securityHeaders(), 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' })
  res.end(`${statusText(status)}: ${reason}\n`)
}

/** The same on a socket that asked for an upgrade: answer, then close it for good. */
export function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (!socket.writable) {
    socket.destroy()
    return
  }
  socket.once('finish', () => socket.destroy())
  socket.end(`HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${reason}\n`)
}
