/**
 * A model's compiled graphs on disk, so that a later load reads neither the
 * weights nor the graph code again: no safetensors parsing, no quantizing,
 * no ONNX Runtime optimisation of the layers. An entry is a folder of the
 * model's graphs, the layers as ONNX Runtime optimised them and the
 * embedding-and-head graph as built (runtime.ts load; graphFile: `<graph>.onnx` with its
 * initializers beside it in `<graph>.data`, ONNX Runtime's external-data
 * layout, which also takes graphs over protobuf's 2 GB limit) and a
 * manifest listing every file and its size.
 *
 * The key names everything the compiled form depends on, without hashing a
 * single weight byte (that alone would read gigabytes):
 *   - the source files' identity: real path, size and modification time of
 *     config.json, the safetensors index and every .safetensors file
 *     (sorted.json, tokenizer and chat-template files do not change graphs);
 *   - the weight format, the provider, ONNX Runtime's version and this CPU
 *     (an optimised graph may use instructions of the CPU it was made on);
 *   - a fingerprint of the graph code: the bytes of a one-layer model of
 *     the same architecture built by the code running now, so a change to
 *     how graphs are built or weights quantized makes new keys by itself;
 *   - CACHE_VERSION, for what that fingerprint cannot see (the layout of an
 *     entry, the repacking of GPTQ/AWQ checkpoints).
 *
 * Entries are written in a temporary folder and renamed into place, so a
 * crash never leaves a half-written entry under a real key. An entry whose
 * manifest or files do not match is discarded and rebuilt, never trusted;
 * writing an entry removes the older entries of the same folder, format and
 * provider (their source files have changed since).
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import { z } from 'zod'
import { buildLayerGraph, buildOuterGraph } from '../model/graphs'
import { initialWeights } from '../model/init'
import type { ModelConfig } from '../model/types'
import { formatTag, isQuantized } from '../model/weight-format'
import { toModelProto } from '../onnx/serialize'
import { graphNames, type RuntimeTarget } from './runtime'

/** Bump when an entry's layout or what the fingerprint cannot see (GPTQ/AWQ repacking) changes. */
const CACHE_VERSION = 1
const MANIFEST = 'manifest.json'

const manifestSchema = z.object({
  version: z.literal(CACHE_VERSION),
  /** The model folder it was compiled from (real path). */
  source: z.string(),
  /** Weight format tag and provider: with `source`, what makes an older entry stale. */
  format: z.string(),
  provider: z.string(),
  /** Every file of the entry and its size in bytes. */
  files: z.record(z.string(), z.number().int().nonnegative()),
})
type Manifest = z.infer<typeof manifestSchema>

/** Files whose bytes the graphs are made from (the rest of a model folder does not change them). */
function isWeightSource(name: string): boolean {
  return name === 'config.json' || name.endsWith('.safetensors') || name === 'model.safetensors.index.json'
}

/** Path, size and modification time of every file the graphs are made from, in name order. */
function sourceIdentity(folder: string): string {
  return readdirSync(folder)
    .filter(isWeightSource)
    .sort()
    .map((name) => {
      const stat = statSync(join(folder, name))
      return `${name}\0${stat.size}\0${stat.mtimeMs}`
    })
    .join('\n')
}

/**
 * The bytes of a one-layer model of `config`'s architecture in `target`'s
 * format, built by the graph code running now (its dimensions shrunk so that
 * building it takes milliseconds; a block size still divides every input).
 */
function graphCodeFingerprint(config: ModelConfig, target: RuntimeTarget): string {
  const width = isQuantized(target.format) ? target.format.blockSize : 16
  const tiny: ModelConfig = { ...config, numLayers: 1, vocabSize: 8, hiddenSize: width, intermediateSize: width, headDim: width / 2, numHeads: 2, numKvHeads: 1 }
  const weights = initialWeights(tiny, 0)
  return createHash('sha256')
    .update(toModelProto(buildOuterGraph(tiny, weights, target.format)))
    .update(toModelProto(buildLayerGraph(tiny, weights.layers[0]!, 0, target.format)))
    .digest('hex')
}

export class ModelGraphCache {
  constructor(
    /** The cache folder (`--cache-dir`, the app's cache/graphs). */
    readonly dir: string,
    private readonly log: (message: string) => void = () => {},
  ) {}

  /** The entry key of `folder`'s model compiled for `target`; `prequantized`: its GPTQ/AWQ method. */
  key(folder: string, config: ModelConfig, target: RuntimeTarget, prequantized?: string): string {
    const source = realpathSync(folder)
    return createHash('sha256')
      .update(
        [
          `v${CACHE_VERSION}`,
          source,
          sourceIdentity(source),
          formatTag(target.format),
          prequantized ?? '',
          target.provider,
          ort.env.versions.common,
          `${process.platform}-${process.arch}`,
          cpus()[0]?.model ?? '',
          graphCodeFingerprint(config, target),
        ].join('\0'),
      )
      .digest('hex')
  }

  private entryDir(key: string): string {
    return join(this.dir, key)
  }

