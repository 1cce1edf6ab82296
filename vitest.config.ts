import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'all', include: ['test/**/*.test.ts'] } },
      // The scan's hard cases and quick mode again, served by the JavaScript binding (the one
      // a host without a loadable addon gets): the same reports, but for capabilities and
      // extended attributes, which only the addon reads.
      {
        extends: true,
        test: {
          name: 'js-binding',
          include: ['test/cli/hard-cases.test.ts', 'test/cli/quick.test.ts'],
          env: { DRIFTWATCH_NATIVE: '0' },
        },
      },
    ],
  },
})
