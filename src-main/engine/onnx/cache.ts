/**
 * A disk cache of compiled graphs. ONNX Runtime's graph optimisation (fusions,
 * constant folding, layout choices) can take seconds for a model's worth of
 * layers; the optimised model is saved once, keyed by a content hash of the
 * graph bytes plus everything the optimised form depends on (provider,
 * ONNX Runtime version, platform), and later sessions load it with
 * optimisation off. Files are written to a temporary name and renamed, so a
 * crash never leaves a half-written entry under a real key.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { loadSession, type LoadedSession, type SessionOptions } from './session'

export class CompiledGraphCache {
  constructor(
    readonly dir: string,
    private readonly log: (message: string) => void = () => {},
  ) {}

  key(model: Uint8Array, provider: string): string {
    return createHash('sha256')
      .update(model)
      // The optimised form may use instructions of this CPU (ORT warns so), hence its model in the key.
      .update(`\0${provider}\0${ort.env.versions.common}\0${process.platform}-${process.arch}\0${cpus()[0]?.model ?? ''}`)
      .digest('hex')
  }

  path(key: string): string {
    return join(this.dir, `${key}.onnx`)
  }

  /**
   * Loads `model` on the preferred provider: from the cache when an
   * optimised copy exists, else optimising it now and storing the result.
   */
  async load(model: Uint8Array, options: SessionOptions = {}): Promise<LoadedSession & { cacheHit: boolean }> {
    // The provider decides the optimised form, so resolve it first (cheap: no optimisation).
    const probe = await loadSession(model, { ...options, optimization: 'disabled' })
    await probe.session.release()
    const file = this.path(this.key(model, probe.provider))
    const pinned: SessionOptions = { ...options, provider: probe.provider }

    if (existsSync(file)) {
      try {
        const loaded = await loadSession(file, { ...pinned, optimization: 'disabled' })
        return { ...loaded, fallbackReason: probe.fallbackReason, cacheHit: true }
      } catch (error) {
        this.log(`Discarding unreadable compiled graph ${file}: ${(error as Error).message.split('\n')[0]}`)
        rmSync(file, { force: true })
      }
    }
    mkdirSync(this.dir, { recursive: true })
    const temporary = `${file}.${process.pid}.tmp`
    const loaded = await loadSession(model, { ...pinned, optimizedModelFilePath: temporary })
    if (existsSync(temporary)) renameSync(temporary, file)
    return { ...loaded, fallbackReason: probe.fallbackReason, cacheHit: false }
  }
}
