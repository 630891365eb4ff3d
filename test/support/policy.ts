import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { VerifiedSubject, WorkloadIdentity } from "../../src/identity/types.js";
import { narrowWithin } from "../../src/authorization/attenuate.js";
import type { KnownIssuer } from "../../src/policy/load-policies.js";
import type { RequestContext } from "../../src/policy/types.js";

/** The issuers policies/issuers.yaml defines, with their profiles. */
export const KNOWN_ISSUERS = [
  { id: "github-actions", profile: "github-actions" },
  { id: "gitlab-ci", profile: "gitlab-ci" },
  { id: "kubernetes", profile: "kubernetes" },
  { id: "local-dev", profile: "oidc" },
] as const satisfies readonly KnownIssuer[];

export const NOW = 1_793_534_400; // 2026-11-01T12:00:00Z

/** The broker's attenuation, as policy evaluation takes it (no global lifetime cap, as fixtures run). */
export const narrow = narrowWithin(Number.POSITIVE_INFINITY);

/** A temporary policy directory, removed by `cleanup`. */
export async function tempDir(files: Record<string, string> = {}): Promise<{ dir: string; write: (name: string, text: string) => Promise<void>; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "policy-test-"));
  const write = (name: string, text: string): Promise<void> => writeFile(join(dir, name), text, "utf8");
  for (const [name, text] of Object.entries(files)) await write(name, text);
  return { dir, write, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function subject(overrides: Partial<WorkloadIdentity> = {}, claims: Record<string, unknown> = {}): VerifiedSubject {
  const identity: WorkloadIdentity = {
    issuer: "local-dev",
    iss: "http://localhost/dev",
    profile: "oidc",
    subject: "demo-workload",
    attributes: {},
    ...overrides,
  };
  return {
    identity,
    claims: { iss: identity.iss, sub: identity.subject, exp: NOW + 300, iat: NOW, ...claims },
    expiresAt: NOW + 300,
    issuedAt: NOW,
    tokenId: undefined,
    replayKey: undefined,
  };
}

export function request(overrides: Partial<RequestContext> = {}): RequestContext {
  return {
    audiences: [],
    resources: [],
    scopes: [],
    requestedTokenType: "access_token",
    requestedLifetimeSeconds: undefined,
    clientAddress: "127.0.0.1",
    now: NOW,
    ...overrides,
  };
}

/** A policy file's text; `grantExtra` lines (indented two spaces) are appended inside `grant:`. */
export function policyYaml(options: {
  id: string;
  issuer?: string;
  condition?: string;
  /** Defaults to `wl/<id>`; null leaves it out (for workload_id_expr in `grantExtra`). */
  workloadId?: string | null;
  audiences?: string[];
  scopes?: string[];
  maxLifetime?: string;
  tokenTypes?: string[];
  grantExtra?: string;
  /** `owner:` and `description:` lines, when given. */
  owner?: string;
  description?: string;
}): string {
  const lines = [
    `id: ${options.id}`,
    ...(options.owner === undefined ? [] : [`owner: ${JSON.stringify(options.owner)}`]),
    ...(options.description === undefined ? [] : [`description: ${JSON.stringify(options.description)}`]),
    `issuer: ${options.issuer ?? "local-dev"}`,
    `condition: ${JSON.stringify(options.condition ?? "true")}`,
    "grant:",
    ...(options.workloadId === null ? [] : [`  workload_id: ${options.workloadId ?? `wl/${options.id}`}`]),
    `  audiences: ${JSON.stringify(options.audiences ?? ["https://a.example.com"])}`,
    `  scopes: ${JSON.stringify(options.scopes ?? ["read", "write"])}`,
    `  max_lifetime: ${options.maxLifetime ?? "10m"}`,
    `  token_types: ${JSON.stringify(options.tokenTypes ?? ["access_token"])}`,
  ];
  if (options.grantExtra !== undefined) lines.push(options.grantExtra);
  return `${lines.join("\n")}\n`;
}
