import js from "@eslint/js";
import tseslint from "typescript-eslint";
import boundaries from "eslint-plugin-boundaries";

// The floors of src/, top to bottom. Each use case and each domain folder is its own element, so
// "side by side" is checked too: one use case never imports another's files.
const USE_CASES = ["exchange", "svid", "introspection", "admin"];
const DOMAINS = ["identity", "policy", "credentials", "dpop", "rate-limit", "revocation", "audit", "inventory"];
const FLOORS = [
  { type: "entry", pattern: "src/cli" },
  { type: "http", pattern: "src/http" },
  { type: "use-case", pattern: `src/(${USE_CASES.join("|")})`, capture: ["name"] },
  { type: "kernel", pattern: "src/authorization" },
  { type: "adapter", pattern: "src/(redis|metrics|pkcs11)", capture: ["name"] },
  { type: "domain", pattern: `src/(${DOMAINS.join("|")})`, capture: ["name"] },
  { type: "ground", pattern: "src/(lib|protocol|errors|types)", capture: ["name"] },
];
const below = (...types) => ({ to: { element: { types: { anyOf: types } } } });
const FOLDER_POLICIES = [
  { from: { element: { type: "entry" } }, allow: below("entry", "http", "use-case", "kernel", "adapter", "domain", "ground") },
  { from: { element: { type: "http" } }, allow: below("http", "use-case", "kernel", "adapter", "domain", "ground") },
  { from: { element: { type: "use-case" } }, allow: below("kernel", "domain", "ground") },
  { from: { element: { type: "use-case" } }, allow: { to: { element: { type: "use-case", captured: { name: "{{ from.captured.name }}" } } } } },
  { from: { element: { type: "kernel" } }, allow: below("kernel", "domain", "ground") },
  { from: { element: { type: "adapter" } }, allow: below("domain", "ground") },
  { from: { element: { type: "adapter" } }, allow: { to: { element: { type: "adapter", captured: { name: "{{ from.captured.name }}" } } } } },
  { from: { element: { type: "domain" } }, allow: below("ground") },
  { from: { element: { type: "domain" } }, allow: { to: { element: { type: "domain", captured: { name: "{{ from.captured.name }}" } } } } },
  // A policy decides on a verified identity: it reads identity's types and SPIFFE ID parser.
  { from: { element: { type: "domain", captured: { name: "policy" } } }, allow: { to: { element: { type: "domain", captured: { name: "identity" } } } } },
  { from: { element: { type: "ground" } }, allow: below("ground") },
];

const layering = (patterns) => ["error", { patterns }];

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "coverage/", "keys/", "action/dist/"] },
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
    ignores: ["src/app.ts", "src/http/**", "src/main.ts", "src/open-adapters.ts", "src/open-token.ts", "src/development-start.ts", "src/cluster-*.ts", "src/cli/**", "src/lib/logger.ts", "src/audit/**", "src/redis/**"],
    rules: {
      "no-restricted-imports": layering([
        { group: ["hono", "hono/*", "@hono/*"], message: "hono belongs in src/app.ts and src/http/ only." },
        { group: ["ioredis"], message: "ioredis belongs in the Redis adapters (src/redis/) and the process (main.ts, open-adapters.ts, open-token.ts) only." },
        { group: ["pino", "pino-*"], message: "pino belongs in lib/logger.ts, audit/, cli/ and the process (main.ts, open-adapters.ts, open-token.ts, development-start.ts, cluster-*.ts) only." },
      ]),
    },
  },
  // The PKCS#11 binding only in its adapter (src/pkcs11/): the domain sees the ports (Signer, the key
  // custody). A rule of its own name, so it adds to the fences above instead of replacing them.
  {
    files: ["src/**/*.ts"],
    ignores: ["src/pkcs11/**"],
    rules: {
      "@typescript-eslint/no-restricted-imports": layering([
        { group: ["graphene-pk11", "pkcs11js"], message: "the PKCS#11 binding belongs in the token adapter (src/pkcs11/) only." },
      ]),
    },
  },
  // Folder direction (docs/architecture.md, "Folder map"): every import runs down the floors.
  // Entry → composition → http → use cases (side by side, never each other) → the authorization
  // kernel → adapters → domain (side by side; policy may read identity's types) → ground.
  {
    files: ["src/**/*.ts"],
    plugins: { boundaries },
    settings: {
      "import/resolver": { typescript: { project: "tsconfig.json" } },
      "boundaries/elements": FLOORS,
    },
    rules: {
      "boundaries/dependencies": ["error", { default: "disallow", policies: FOLDER_POLICIES }],
    },
  },
  // The files at the top of src/ (main.ts, build-broker.ts, app.ts, config.ts) are the top floor:
  // they may import any folder, and no folder may import them (an unclassified file).
  {
    files: ["src/*/**/*.ts"],
    rules: { "boundaries/no-unknown-dependencies": "error" },
  },
  // Small rooms (issue 13): a file over 300 lines or a function over 60 does more than one job.
  // Blank lines and comments do not count; an exception needs a disable comment that says why.
  {
    files: ["src/**/*.ts"],
    rules: {
      "max-lines": ["error", { max: 300, skipBlankLines: true, skipComments: true }],
      "max-lines-per-function": ["error", { max: 60, skipBlankLines: true, skipComments: true }],
    },
  },
);
