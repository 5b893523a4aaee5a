/**
 * A resumable pipeline: each stage writes its outputs, then a stamp file
 * naming what it was built from. A rerun skips stages whose stamp matches,
 * and redoes a stage (and everything after it) whose inputs changed or that
 * was interrupted. Long stages (training) resume on their own from their
 * checkpoints.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Stage {
  name: string
  /** What the stage's result depends on (its settings); a change reruns it. */
  key: unknown
  run(): Promise<void> | void
}

export async function runStages(workDir: string, stages: Stage[], say: (line: string) => void): Promise<void> {
  mkdirSync(workDir, { recursive: true })
  let invalidated = false
  const started = performance.now()
  for (const [i, stage] of stages.entries()) {
    const stamp = join(workDir, `${stage.name}.done.json`)
    const key = JSON.stringify(stage.key)
    const done = !invalidated && existsSync(stamp) && readFileSync(stamp, 'utf8') === key
    const label = `[${i + 1}/${stages.length}] ${stage.name}`
    if (done) {
      say(`${label}: done earlier, skipped`)
      continue
    }
    invalidated = true
    const t = performance.now()
    say(`${label}…`)
    await stage.run()
    writeFileSync(stamp, key)
    say(`${label}: ${((performance.now() - t) / 1000).toFixed(1)} s (total ${((performance.now() - started) / 60000).toFixed(1)} min)`)
  }
}
