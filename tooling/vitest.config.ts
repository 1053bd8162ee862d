import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // The tooling dogfoods its own globalSetup, so the wiring packages use is exercised end to end.
    globalSetup: ['test/global-setup.ts'],
    // Real processes (and possibly an apt-get install on a fresh machine) take far longer than unit tests.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    teardownTimeout: 30_000,
  },
});
