import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    environment: "node",
    pool: "forks",
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // e2e suites spawn real broker processes; two cores, so keep parallelism modest.
    maxWorkers: 2,
  },
});
