/**
 * The per-stage cost of one exchange, from a V8 CPU profile of the broker (`node --cpu-prof`).
 *
 * Each sample's self time goes to the stage of its frame, found by STAGE_RULES below: the first
 * rule whose `url` pattern matches the frame's script URL (and `functionName`, when the rule has
 * one) wins. A frame whose rule says "inherit" (node's internals shared by several stages, native
 * functions with no URL, node:crypto, which both verifies and signs) takes the stage of its
 * nearest ancestor that has one, so node:crypto's `sign` under `dist/credentials/` is "sign" and
 * fs.writeSync under pino is "audit/log". When no ancestor has one (code resumed from the
 * microtask queue sits right under the root), the rule's `orphan` stage applies, else "other".
 *
 * The broker runs from dist/ (tsc output of src/, so `src/http/form.ts` is `dist/http/form.js`);
 * node_modules frames are matched by package name.
 *
 * To extend: add a rule (or a pattern to an existing rule) ABOVE any broader rule it must beat —
 * e.g. a new `src/exchange/batch-checks.ts` that belongs to "checks" needs `/dist/exchange/batch-checks`
 * in the checks rule, which comes before the catch-all `/dist/` rule. A new stage name needs no
 * other change: the table prints every stage that has time, in STAGE_ORDER first, then the rest.
 */

export interface StageRule {
  readonly stage: string;
  /** Matched against the frame's script URL (file:///…/dist/x.js, node:internal/…, or ""). */
  readonly url: RegExp;
  /** Optional: matched against the frame's function name too. */
  readonly functionName?: RegExp;
  /** For "inherit" rules: the stage when no ancestor has one (e.g. a WebCrypto job resumed from the microtask queue). */
  readonly orphan?: string;
}

const pkg = (...names: string[]) => new RegExp(`/node_modules/(${names.map((n) => n.replace(/[/.]/g, "\\$&")).join("|")})/`);
// The broker's own files: under dist/, never under node_modules (packages have dist/ folders too).
const dist = (...paths: string[]) => new RegExp(`^file://(?!.*/node_modules/).*/dist/(${paths.join("|")})`);

export const STAGE_RULES: readonly StageRule[] = [
  // V8's own pseudo-frames.
  { stage: "GC", url: /^$/, functionName: /^\(garbage collector\)$/ },
  { stage: "other", url: /^$/, functionName: /^\(program\)$/ },
  { stage: "inherit", url: /^$/, functionName: /^\(root\)$/ },
  // parse: the HTTP form and the token request.
  { stage: "parse", url: dist("http/form", "http/read-body", "http/json-body", "exchange/token-request", "protocol/form-fields", "lib/json-segment") },
  // verify: the subject token (jose is "inherit": here because identity/ calls it).
  { stage: "verify", url: dist("identity/") },
  // policy: CEL and grants.
  { stage: "policy", url: dist("policy/", "authorization/authorize", "authorization/attenuate", "authorization/delegation") },
  { stage: "policy", url: pkg("@bufbuild/cel", "@bufbuild/protobuf") },
  // checks: revocation, block and replay checks, rate limits, and their Redis client.
  {
    stage: "checks",
    url: dist("revocation/", "redis/", "rate-limit/", "authorization/revocation-checks", "authorization/rate-limit-gate", "authorization/token-family", "http/client-rate-limit"),
  },
  { stage: "checks", url: pkg("ioredis", "redis-parser", "cluster-key-slot", "denque", "standard-as-callback", "redis-errors") },
  // sign: the broker's tokens, and the response body that carries them.
  { stage: "sign", url: dist("credentials/", "lib/token-id", "exchange/token-response") },
  // audit/log: the audit record and the access line.
  { stage: "audit/log", url: dist("audit/", "lib/log", "lib/logger") },
  { stage: "audit/log", url: pkg("pino", "sonic-boom", "fast-redact", "@pinojs/redact", "pino-std-serializers", "quick-format-unescaped", "fast-safe-stringify", "thread-stream", "on-exit-leak-free", "atomic-sleep", "safe-stable-stringify") },
  { stage: "metrics", url: dist("metrics/") },
  { stage: "metrics", url: pkg("prom-client", "tdigest", "bintrees") },
  // jose: the broker signs its own tokens with node:crypto (dist/credentials/), so jose is the
  // subject token's verification, including its continuations resumed from the microtask queue.
  { stage: "verify", url: pkg("jose") },
  // Shared by several stages: the caller decides. node:crypto's WebCrypto glue resumed at the root
  // (a thread-pool job's promise) is jose's verify: the broker's own signing is synchronous.
  { stage: "inherit", url: /^node:(crypto|internal\/crypto)/, orphan: "verify" },
  { stage: "inherit", url: /^node:(buffer|internal\/buffer|internal\/util|internal\/encoding|events|fs|internal\/fs|internal\/process\/task_queues|internal\/async_hooks|internal\/timers|timers)/ },
  { stage: "inherit", url: /^$/ },
  // respond/HTTP: hono, its Node adapter, node's HTTP and socket internals, the routes.
  { stage: "respond/HTTP", url: pkg("hono", "@hono/node-server") },
  { stage: "respond/HTTP", url: /^node:(_http|http|internal\/http|internal\/deps\/undici|internal\/url|url)/ },
  // Sockets and streams serve both the HTTP answers and ioredis: a write takes its caller's stage
  // (ioredis' pipeline writes are "checks"); one with no staged caller (an uncork on the tick
  // queue, a read callback) is HTTP's.
  { stage: "inherit", url: /^node:(net|internal\/stream_base_commons|internal\/streams|stream|internal\/net)/, orphan: "respond/HTTP" },
  { stage: "respond/HTTP", url: dist("http/", "app\\.js") },
  // lib/'s helpers (digests, clocks, semaphores) serve several stages: the caller decides.
  { stage: "inherit", url: dist("lib/") },
  // Everything else of the broker (the exchange's glue) and of node_modules.
  { stage: "other", url: /./ },
];

