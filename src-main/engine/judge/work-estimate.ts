/**
 * Time left in a job made of units of a few kinds (answers, judgements), from
 * the rate of the units actually worked so far. Units found already stored
 * (a resume, a rerun) cost nothing and do not count towards a rate, so a
 * resumed job does not promise to finish in seconds.
 */
export class WorkEstimate<Kind extends string> {
  private readonly worked = new Map<Kind, { units: number; ms: number }>()
  private last: number

  constructor(private readonly now: () => number = Date.now) {
    this.last = now()
  }

  /** Starts timing afresh (a stage begins after loading a model, which is not a unit's cost). */
  restart(): void {
    this.last = this.now()
  }

  /** One unit of `kind` finished; `worked` is false when it was already stored and skipped. */
  step(kind: Kind, worked: boolean): void {
    const t = this.now()
    if (worked) {
      const entry = this.worked.get(kind) ?? { units: 0, ms: 0 }
      entry.units++
      entry.ms += t - this.last
      this.worked.set(kind, entry)
    }
    this.last = t
  }

  /**
   * Seconds for the remaining units of each kind, each at its own measured
   * rate, or at the mean rate of all work where that kind has not run yet;
   * null before any unit was worked.
   */
  etaSeconds(remaining: Partial<Record<Kind, number>>): number | null {
    let units = 0
    let ms = 0
    for (const entry of this.worked.values()) {
      units += entry.units
      ms += entry.ms
    }
    if (units === 0) return null
    let eta = 0
    for (const [kind, left] of Object.entries(remaining) as [Kind, number][]) {
      const own = this.worked.get(kind)
      eta += left * (own ? own.ms / own.units : ms / units)
    }
    return eta / 1000
  }
}
