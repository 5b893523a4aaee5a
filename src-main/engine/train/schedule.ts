/**
 * Learning-rate schedules with Hugging Face transformers' exact rules
 * (get_cosine_schedule_with_warmup / get_constant_schedule_with_warmup):
 * `step` is the 0-based index of the optimizer step, so with warmup the
 * first step runs at lr 0.
 */
export type ScheduleKind = 'cosine' | 'constant'

export function learningRate(step: number, peak: number, warmupSteps: number, totalSteps: number, kind: ScheduleKind): number {
  if (step < warmupSteps) return (peak * step) / Math.max(1, warmupSteps)
  if (kind === 'constant') return peak
  const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps)
  return peak * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)))
}
