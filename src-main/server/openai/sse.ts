/**
 * Server-Sent Events as OpenAI streams them: one `data: <json>` event per
 * chunk, then `data: [DONE]`. Nagle is switched off so each token leaves at
 * once; writes after the client left are dropped (its generation is being
 * cancelled by then).
 */
import type { ServerResponse } from 'node:http'

export class SseWriter {
  private started = false

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Record<string, string> = {},
  ) {}

  get open(): boolean {
    return !this.res.destroyed && !this.res.writableEnded
  }

  /** Sends the headers (the first send does it too). */
  start(): void {
    if (this.started || !this.open) return
    this.started = true
    this.res.socket?.setNoDelay(true)
    this.res.writeHead(200, {
      ...this.headers,
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache',
      Connection: 'keep-alive',
      'X-Accel-Buffering': 'no',
    })
  }

  send(data: unknown): void {
    this.start()
    if (this.open) this.res.write(`data: ${JSON.stringify(data)}\n\n`)
  }

  /** `data: [DONE]`, then the end of the response. */
  done(): void {
    this.start()
    if (this.open) this.res.end('data: [DONE]\n\n')
  }
}
