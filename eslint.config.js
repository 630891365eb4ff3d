import js from "@eslint/js";
import tseslint from "typescript-eslint";

const layering = (patterns) => ["error", { patterns }];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "keys/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  // Boundaries: hono only in app.ts and http/; ioredis only in the Redis adapters (revocation
  // store, rate limiter) and main;
  // pino only in logging/audit, cli and main. The domain knows nothing of the transport.
  {
    files: ["src/**/*.ts"],
    ignores: ["src/app.ts", "src/http/**", "src/main.ts", "src/cli/**", "src/lib/logger.ts", "src/audit/**", "src/revocation/redis-*.ts", "src/rate-limit/redis-*.ts"],
    rules: {
      "no-restricted-imports": layering([
        { group: ["hono", "hono/*", "@hono/*"], message: "hono belongs in src/app.ts and src/http/ only." },
        { group: ["ioredis"], message: "ioredis belongs in the Redis adapters (src/revocation/redis-*.ts, src/rate-limit/redis-*.ts) and main.ts only." },
        { group: ["pino", "pino-*"], message: "pino belongs in lib/logger.ts, audit/, cli/ and main.ts only." },
      ]),
    },
  },
);
