/**
 * A v-model for one setting. While its save is in flight the control keeps
 * the value the user just picked (rather than snapping back to the old one
 * whenever the status line re-renders the form); once the backend answers it
 * shows the stored value again: the new one, or the old one if the save failed.
 */
import { computed, ref, type WritableComputedRef } from 'vue'
import type { Settings } from '../../../src-main/api/contract'
import { useSettingsStore } from '../stores/settings'

export function useSettingField<K extends keyof Settings>(key: K): WritableComputedRef<Settings[K] | undefined> {
  const store = useSettingsStore()
  const picked = ref<Settings[K]>()
  let picks = 0

  return computed({
    get: () => picked.value ?? store.settings?.[key],
    set: (value) => {
      if (value === undefined) return
      picked.value = value
      const pick = ++picks
      const patch: Partial<Settings> = { [key]: value }
      void store.update(patch).finally(() => {
        // A later pick of the same field owns the control until its own save ends.
        if (pick === picks) picked.value = undefined
      })
    },
  })
}
