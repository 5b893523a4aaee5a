/**
 * Streams text without ever sending the start of a stop sequence: the engine
 * ends an answer where a stop string begins, possibly several tokens after
 * its first characters went out, so text that could still become a stop
 * string waits until it cannot. The streamed pieces then add up to exactly
 * the answer a non-streamed request gets.
 */
export class StopHoldback {
  private text = ''
  private sent = 0

  constructor(private readonly stops: readonly string[]) {}

  /** Adds a token's text; returns what may be sent now ('' when all of it must wait). */
  push(piece: string): string {
    this.text += piece
    // The engine ends at a whole stop string and never streams it; should one arrive anyway, nothing from it on goes out.
    const whole = Math.min(...this.stops.map((stop) => this.text.indexOf(stop)).filter((at) => at >= 0), this.text.length)
    const upTo = Math.max(this.sent, Math.min(whole, this.text.length - this.heldLength()))
    const out = this.text.slice(this.sent, upTo)
    this.sent = upTo
    return out
  }

  /**
   * The rest of the final answer (which the engine cut at the stop string and
   * completed with any bytes still pending): what was not sent yet.
   */
  finish(finalText: string): string {
    const rest = finalText.startsWith(this.text.slice(0, this.sent)) ? finalText.slice(this.sent) : ''
    this.sent += rest.length
    return rest
  }

  /** The longest end of the text that is the beginning of a stop string. */
  private heldLength(): number {
    let held = 0
    for (const stop of this.stops) {
      for (let k = Math.min(stop.length - 1, this.text.length); k > held; k--) {
        if (stop.startsWith(this.text.slice(this.text.length - k))) {
          held = k
          break
        }
      }
    }
    return held
  }
}