  /**
   * The folder of the entry under `key` when it is whole (its manifest lists
   * every graph of a `numLayers`-layer model and every file has the listed
   * size); a damaged entry is discarded and undefined returned.
   */
  find(key: string, numLayers: number): string | undefined {
    const dir = this.entryDir(key)
    if (!existsSync(dir)) return undefined
    const problem = this.check(dir, numLayers)
    if (problem === undefined) return dir
    this.discard(key, problem)
    return undefined
  }

  private check(dir: string, numLayers: number): string | undefined {
    let manifest: Manifest
    try {
      manifest = manifestSchema.parse(JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')))
    } catch (error) {
      return `its ${MANIFEST} is unreadable (${(error as Error).message.split('\n')[0]})`
    }
    for (const name of graphNames(numLayers)) {
      if (!(`${name}.onnx` in manifest.files)) return `it has no ${name}.onnx`
    }
    for (const [file, size] of Object.entries(manifest.files)) {
      const path = join(dir, file)
      if (!existsSync(path)) return `${file} is missing`
      if (statSync(path).size !== size) return `${file} has ${statSync(path).size} bytes, not ${size}`
    }
    return undefined
  }

  /** Removes the entry under `key`, saying why. */
  discard(key: string, why: string): void {
    this.log(`Discarding compiled graphs ${this.entryDir(key)}: ${why}; compiling again`)
    rmSync(this.entryDir(key), { recursive: true, force: true })
  }

  /**
   * Writes a new entry: `compile` saves the graphs in the folder it is given
   * (DynamicDepthRuntime.load's saveGraphsIn); once it resolves, the
   * manifest is written and the folder renamed into place. When `compile`
   * throws, nothing is left behind; when keeping the entry fails (disk full,
   * another process kept the same entry first), the load still succeeds and
   * the next one compiles again.
   */
  async write<T>(key: string, source: { folder: string; target: RuntimeTarget }, compile: (dir: string) => Promise<T>): Promise<T> {
    mkdirSync(this.dir, { recursive: true })
    const temporary = join(this.dir, `${key}.${process.pid}.tmp`)
    rmSync(temporary, { recursive: true, force: true })
    mkdirSync(temporary)
    let result: T
    try {
      result = await compile(temporary)
    } catch (error) {
      rmSync(temporary, { recursive: true, force: true })
      throw error
    }
    try {
      const files = Object.fromEntries(readdirSync(temporary).map((file) => [file, statSync(join(temporary, file)).size]))
      const manifest: Manifest = { version: CACHE_VERSION, source: realpathSync(source.folder), format: formatTag(source.target.format), provider: source.target.provider, files }
      writeFileSync(join(temporary, MANIFEST), JSON.stringify(manifest, null, 2))
      this.removeStale(manifest)
      renameSync(temporary, this.entryDir(key))
    } catch (error) {
      this.log(`Could not keep the compiled graphs in ${this.dir}: ${(error as Error).message.split('\n')[0]}`)
      rmSync(temporary, { recursive: true, force: true })
    }
    return result
  }

  /** How many entries the cache holds and their bytes on disk (entries being written included). */
  usage(): { entries: number; bytes: number } {
    if (!existsSync(this.dir)) return { entries: 0, bytes: 0 }
    let entries = 0
    let bytes = 0
    for (const name of readdirSync(this.dir)) {
      const entry = join(this.dir, name)
      if (!statSync(entry).isDirectory()) continue
      if (!name.endsWith('.tmp')) entries++
      for (const file of readdirSync(entry)) bytes += statSync(join(entry, file)).size
    }
    return { entries, bytes }
  }

  /**
   * Removes every entry (a later load compiles its model again). An entry
   * being written (a load under way) is left alone, and so is one the system
   * will not let go (Windows keeps a loaded model's files open): `kept`.
   */
  clear(): { removed: number; kept: number; freedBytes: number } {
    const before = this.usage().bytes
    let removed = 0
    let kept = 0
    if (existsSync(this.dir)) {
      for (const name of readdirSync(this.dir)) {
        if (name.endsWith('.tmp') || !statSync(join(this.dir, name)).isDirectory()) continue
        try {
          rmSync(join(this.dir, name), { recursive: true })
          removed++
        } catch {
          kept++
        }
      }
    }
    return { removed, kept, freedBytes: before - this.usage().bytes }
  }

  /** Entries of the same folder, format and provider as `fresh`: made from source files that have changed since. */
  private removeStale(fresh: Manifest): void {
    for (const name of readdirSync(this.dir)) {
      if (name.endsWith('.tmp')) continue
      const manifestFile = join(this.dir, name, MANIFEST)
      if (!existsSync(manifestFile)) continue
      try {
        const old = manifestSchema.parse(JSON.parse(readFileSync(manifestFile, 'utf8')))
        if (old.source === fresh.source && old.format === fresh.format && old.provider === fresh.provider) rmSync(join(this.dir, name), { recursive: true, force: true })
      } catch {
        // Another version's entry, or a damaged one: find() discards it when its key is asked for.
      }
    }
  }
}
