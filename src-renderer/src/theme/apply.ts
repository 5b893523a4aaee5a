/**
 * Keeps `<html data-theme>` in step with the saved theme and, for "system",
 * with the OS preference as it changes. The stylesheet keys its palettes on
 * that attribute, so no style is ever written inline (the CSP forbids it).
 */
import { onScopeDispose, ref, watchEffect } from 'vue'
import { useSettingsStore } from '../stores/settings'
import { resolveTheme } from './resolve'

export function useAppliedTheme(): void {
  const settings = useSettingsStore()
  const media = window.matchMedia('(prefers-color-scheme: dark)')
  const systemPrefersDark = ref(media.matches)
  const onChange = (event: MediaQueryListEvent) => (systemPrefersDark.value = event.matches)
  media.addEventListener('change', onChange)
  onScopeDispose(() => media.removeEventListener('change', onChange))

  watchEffect(() => {
    // Until settings arrive, follow the system, which is also the default.
    const preference = settings.settings?.theme ?? 'system'
    document.documentElement.dataset.theme = resolveTheme(preference, systemPrefersDark.value)
  })
}
