import { defineConfig } from 'vitest/config'

// Two projects: fast unit tests, and end-to-end tests that drive the built
// app (browser mode) in Debian's Chromium through playwright-core.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // One browser and server at a time: this machine has two cores.
          fileParallelism: false,
        },
      },
    ],
  },
})
