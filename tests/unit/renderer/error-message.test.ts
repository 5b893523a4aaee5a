import { describe, expect, it } from 'vitest'
import { ClientError } from '../../../src-renderer/src/api/client'
import { errorMessage } from '../../../src-renderer/src/api/error-message'

describe('errorMessage', () => {
  it('appends the field paths the message does not name', () => {
    const error = new ClientError({
      code: 'invalid_params',
      message: 'Invalid parameters',
      issues: [{ path: 'executionProvider', message: 'Invalid option' }],
    })
    expect(errorMessage(error)).toBe('Invalid parameters (executionProvider: Invalid option)')
  })

  it('does not repeat a field the message already names', () => {
    const message = 'Invalid parameters for settings.update: theme: Invalid option'
    const error = new ClientError({ code: 'invalid_params', message, issues: [{ path: 'theme', message: 'Invalid option' }] })
    expect(errorMessage(error)).toBe(message)
  })
})
