// ESLint: the layers of docs/ARCHITECTURE.md, held by `npm run lint` (part of
// `npm test`), plus the recommended JS, TypeScript and Vue checks.
import js from '@eslint/js'
import { defineConfig } from 'eslint/config'
import pluginVue from 'eslint-plugin-vue'
import tseslint from 'typescript-eslint'

/**
 * What each folder of src-main may not import (imports point downwards only).
 * Every cross-layer import in this repository is relative, so a layer's
 * files reach another layer as `../<layer>` (`../../<layer>` from a
 * sub-folder); the patterns match that. No engine sub-folder is named after a
 * layer, so the match cannot hit an import inside the engine.
 */
const forbidden = {
  // Small Node utilities (e.g. the writable-folder check) every layer may use: they import nothing of the app.
  base: ['engine', 'api', 'services', 'store', 'workers', 'app', 'server', 'cli'],
  // Pure ML: no storage, no contract, no use cases, no threads, no transports.
  engine: ['api', 'services', 'store', 'workers', 'app', 'server', 'cli'],
  // Workers compute and report; the service that started them stores.
  workers: ['store', 'services', 'app', 'server', 'cli'],
  // The lowest layer: repositories over SQLite, nothing else.
  store: ['engine', 'api', 'services', 'workers', 'app', 'server', 'cli'],
  // The contract depends on zod only, so the renderer can take its types.
  api: ['engine', 'store', 'services', 'workers', 'app', 'server', 'cli'],
  services: ['app', 'server', 'cli'],
  server: ['app', 'cli'],
  cli: ['app'],
  app: [],
}

const onlyAppImportsElectron = {
  paths: [{ name: 'electron', message: 'Only src-main/app imports electron (docs/ARCHITECTURE.md).' }],
  patterns: [{ regex: '^electron/', message: 'Only src-main/app imports electron (docs/ARCHITECTURE.md).' }],
}

const layerBlocks = Object.entries(forbidden).map(([layer, others]) => ({
  files: [`src-main/${layer}/**/*.ts`],
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        paths: layer === 'app' ? [] : onlyAppImportsElectron.paths,
        patterns: [
          ...(layer === 'app' ? [] : onlyAppImportsElectron.patterns),
          ...others.map((other) => ({
            regex: `^(\\.\\./)+${other}(/.*)?$`,
            message: `src-main/${layer} may not import src-main/${other} (docs/ARCHITECTURE.md).`,
          })),
        ],
      },
    ],
  },
}))

const rendererBlock = {
  files: ['src-renderer/**/*.{ts,vue}'],
  rules: {
    '@typescript-eslint/no-restricted-imports': [
      'error',
      {
        paths: onlyAppImportsElectron.paths,
        patterns: [
          {
            // src-main/api/tuning-defaults imports nothing: the wizard takes its values as they are.
            regex: '(^|/)src-main/api(?!/tuning-defaults$)(/|$)',
            allowTypeImports: true,
            message: 'The renderer takes only types from the contract (`import type`); values reach it through the API client.',
          },
          {
            regex: '(^|/)src-main/(?!api(/|$))',
            message: 'The renderer imports nothing from src-main but types from src-main/api.',
          },
        ],
      },
    ],
  },
}

export default defineConfig(
  { ignores: ['out/**', 'node_modules/**', 'resources/**', 'test-artifacts/**', '.recipe/**'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  pluginVue.configs['flat/essential'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser } },
  },
  {
    rules: {
      // TypeScript resolves every name (and knows Node's and the DOM's globals per tsconfig).
      'no-undef': 'off',
      // `const { dropped: _, ...rest } = x` is how the code leaves fields out of an object.
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // TypeScript already checks that every path returns, exhaustive switches included, which this rule cannot see.
      'vue/return-in-computed-property': 'off',
      // The layer rules use typescript-eslint's version, which can allow `import type`.
      'no-restricted-imports': 'off',
    },
  },
  ...layerBlocks,
  rendererBlock,
)
