/**
 * A full garbage collection, now. V8 frees an ArrayBuffer only when it next
 * collects, and frees its memory only when JavaScript allocates again; while
 * ONNX Runtime works (a load's part-by-part copy, a training step's forward
 * and backward), nothing does. So arrays already handed over (a loaded
 * model's weights) or already read (a training step's gradients: ONNX Runtime
 * for Node returns every output as a fresh copy, 4 bytes a trained parameter)
 * would count toward the next peak beside what replaced them (measured on a
 * 17 M-parameter full fine-tuning run: +4 bytes a parameter at every step's
 * peak). Callers use this where that is measured to lower a peak.
 *
 * `gc` is V8's own, exposed to a fresh context once the flag is set (the flag
 * only affects contexts made after it, so nothing else sees a `gc` global).
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let gc: (() => void) | undefined

export function collectGarbage(): void {
  if (!gc) {
    const exposed = (globalThis as { gc?: () => void }).gc
    if (exposed) gc = exposed
    else {
      setFlagsFromString('--expose-gc')
      gc = runInNewContext('gc') as () => void
    }
  }
  // V8 frees a collected ArrayBuffer's memory on a background thread after gc() returns, and a
  // short graph run can reach its peak first; a second collection begins by finishing that sweep.
  // Both take ~100 ms per 400 MB freed, most of it returning the pages.
  gc()
  gc()
}
