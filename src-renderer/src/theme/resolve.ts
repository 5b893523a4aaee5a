import type { Theme } from '../../../src-main/api/contract'

export type AppliedTheme = 'light' | 'dark'

/** The palette to show: an explicit choice wins; "system" follows the OS. */
export function resolveTheme(preference: Theme, systemPrefersDark: boolean): AppliedTheme {
  if (preference === 'system') return systemPrefersDark ? 'dark' : 'light'
  return preference
}
