/**
 * Model ids of the OpenAI-compatible API: a client picks a model and its
 * budget by name alone, since the OpenAI protocol has no other place for it.
 *
 *   NAME          the library model at its full depth
 *   NAME@K        the same model exiting after K layers (K one of its exits)
 *   NAME@exact    a decoding mode (Exact/Auto) where the engine offers it
 *   NAME@auto
 *
 * NAME is the library model's name made URL- and shell-safe (letters, digits,
 * `.`, `_` and `-`; never `@`); a name two models share gets the second one's
 * library id appended, so every id stays unique.
 */

/** The decoding modes a model id may name after `@`; the engine reports which a model has (engine/generate/modes.ts). */
export const budgetModes = ['exact', 'auto'] as const
export type BudgetMode = (typeof budgetModes)[number]

export type Budget = { kind: 'full' } | { kind: 'exit'; exit: number } | { kind: 'mode'; mode: BudgetMode }

export interface ParsedModelId {
  name: string
  budget: Budget
}

/** Splits `NAME[@SUFFIX]`; undefined when the id cannot be one of ours (empty name, an unknown suffix). */
export function parseModelId(id: string): ParsedModelId | undefined {
  const at = id.lastIndexOf('@')
  if (at < 0) return id.length > 0 ? { name: id, budget: { kind: 'full' } } : undefined
  const name = id.slice(0, at)
  const suffix = id.slice(at + 1)
  if (name.length === 0) return undefined
  if (/^[1-9]\d{0,5}$/.test(suffix)) return { name, budget: { kind: 'exit', exit: Number(suffix) } }
  const mode = budgetModes.find((m) => m === suffix)
  return mode ? { name, budget: { kind: 'mode', mode } } : undefined
}

export function formatModelId(name: string, budget: Budget): string {
  switch (budget.kind) {
    case 'full':
      return name
    case 'exit':
      return `${name}@${budget.exit}`
    case 'mode':
      return `${name}@${budget.mode}`
  }
}

/** A library name as an id: safe characters only, never empty. */
export function slugifyModelName(name: string): string {
  const slug = name
    .trim()
    .replace(/[^A-Za-z0-9._-]+/g, '-')
    .replace(/^-+|-+$/g, '')
  return slug || 'model'
}

export interface NamedModel {
  /** The library id (stable). */
  id: string
  name: string
  numLayers: number
  /** The exits it was sorted for; empty: every layer count works. */
  exits: readonly number[]
  /** Decoding modes the engine offers for it. */
  modes?: readonly BudgetMode[]
}

/** Unique API names for library models, in the library's order: the first to use a name keeps it. */
export function assignApiNames<M extends NamedModel>(models: readonly M[]): { model: M; name: string }[] {
  const taken = new Set<string>()
  return models.map((model) => {
    let name = slugifyModelName(model.name)
    if (taken.has(name)) name = `${name}-${slugifyModelName(model.id.replace(/^bundled:/, '')).slice(0, 8)}`
    for (let n = 2; taken.has(name); n++) name = `${slugifyModelName(model.name)}-${n}`
    taken.add(name)
    return { model, name }
  })
}

/** The budgets a model offers, in the order the list shows them: full depth, each exit ascending, then the modes. */
export function budgetsOf(model: NamedModel): Budget[] {
  const exits = model.exits.length > 0 ? [...model.exits] : Array.from({ length: model.numLayers }, (_, i) => i + 1)
  return [
    { kind: 'full' },
    ...exits.filter((exit) => exit >= 1 && exit <= model.numLayers).map((exit): Budget => ({ kind: 'exit', exit })),
    ...(model.modes ?? []).map((mode): Budget => ({ kind: 'mode', mode })),
  ]
}

/** Whether `budget` is one the model offers (an exit it was sorted for, a mode the engine reports). */
export function offers(model: NamedModel, budget: Budget): boolean {
  return budgetsOf(model).some((b) => formatModelId('', b) === formatModelId('', budget))
}
