import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'
import type { Plugin } from 'vite'
import { devRendererPolicy, rendererPolicy } from './src-main/server/csp'

/** Puts the renderer's Content Security Policy in index.html (strict in builds). */
function contentSecurityPolicy(): Plugin {
  return {
    name: 'sorted-studio-csp',
    transformIndexHtml(_html, context) {
      return [
        {
          tag: 'meta',
          attrs: { 'http-equiv': 'Content-Security-Policy', content: context.server ? devRendererPolicy : rendererPolicy },
          injectTo: 'head-prepend',
        },
      ]
    },
  }
}

// Three builds of one project (main, preload, renderer), as in electron-vite's
// template. The main build also emits the CLI, which serves the same renderer
// in browser mode where no Electron binary exists.
export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: {
        input: {
          main: resolve(__dirname, 'src-main/app/main.ts'),
          cli: resolve(__dirname, 'src-main/cli/index.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rollupOptions: {
        input: { preload: resolve(__dirname, 'src-main/app/preload.ts') },
        // Sandboxed preload scripts must be CommonJS.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src-renderer'),
    plugins: [vue(), contentSecurityPolicy()],
    build: {
      outDir: resolve(__dirname, 'out/renderer'),
      emptyOutDir: true,
      rollupOptions: { input: resolve(__dirname, 'src-renderer/index.html') },
    },
  },
})
