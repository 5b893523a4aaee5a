/**
 * A path typed into a field (or picked in a dialog) that the page acts on
 * when committed: Enter reads it again (the files may have changed); leaving
 * the field reads it only when it changed.
 */
import { ref, watch } from 'vue'

export interface PathFieldEmit {
  (event: 'update:modelValue', path: string): void
  (event: 'commit', path: string): void
}

export function usePathField(props: { modelValue: string }, emit: PathFieldEmit) {
  const text = ref(props.modelValue)
  watch(
    () => props.modelValue,
    (value) => (text.value = value),
  )
  let committed = props.modelValue

  function commit(again = false): void {
    const path = text.value.trim()
    if (!again && path === committed) return
    committed = path
    emit('update:modelValue', path)
    if (path) emit('commit', path)
  }

  /** A path from a dialog or an upload: shown and committed at once. */
  function choose(path: string): void {
    text.value = path
    commit(true)
  }

  return { text, commit, choose }
}
