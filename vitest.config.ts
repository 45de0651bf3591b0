import {defineConfig} from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Command tests read what commands print; oclif's runCommand captures it only without Vitest's interception.
    disableConsoleIntercept: true,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
})
