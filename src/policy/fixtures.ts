import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import type { JWTPayload } from "jose";
import type { VerifiedSubject } from "../identity/types.js";
import { fixtureFileSchema } from "./policy-schema.js";
import type { FixtureCase } from "./policy-schema.js";
import type { Decision, Narrow, PolicySet, RequestContext } from "./types.js";
import { formatIssue, parseYaml, zodIssues } from "./yaml-source.js";

/** Fixture files are `*.test.yaml` beside the policies. */
export const FIXTURE_FILE_SUFFIX = ".test.yaml";

/** Lifetime given to a fixture's subject token when its claims carry no `exp`. */
const DEFAULT_TOKEN_SECONDS = 300;

/**
 * The policies a passing case exercised: an allow covers the policy that granted it; a deny
 * covers every policy evaluated for it (each was tried and refused the request).
 */
export interface FixtureCoverage {
  readonly outcome: "allow" | "deny";
  readonly policyIds: readonly string[];
}

/** The outcome of one fixture case (or of an unreadable fixture file, with name "(file)"). */
export interface FixtureResult {
  readonly name: string;
  readonly file: string;
  readonly passed: boolean;
  /** "ok", or what differed and why the decision came out as it did. */
  readonly message: string;
  /** What a passing case covers; undefined for a failing case, which covers nothing. */
  readonly covers?: FixtureCoverage;
}

/** One fixture file as read: its name in the folder and its text. */
export interface FixtureSource {
  readonly file: string;
  readonly text: string;
}

/**
 * Runs every `*.test.yaml` in `dir` (sorted by name) against `policySet`, offline:
 * claims + request → decision, compared with `expect`, at each case's pinned `now`. `narrow` is
 * the authorization kernel's attenuation (without a global lifetime cap), passed in by the
 * caller so that fixtures see requests narrowed exactly as the broker narrows them.
 */
export async function runPolicyFixtures(dir: string, policySet: PolicySet, narrow: Narrow): Promise<FixtureResult[]> {
  return runFixtureSources(await readFixtureSources(dir), policySet, narrow);
}

/** Every `*.test.yaml` in `dir`, sorted by name (code-unit order, as policies load). */
export async function readFixtureSources(dir: string): Promise<FixtureSource[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(FIXTURE_FILE_SUFFIX))
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Promise.all(files.map(async (file) => ({ file, text: await readFile(join(dir, file), "utf8") })));
}

/** {@link runPolicyFixtures} over fixture files already read. */
export function runFixtureSources(sources: readonly FixtureSource[], policySet: PolicySet, narrow: Narrow): FixtureResult[] {
  const results: FixtureResult[] = [];
  for (const { file, text } of sources) {
    const yaml = parseYaml(text);
    const parsed = yaml.ok ? fixtureFileSchema.safeParse(yaml.value) : undefined;
    if (!yaml.ok || parsed === undefined || !parsed.success) {
      const issues = !yaml.ok ? yaml.issues : parsed !== undefined && !parsed.success ? zodIssues(parsed.error) : [];
      results.push({ name: "(file)", file, passed: false, message: issues.map((issue) => formatIssue(file, undefined, issue)).join("\n") });
      continue;
    }
    for (const testCase of parsed.data.policy_tests) {
      const { subject, request } = fixtureInputs(testCase);
      const decision = policySet.evaluate(subject, request, narrow);
      const problems = compare(testCase, decision);
      if (problems.length > 0) {
        results.push({ name: testCase.name, file, passed: false, message: problems.join("; ") });
        continue;
      }
      const covers: FixtureCoverage = decision.allow ? { outcome: "allow", policyIds: [decision.grant.policyId] } : { outcome: "deny", policyIds: decision.evaluated };
      results.push({ name: testCase.name, file, passed: true, message: "ok", covers });
    }
  }
  return results;
}

/** Builds the verified subject and request a fixture describes, filling sensible defaults. */
function fixtureInputs(testCase: FixtureCase): { subject: VerifiedSubject; request: RequestContext } {
  const now = testCase.now;
  const claims: JWTPayload = {
    iss: testCase.identity.iss,
    sub: testCase.identity.subject,
    iat: now - 10,
    exp: now + DEFAULT_TOKEN_SECONDS,
    ...testCase.claims,
  };
  const subject: VerifiedSubject = {
    identity: { ...testCase.identity },
    claims,
    expiresAt: typeof claims.exp === "number" ? claims.exp : now + DEFAULT_TOKEN_SECONDS,
    issuedAt: typeof claims.iat === "number" ? claims.iat : undefined,
    tokenId: typeof claims.jti === "string" ? claims.jti : undefined,
    // Replay protection is a store matter, not a policy one: fixtures never claim tokens.
    replayKey: undefined,
  };
  const request: RequestContext = {
    audiences: testCase.request.audiences,
    resources: testCase.request.resources,
    scopes: testCase.request.scopes,
    requestedTokenType: testCase.request.requested_token_type,
    requestedLifetimeSeconds: testCase.request.requested_lifetime,
    clientAddress: testCase.request.client_address,
    now,
    ...(testCase.actor ? { actor: { identity: { ...testCase.actor.identity }, claims: { ...testCase.actor.claims } } } : {}),
  };
  return { subject, request };
}

function compare(testCase: FixtureCase, decision: Decision): string[] {
  const expect = testCase.expect;
  const problems: string[] = [];
  if (!expect.allow) {
    if (decision.allow) return [`expected deny, got allow by ${decision.grant.policyId}`];
    if (expect.reason !== undefined && decision.reason !== expect.reason) {
      problems.push(`expected reason ${expect.reason}, got ${decision.reason} (${decision.details.join(" | ")})`);
    }
    return problems;
  }
  if (!decision.allow) return [`expected allow, got deny ${decision.reason} (${decision.details.join(" | ") || "no policy evaluated"})`];

  const { grant } = decision;
  if (expect.policy !== undefined && grant.policyId !== expect.policy) problems.push(`expected policy ${expect.policy}, got ${grant.policyId}`);
  if (expect.workload_id !== undefined && grant.workloadId !== expect.workload_id) {
    problems.push(`expected workload_id ${expect.workload_id}, got ${grant.workloadId}`);
  }
  if (expect.spiffe_id !== undefined && grant.spiffeId !== expect.spiffe_id) {
    problems.push(`expected spiffe_id ${expect.spiffe_id}, got ${grant.spiffeId ?? "none"}`);
  }
  // Audiences and scopes are what the issued token would carry: the grant narrowed to the request.
  // An X.509-SVID carries neither (no narrowing: nothing to compare).
  const { narrowed } = decision;
  if (narrowed !== undefined && expect.audiences !== undefined && !sameSet(narrowed.audiences, expect.audiences)) {
    problems.push(`expected audiences [${expect.audiences.join(", ")}], got [${narrowed.audiences.join(", ")}]`);
  }
  if (narrowed !== undefined && expect.scopes !== undefined && !sameSet(narrowed.scopes, expect.scopes)) {
    problems.push(`expected scopes [${expect.scopes.join(" ")}], got [${narrowed.scopes.join(" ")}]`);
  }
  if (expect.claims !== undefined && !isDeepStrictEqual({ ...grant.extraClaims }, expect.claims)) {
    problems.push(`expected claims ${JSON.stringify(expect.claims)}, got ${JSON.stringify(grant.extraClaims)}`);
  }
  return problems;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join("\n") === [...b].sort().join("\n");
}
