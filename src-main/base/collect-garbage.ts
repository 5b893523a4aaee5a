/**
 * A full garbage collection, on request. Loading a model hands gigabytes of
 * weight arrays to ONNX Runtime part by part; V8 frees an array only when it
 * next collects, which under a small JS heap can be several parts later, so
 * the arrays already handed over would still count towards the load's peak
 * next to ONNX Runtime's copy. Node exposes `gc` only behind a V8 flag: it
 * is set here for this one function, which a fresh context then returns.
 */
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

let collect: (() => void) | undefined

export function collectGarbage(): void {
  if (!collect) {
    setFlagsFromString('--expose-gc')
    collect = runInNewContext('gc') as () => void
  }
  collect()
}
