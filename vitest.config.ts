import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    // Compiles src/ once for the broker and CLI processes the e2e suites spawn (test/support/compiled-broker.ts).
    globalSetup: ["test/support/global-setup.ts"],
    pool: "forks",
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // e2e suites spawn real broker processes; two cores, so keep parallelism modest.
    maxWorkers: 2,
  },
});
