/**
 * Streamed tokens arrive as one event each, up to thousands a second. Feeding
 * each into reactive state makes Vue re-render and the browser lay out the
 * growing answer once per token, which falls behind the engine and freezes the
 * page on long answers. A FrameQueue collects events and hands them over in
 * one batch before the next paint: at most one update per frame, whatever the
 * token rate.
 */

/** Runs `run` before the next paint, or soon where there is no paint loop (the stores' unit tests). */
function beforeNextFrame(run: () => void): void {
  const frames = (globalThis as { requestAnimationFrame?: (callback: () => void) => number }).requestAnimationFrame
  if (frames) frames(run)
  else setTimeout(run, 16)
}

export class FrameQueue<T> {
  private items: T[] = []
  private scheduled = false

  constructor(private readonly deliver: (items: T[]) => void) {}

  push(...items: T[]): void {
    this.items.push(...items)
    if (this.scheduled) return
    this.scheduled = true
    beforeNextFrame(() => {
      this.scheduled = false
      this.flush()
    })
  }

  /** Delivers what is waiting now, e.g. before an event that must land after it. */
  flush(): void {
    const items = this.items
    this.items = []
    if (items.length) this.deliver(items)
  }

  /** Forgets what is waiting (the stream it belonged to is over). */
  clear(): void {
    this.items = []
  }
}
