import { describe, expect, it } from 'vitest'
import { resolveTheme } from '../../../src-renderer/src/theme/resolve'

describe('resolveTheme', () => {
  it('follows a dark OS preference when the theme is "system"', () => {
    expect(resolveTheme('system', true)).toBe('dark')
  })

  it('follows a light OS preference when the theme is "system"', () => {
    expect(resolveTheme('system', false)).toBe('light')
  })

  it('keeps an explicit light theme when the OS prefers dark', () => {
    expect(resolveTheme('light', true)).toBe('light')
  })

  it('keeps an explicit dark theme when the OS prefers light', () => {
    expect(resolveTheme('dark', false)).toBe('dark')
  })
})
