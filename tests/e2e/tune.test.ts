import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readSafetensors } from '../../src-main/engine/model/safetensors'
import { writeTinyTextModel } from '../fixtures/fixtures'
import { finish, runCli } from './harness'

const root = mkdtempSync(join(tmpdir(), 'sorted-tune-'))
const modelDir = join(root, 'model')
const data = join(root, 'alpaca.jsonl')
afterAll(() => rmSync(root, { recursive: true, force: true }))

beforeAll(() => {
  writeTinyTextModel(modelDir, { seed: 8 })
  const words = ['hi', 'ho', 'ha', 'he']
  const lines = Array.from({ length: 12 }, (_, i) => JSON.stringify({ instruction: `say ${words[i % 4]}`, input: '', output: `${words[i % 4]} ${words[(i + 1) % 4]}` }))
  writeFileSync(data, `${lines.join('\n')}\n`)
})


const tuneArgs = (out: string) => [
  'tune', '--model', modelDir, '--data', data, '--mode', 'soft', '--max-steps', '6', '--batch-size', '2',
  '--seq-len', '64', '--lr', '3e-3', '--seed', '3', '--checkpoint-every', '1', '--val-split', '0.25', '--out', out, '--json',
]

describe('sorted tune', () => {
  // A full run, and adapter runs (LoRA; DyLoRA, whose rank per step is drawn from the seed and the step), at a
  // learning rate an adapter starting from B = 0 learns at in six steps (the later --lr wins).
  const variants: [string, string[], string][] = [
    ['', [], 'model.safetensors'],
    [' (LoRA)', ['--lr', '3e-2', '--adapter', 'lora', '--lora-rank', '4', '--lora-alpha', '8'], 'adapter_model.safetensors'],
    [' (DyLoRA)', ['--lr', '3e-2', '--adapter', 'dylora', '--lora-rank', '4', '--lora-alpha', '8', '--train-norm'], 'adapter_model.safetensors'],
  ]
  for (const [label, adapter, weightsFile] of variants) {
    it(`survives kill -9 at any moment: --resume ends with the same losses and weights${label}`, async () => {
      const args = (out: string) => [...tuneArgs(out), ...adapter]
      const straightDir = join(root, `straight${label.replace(/\W/g, '')}`)
      const straight = await finish(args(straightDir))
      expect(straight.code, straight.stderr).toBe(0)
      const reference = JSON.parse(straight.stdout)
      expect(reference.history).toHaveLength(6)
      // It learns: every exit's training loss falls over the run.
      for (const exit of ['1', '2', '3']) expect(reference.history[5].loss[exit]).toBeLessThan(reference.history[0].loss[exit])
      expect(Object.keys(reference.val)).toEqual(['1', '2', '3'])

      const out = join(root, `crashed${label.replace(/\W/g, '')}`)
      const child = runCli(args(out))
      let stderr = ''
      await new Promise<void>((resolve) => {
        child.stderr?.on('data', (chunk) => {
          stderr += chunk
          if (stderr.includes('step 3/6')) {
            child.kill('SIGKILL')
            resolve()
          }
        })
      })
      await new Promise((resolve) => child.once('exit', resolve))
      const resumed = await finish([...args(out), '--resume'])
      expect(resumed.code, resumed.stderr).toBe(0)
      expect(resumed.stderr).toMatch(/resuming at step [1-3]/)
      // The killed run could not let go of its folder: the resume takes it over, and says so.
      expect(resumed.stderr).toContain(`warning: taking over ${out}.checkpoints/run.lock, left by sorted tune (pid ${child.pid}, since `)
      const after = JSON.parse(resumed.stdout)
      expect(after.history.map((h: { step: number }) => h.step)).toEqual([1, 2, 3, 4, 5, 6])
      expect(after.history).toEqual(reference.history)
      expect(after.val).toEqual(reference.val)
      const a = readSafetensors(join(straightDir, weightsFile)).tensors
      const b = readSafetensors(join(out, weightsFile)).tensors
      expect([...b.keys()]).toEqual([...a.keys()])
      for (const [name, t] of a) expect(Array.from(b.get(name)!.data), name).toEqual(Array.from(t.data))
      const sorted = JSON.parse(readFileSync(join(out, 'sorted.json'), 'utf8'))
      expect(sorted.exits).toEqual([1, 2, 3])
      expect(Object.keys(sorted.results)).toEqual(['1', '2', '3'])
    })
  }

  it('reports every malformed record with its line and field, and trains on nothing', async () => {
    const bad = join(root, 'bad.jsonl')
    writeFileSync(bad, `${JSON.stringify({ instruction: 'a', output: 'b' })}\n{"instruction": "x", "output": 5}\nnot json\n`)
    const result = await finish(['tune', '--model', modelDir, '--data', bad, '--mode', 'sft', '--max-steps', '1', '--out', join(root, 'never')])
    expect(result.code).toBe(1)
    expect(result.stderr).toContain(`${bad}:2: field "output"`)
    expect(result.stderr).toContain(`${bad}:3:`)
  })

  /** One line on stderr, no stack trace. */
  const oneLine = (stderr: string) => {
    expect(stderr).not.toMatch(/\n\s+at /)
    return stderr.split('\n')[0]!
  }

  it('refuses an unusable --out at once: a file, or a place no folder can be made (/proc)', async () => {
    const file = join(root, 'a-file')
    writeFileSync(file, 'x')
    const asFile = await finish(['tune', '--model', modelDir, '--data', data, '--mode', 'soft', '--out', file])
    expect(asFile.code).toBe(2)
    expect(oneLine(asFile.stderr)).toBe(`sorted tune: --out: ${file} is a file; give a folder for the tuned model.`)
    // This used to spin in mkdirSync at 100% CPU, deaf to SIGTERM.
    const proc = await finish(['tune', '--model', modelDir, '--data', data, '--mode', 'soft', '--out', '/proc/sorted-e2e'])
    expect(proc.code).toBe(2)
    expect(oneLine(proc.stderr)).toBe('sorted tune: --out: the checkpoint folder /proc/sorted-e2e.checkpoints cannot be created: /proc does not accept new files (ENOENT).')
  })

  it('runs one job per --out: a second `sorted tune` there, --resume included, is refused in one line naming the first, which finishes', async () => {
    const out = join(root, 'contended')
    const args = [...tuneArgs(out).filter((a) => a !== '--json'), '--checkpoint-every', '2']
    const first = runCli(args)
    let stderr = ''
    first.stderr?.on('data', (chunk) => (stderr += chunk))
    const exited = new Promise<number | null>((resolve) => first.once('exit', resolve))
    try {
      await new Promise<void>((resolve) => {
        const holdStill = () => {
          if (!stderr.includes('step 1/6')) return
          // Held still while the others try: a stopped process is still running, and still holds the folder.
          first.stderr?.off('data', holdStill)
          first.kill('SIGSTOP')
          resolve()
        }
        first.stderr?.on('data', holdStill)
      })
      const second = await finish(args)
      const resumed = await finish([...args, '--resume'])
      for (const refused of [second, resumed]) {
        expect(refused.code).toBe(1)
        expect(refused.stderr).toMatch(new RegExp(`^sorted tune: --out ${out} is in use by sorted tune \\(pid ${first.pid}, since (\\d{4}-\\d\\d-\\d\\d )?\\d\\d:\\d\\d\\); wait for it or stop it\\.\n$`))
      }
    } finally {
      first.kill('SIGCONT')
    }
    expect(await exited, stderr).toBe(0)
    expect(stderr).toContain(`wrote ${out}`)
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true)
    expect(existsSync(join(`${out}.checkpoints`, 'run.lock'))).toBe(false)
  })

  it('names the flag of a setting that cannot work: --seq-len, --batch-size, --warmup, --val-split, --out, --exits', async () => {
    const run = (...extra: string[]) => finish(['tune', '--model', modelDir, '--data', data, '--mode', 'soft', '--out', join(root, 'refused'), ...extra])
    const seqLen = await run('--seq-len', '100000')
    expect(oneLine(seqLen.stderr)).toBe("sorted tune: --seq-len 100000 is too long: the model's context is 256 tokens (max_position_embeddings in its config.json). Give at most 256.")
    const batch = await run('--batch-size', '1000000')
    expect(oneLine(batch.stderr)).toMatch(/^sorted tune: --batch-size 1000000 with --seq-len 256 needs about \d+ GiB .* --batch-size \d+ fits \(--grad-accum keeps the effective batch\)\.$/)
    const warmup = await run('--warmup', '1000000000')
    expect(oneLine(warmup.stderr)).toBe('sorted tune: --warmup 1000000000 is not shorter than the run (3 steps): the learning rate would never reach --lr 0.0001. Give --warmup below 3.')
    const single = join(root, 'single.jsonl')
    writeFileSync(single, `${JSON.stringify({ instruction: 'a', output: 'b' })}\n`)
    const split = await finish(['tune', '--model', modelDir, '--data', single, '--mode', 'soft', '--out', join(root, 'refused')])
    expect(oneLine(split.stderr)).toBe(`sorted tune: --val-split 0.05 needs at least 2 records (one to train on, one to validate with); ${single} has 1. Give --val-split 0, or more data.`)
    const full = join(root, 'full')
    mkdirSync(full)
    writeFileSync(join(full, 'notes.txt'), 'x')
    const used = await run('--out', full)
    expect(oneLine(used.stderr)).toBe(`sorted tune: --out ${full} is not empty; give a new or empty folder for the tuned model.`)
    const exits = await finish(['eval-loss', '--model', modelDir, '--data', data, '--seq-len', '64', '--exits', '9'])
    expect(oneLine(exits.stderr)).toBe('sorted eval-loss: --exits: exits "9": 9 is outside 1..3')
    for (const result of [seqLen, batch, warmup, split, used, exits]) expect(result.code).toBe(2)
  })

  it('--resume refuses changed settings by flag, --force accepts them; a damaged newest checkpoint is named and the one before used', async () => {
    const out = join(root, 'resumable')
    const first = await finish([...tuneArgs(out).map((a) => (a === '6' ? '3' : a)), '--checkpoint-every', '1'])
    expect(first.code, first.stderr).toBe(0)
    rmSync(out, { recursive: true })
    const changed = await finish([...tuneArgs(out), '--resume', '--lr', '1e-2', '--mode', 'sft'])
    expect(changed.code).toBe(2)
    expect(oneLine(changed.stderr)).toMatch(/were made with other settings: --mode soft \(now sft\), --max-steps 3 \(now 6\), --lr 0\.003 \(now 0\.01\)\. Resume with the same settings, or start a new run \(add --force to go on with the new ones\)\.$/)
    const checkpoints = `${out}.checkpoints`
    const [older, newer] = readdirSync(checkpoints).filter((n) => n.startsWith('step-')).sort().map((n) => join(checkpoints, n))
    writeFileSync(join(newer!, 'state.json'), '{"step": 3, "sta')
    const forced = await finish([...tuneArgs(out), '--resume', '--force'])
    expect(forced.code, forced.stderr).toBe(0)
    expect(forced.stderr).toContain(`warning: checkpoint ${newer} is damaged (${join(newer!, 'state.json')} does not match its checksum); resuming from the one before it, ${older}`)
    expect(forced.stderr).toContain('warning: resuming at step 2 with changed settings: --max-steps 3 (now 6) (forced)')
    expect(JSON.parse(forced.stdout).history.map((h: { step: number }) => h.step)).toEqual([1, 2, 3, 4, 5, 6])
  })

  it('stops a diverging run at once, naming the step and the last good checkpoint, with no model written', async () => {
    const out = join(root, 'diverged')
    const result = await finish([...tuneArgs(out), '--lr', '1e300', '--warmup', '1'])
    expect(result.code).toBe(1)
    const last = result.stderr.trim().split('\n').at(-1)!
    expect(last).toMatch(/^sorted tune: training diverged at step 2: the parameter [\w.]+ is no longer a finite number \(learning rate 1e\+300\); the last good checkpoint, step 1, is kept in .*step-00000001\. Lower the learning rate/)
    expect(result.stderr).not.toMatch(/\n\s+at /)
    expect(existsSync(out)).toBe(false)
  })

  it('refuses a 50 MB line with its line number, in bounded memory; warns about non-UTF-8 lines', async () => {
    const huge = join(root, 'huge.jsonl')
    writeFileSync(huge, `${JSON.stringify({ instruction: 'a', output: 'b' })}\n{"instruction": "a", "output": "${'x'.repeat(50 * 1024 * 1024)}"}\n`)
    // 256 MB of heap: the old code tokenized the line for minutes and then ran out of memory at any size.
    const result = await finish(['tune', '--model', modelDir, '--data', huge, '--mode', 'soft', '--out', join(root, 'huge-out')], { NODE_OPTIONS: '--max-old-space-size=256' })
    rmSync(huge)
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(new RegExp(`${huge}:2: the record is [\\d,]+ characters long; a record may hold at most 262,144`))
    expect(result.stderr).not.toMatch(/\n\s+at /)

    const latin1 = join(root, 'latin1.jsonl')
    writeFileSync(latin1, Buffer.concat([readFileSync(data), Buffer.from('{"instruction": "caf'), Buffer.from([0xe9]), Buffer.from('", "output": "ok"}\n')]))
    const warned = await finish(['eval-loss', '--model', modelDir, '--data', latin1, '--seq-len', '64'])
    expect(warned.code, warned.stderr).toBe(0)
    expect(warned.stderr).toContain(`warning: ${latin1}: 1 line is not valid UTF-8 (line 13); their bad bytes were read as U+FFFD`)
  })

  it('eval-loss prints the mean loss of every exit', async () => {
    const result = await finish(['eval-loss', '--model', modelDir, '--data', data, '--seq-len', '64', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const out = JSON.parse(result.stdout)
    expect(out).toMatchObject({ weights: 'fp32', graph: 'training' })
    expect(Object.keys(out.loss)).toEqual(['1', '2', '3'])
    for (const value of Object.values(out.loss)) expect(value).toBeGreaterThan(0)
  })

  it('eval-loss --weights int8 measures through the inference graphs in int8, close to the fp32 training graph', async () => {
    const fp32 = JSON.parse((await finish(['eval-loss', '--model', modelDir, '--data', data, '--seq-len', '64', '--json'])).stdout)
    const result = await finish(['eval-loss', '--model', modelDir, '--data', data, '--seq-len', '64', '--weights', 'int8', '--json'])
    expect(result.code, result.stderr).toBe(0)
    const int8 = JSON.parse(result.stdout)
    expect(int8).toMatchObject({ weights: 'int8', block_size: 32, lm_head: 'int8', graph: 'inference' })
    expect(Object.keys(int8.loss)).toEqual(['1', '2', '3'])
    for (const exit of ['1', '2', '3']) {
      expect(Math.abs(int8.loss[exit] - fp32.loss[exit])).toBeLessThan(0.05)
      expect(int8.perplexity[exit]).toBeCloseTo(Math.exp(int8.loss[exit]), 6)
    }
    const human = await finish(['eval-loss', '--model', modelDir, '--data', data, '--seq-len', '64', '--weights', 'int4', '--block-size', '64', '--exits', '2'])
    expect(human.code, human.stderr).toBe(0)
    expect(human.stdout).toMatch(/^weights int4 \(block 64, LM head int8\), inference graphs\nexit 2: loss [\d.]+ {2}perplexity [\d.]+\nexit 3: loss/)
    const refused = await finish(['eval-loss', '--model', modelDir, '--data', data, '--weights', 'int3'])
    expect(refused.code).toBe(2)
    expect(refused.stderr.split('\n')[0]).toBe('sorted eval-loss: --weights must be one of fp32, int8, int4 (got "int3").')
  })
})
