/**
 * Budget schedules: "0:2,5:6" means new tokens 0–4 use exit 2 and tokens
 * from 5 on use exit 6. Exits are layer counts, 1..L.
 */
export type ExitSchedule = (index: number) => number

export function parseBudgetSchedule(text: string, numLayers: number): ExitSchedule {
  const steps = text.split(',').map((part) => {
    const match = part.trim().match(/^(\d+):(\d+)$/)
    if (!match) throw new Error(`budget schedule part "${part.trim()}" is not TOKEN:EXIT (e.g. "0:2,5:6")`)
    const [from, exit] = [Number(match[1]), Number(match[2])]
    if (exit < 1 || exit > numLayers) throw new Error(`budget schedule part "${part.trim()}": exit ${exit} is outside 1..${numLayers}`)
    return { from, exit }
  })
  if (steps[0]!.from !== 0) throw new Error(`budget schedule must start at token 0 (got "${text}")`)
  steps.forEach((step, i) => {
    if (i > 0 && step.from <= steps[i - 1]!.from) throw new Error(`budget schedule token indices must increase (got "${text}")`)
  })
  return (index) => {
    let exit = steps[0]!.exit
    for (const step of steps) if (step.from <= index) exit = step.exit
    return exit
  }
}

export function fixedExit(exit: number, numLayers: number): ExitSchedule {
  if (!Number.isInteger(exit) || exit < 1 || exit > numLayers) throw new Error(`exit ${exit} is outside 1..${numLayers}`)
  return () => exit
}
