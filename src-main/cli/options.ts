import { UsageError } from './commands'

/** A numeric option: undefined when absent, a UsageError naming the option and the rule when malformed. */
export function numberOption(name: string, text: string | undefined, check: (n: number) => boolean, rule: string): number | undefined {
  if (text === undefined) return undefined
  const n = Number(text)
  if (text.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`--${name} must be ${rule} (got "${text}").`)
  return n
}

export const positiveInt = (n: number) => Number.isInteger(n) && n > 0
export const nonNegative = (n: number) => n >= 0
