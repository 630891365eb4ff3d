/**
 * `npx tsx bench/alloc-cost.ts`: CPU per call of two per-decision helpers that issue 14's
 * allocation work changed, this build's `dist/` against another built checkout's
 * (BENCH_BASELINE, default /work/baseline), interleaved in one process, median of 10 rounds:
 * the CEL bindings of a GitHub-Actions-like token (29 claims) and `knowing` around a step that
 * resolves. Run `npm run build` first.
 */
import { join } from "node:path";
import type * as CelBindingsModule from "../src/policy/cel-bindings.js";
import type * as DecisionFactsModule from "../src/audit/decision-facts.js";
import { ROOT } from "./processes.js";

type Bindings = typeof CelBindingsModule;
type Facts = typeof DecisionFactsModule;
type Subject = Parameters<Bindings["celBindings"]>[0];
type Request = Parameters<Bindings["celBindings"]>[1];

const BASELINE = process.env.BENCH_BASELINE ?? "/work/baseline";
const ROUNDS = 12;

const claims = {
  iss: "https://token.actions.githubusercontent.com",
  sub: "repo:octo-org/octo-repo:ref:refs/heads/main",
  aud: "https://broker.example",
  ref: "refs/heads/main",
  sha: "a".repeat(40),
  repository: "octo-org/octo-repo",
  repository_owner: "octo-org",
  repository_owner_id: "123",
  run_id: "1",
  run_number: "2",
  run_attempt: "1",
  repository_visibility: "private",
  repository_id: "456",
  actor_id: "789",
  actor: "octocat",
  workflow: "ci",
  head_ref: "",
  base_ref: "",
  event_name: "push",
  ref_type: "branch",
  ref_protected: "true",
  workflow_ref: "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main",
  workflow_sha: "b".repeat(40),
  job_workflow_ref: "octo-org/octo-repo/.github/workflows/ci.yml@refs/heads/main",
  runner_environment: "github-hosted",
  jti: "8f1c1c4e",
  nbf: 1_795_000_000,
  exp: 1_795_000_300,
  iat: 1_795_000_000,
};
const subject: Subject = {
  identity: { issuer: "github", iss: claims.iss, profile: "github-actions", subject: claims.sub, attributes: { repository: claims.repository, repository_id: "456", ref: claims.ref } },
  claims,
};
const request: Request = { audiences: ["https://a.example.com"], resources: [], scopes: ["demo:read"], requestedTokenType: "access_token", clientAddress: "127.0.0.1", requestedLifetimeSeconds: undefined, now: 1_795_000_000 };

function nanosPerCall(call: () => unknown, times: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < times; i++) call();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / times;
}

async function nanosPerAwait(call: () => Promise<unknown>, times: number): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < times; i++) await call();
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / times;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

const load = async <T>(root: string, path: string): Promise<T> => (await import(join(root, "dist", path))) as T;
const builds = [
  { name: "this build", bindings: await load<Bindings>(ROOT, "policy/cel-bindings.js"), facts: await load<Facts>(ROOT, "audit/decision-facts.js") },
  { name: "baseline", bindings: await load<Bindings>(BASELINE, "policy/cel-bindings.js"), facts: await load<Facts>(BASELINE, "audit/decision-facts.js") },
];
const samples = builds.map(() => ({ bindings: [] as number[], knowing: [] as number[] }));
for (let round = 0; round < ROUNDS; round++) {
  for (const [index, build] of builds.entries()) {
    const into = samples[index];
    if (into === undefined) continue;
    into.bindings.push(nanosPerCall(() => build.bindings.celBindings(subject, request), 50_000));
    into.knowing.push(await nanosPerAwait(() => build.facts.knowing({ issuer: "x" }, () => Promise.resolve(1)), 200_000));
  }
}
for (const [index, build] of builds.entries()) {
  const taken = samples[index];
  if (taken === undefined) continue;
  // The first two rounds warm the JIT up.
  console.log(`${build.name}: celBindings ${median(taken.bindings.slice(2)).toFixed(0)} ns, knowing ${median(taken.knowing.slice(2)).toFixed(0)} ns per call (CPU, median of ${ROUNDS - 2} rounds)`);
}
