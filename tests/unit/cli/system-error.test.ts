import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { isSystemError, systemErrorLine, wantsStack } from '../../../src-main/cli/system-error'

const root = mkdtempSync(join(tmpdir(), 'system-error-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** The error a real system call throws, so the test sees Node's own wording. */
function thrownBy(call: () => unknown): unknown {
  try {
    call()
  } catch (error) {
    return error
  }
  throw new Error('the call did not fail')
}

describe('failed system calls in the CLI', () => {
  it('prints what Node says, naming the call and the path', () => {
    const file = join(root, 'file')
    writeFileSync(file, 'x')
    const error = thrownBy(() => mkdirSync(join(file, 'sub')))

    expect(isSystemError(error)).toBe(true)
    expect(systemErrorLine(error as never)).toBe(`ENOTDIR: not a directory, mkdir '${join(file, 'sub')}'`)
  })

  it('says the disk is full in plain words before ENOSPC', () => {
    const error = Object.assign(new Error("ENOSPC: no space left on device, write '/data/run/step-3.bin'"), { code: 'ENOSPC', syscall: 'write' })
    expect(systemErrorLine(error)).toBe("The disk is full: ENOSPC: no space left on device, write '/data/run/step-3.bin'")
  })

  it('leaves errors that are not failed system calls to be reported as bugs', () => {
    expect(isSystemError(new TypeError('x is undefined'))).toBe(false)
    expect(isSystemError(Object.assign(new Error('bad option'), { code: 'ERR_PARSE_ARGS_UNKNOWN_OPTION' }))).toBe(false)
    expect(isSystemError({ code: 'ENOSPC', syscall: 'write' })).toBe(false)
  })

  it('adds the stack only with SORTED_DEBUG=1', () => {
    expect(wantsStack({ SORTED_DEBUG: '1' })).toBe(true)
    expect(wantsStack({})).toBe(false)
    expect(wantsStack({ SORTED_DEBUG: '0' })).toBe(false)
  })
})