export const STAGE_ORDER = ["parse", "verify", "policy", "checks", "sign", "audit/log", "metrics", "respond/HTTP", "GC", "other"];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface StageRow {
  stage: string;
  microsPerRequest: number;
  share: number;
}

function ruleFor(frame: ProfileNode["callFrame"]): StageRule | undefined {
  return STAGE_RULES.find((rule) => rule.url.test(frame.url) && (!rule.functionName || rule.functionName.test(frame.functionName)));
}

/**
 * Self time per stage between `fromMicros` and `toMicros` (the profile's clock, CLOCK_MONOTONIC in
 * µs on Linux: the same clock as process.hrtime), divided by `requests`. `(idle)` is left out.
 * Returns the rows and the main-thread CPU µs per request the profile saw.
 */
export interface StageCosts {
  rows: StageRow[];
  sampledMicrosPerRequest: number;
  samplesInWindow: number;
  /** The frames with the most self time in "other": candidates for a new rule. */
  topOther: { frame: string; microsPerRequest: number }[];
}

export function stageCosts(profile: CpuProfile, requests: number, fromMicros: number, toMicros: number): StageCosts {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stageOf = new Map<number, string | undefined>();
  // The stage of a node, or undefined when it and all its ancestors say "inherit".
  const resolve = (id: number): string | undefined => {
    if (stageOf.has(id)) return stageOf.get(id);
    const node = byId.get(id);
    const rule = node ? ruleFor(node.callFrame) : undefined;
    let stage: string | undefined = rule?.stage ?? "other";
    if (stage === "inherit") {
      const up = parent.get(id);
      stage = (up === undefined ? undefined : resolve(up)) ?? rule?.orphan;
    }
    stageOf.set(id, stage);
    return stage;
  };
  const self = new Map<string, number>();
  const other = new Map<string, number>();
  let time = profile.startTime;
  let total = 0;
  let samplesInWindow = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    time += profile.timeDeltas[i] ?? 0;
    // A sample stands for the time until the next one.
    const duration = profile.timeDeltas[i + 1] ?? 0;
    if (time < fromMicros || time > toMicros) continue;
    const id = profile.samples[i] ?? 0;
    if (byId.get(id)?.callFrame.functionName === "(idle)") continue;
    const stage = resolve(id) ?? "other";
    self.set(stage, (self.get(stage) ?? 0) + duration);
    if (stage === "other") {
      const frame = byId.get(id)?.callFrame;
      const name = `${frame?.functionName || "(anonymous)"} ${(frame?.url ?? "").replace(/^.*\/node_modules\//, "").replace(/^file:\/\/.*\/dist\//, "dist/")}`;
      other.set(name, (other.get(name) ?? 0) + duration);
    }
    total += duration;
    samplesInWindow++;
  }
  const order = [...STAGE_ORDER, ...[...self.keys()].filter((stage) => !STAGE_ORDER.includes(stage)).sort()];
  const rows = order
    .filter((stage) => self.has(stage))
    .map((stage) => ({
      stage,
      microsPerRequest: Math.round((self.get(stage) ?? 0) / Math.max(1, requests)),
      share: Math.round(((self.get(stage) ?? 0) / Math.max(1, total)) * 1000) / 10,
    }));
  const topOther = [...other]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([frame, micros]) => ({ frame: frame.trim(), microsPerRequest: Math.round((micros / Math.max(1, requests)) * 10) / 10 }));
  return { rows, sampledMicrosPerRequest: Math.round(total / Math.max(1, requests)), samplesInWindow, topOther };
}
