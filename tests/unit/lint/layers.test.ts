/**
 * The layer rules of eslint.config.js (docs/ARCHITECTURE.md) report the
 * imports they forbid and let the allowed ones through. Each case lints a
 * one-line file as if it sat in the named folder.
 */
import { join } from 'node:path'
import { ESLint } from 'eslint'
import { describe, expect, it } from 'vitest'

const root = join(__dirname, '../../..')
const eslint = new ESLint({ cwd: root })

/** The layer-rule messages for `code` placed at `path` (relative to the repository). */
async function layerErrors(path: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport {}\n`, { filePath: join(root, path) })
  return result!.messages.filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message)
}

describe('layer rules', () => {
  it('keep the engine off the store, the contract and the services', async () => {
    expect(await layerErrors('src-main/engine/train/probe.ts', "import { openStore } from '../../store'")).toEqual([
      expect.stringContaining('src-main/engine may not import src-main/store'),
    ])
    expect(await layerErrors('src-main/engine/probe.ts', "import type { TuneRequest } from '../api/contract'")).toEqual([
      expect.stringContaining('src-main/engine may not import src-main/api'),
    ])
    expect(await layerErrors('src-main/engine/generate/probe.ts', "import { x } from '../../services/training'")).toHaveLength(1)
  })

  it('let the engine import its own folders', async () => {
    expect(await layerErrors('src-main/engine/train/probe.ts', "import { readConfig } from '../model/config'\nimport { x } from './adamw'")).toEqual([])
  })

  it('let the renderer take only types from the contract, and nothing else from src-main', async () => {
    expect(await layerErrors('src-renderer/src/stores/probe.ts', "import { openBackend } from '../../../src-main/services/backend'")).toEqual([
      expect.stringContaining('nothing from src-main'),
    ])
    expect(await layerErrors('src-renderer/src/stores/probe.ts', "import { TuneRequest } from '../../../src-main/api/contract'")).toEqual([
      expect.stringContaining('only types from the contract'),
    ])
    expect(await layerErrors('src-renderer/src/stores/probe.ts', "import type { TuneRequest } from '../../../src-main/api/contract'")).toEqual([])
    // The one dependency-free module of the contract whose values the renderer may take.
    expect(await layerErrors('src-renderer/src/tune/probe.ts', "import { tuningDefaults } from '../../../src-main/api/tuning-defaults'")).toEqual([])
  })

  it('keep workers off the store and the services, and the store off the engine', async () => {
    expect(await layerErrors('src-main/workers/probe.ts', "import { openStore } from '../store'\nimport { x } from '../services/evaluations/service'")).toHaveLength(2)
    expect(await layerErrors('src-main/workers/probe.ts', "import { x } from '../engine/train/trainer'")).toEqual([])
    expect(await layerErrors('src-main/store/probe.ts', "import { x } from '../engine/model/config'")).toEqual([
      expect.stringContaining('src-main/store may not import src-main/engine'),
    ])
  })

  it('let only src-main/app import electron', async () => {
    expect(await layerErrors('src-main/services/probe.ts', "import { app } from 'electron'")).toEqual([expect.stringContaining('Only src-main/app imports electron')])
    expect(await layerErrors('src-renderer/src/probe.ts', "import { ipcRenderer } from 'electron'")).toHaveLength(1)
    expect(await layerErrors('src-main/app/probe.ts', "import { app } from 'electron'\nimport { openBackend } from '../services/backend'")).toEqual([])
  })
})
