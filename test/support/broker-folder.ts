/**
 * The configuration folder a broker under test runs on, whether as a process (broker-fixture.ts)
 * or in-process (in-process-broker.ts): a temporary policy folder, trusted-issuers file and keys
 * folder, trusting five loopback test issuers (one per platform profile) that mint tokens for
 * the broker's audience, plus the environment a broker reads them from.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK } from "jose";
import { stringify } from "yaml";
import { startTestIssuer, type TestIssuer } from "./test-issuer.js";

export const GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const TOKEN_TYPES = {
  jwt: "urn:ietf:params:oauth:token-type:jwt",
  idToken: "urn:ietf:params:oauth:token-type:id_token",
  accessToken: "urn:ietf:params:oauth:token-type:access_token",
} as const;

/** What each test issuer's policy grants (tests compute expected results from these). */
export const GRANTS = {
  github: {
    workloadId: "github/7890/123456",
    audiences: ["https://deploy.example.com"],
    scopes: ["deploy:read", "deploy:write"],
    maxLifetime: 600,
  },
  gitlab: {
    workloadId: "gitlab/7/42",
    audiences: ["https://registry.example.com", "https://releases.example.com"],
    scopes: ["artifacts:push", "artifacts:pull"],
    maxLifetime: 900,
  },
  kubernetes: {
    workloadId: "k8s/payments/api",
    audiences: ["https://ledger-db.example.com"],
    scopes: ["ledger:read", "ledger:write"],
    maxLifetime: 1800,
  },
  spiffe: {
    workloadId: "spiffe://example.org/ns/prod/sa/api",
    audiences: ["https://mesh.example.com"],
    scopes: [] as string[],
    maxLifetime: 300,
  },
  oidc: {
    workloadId: "oidc/attenuation",
    audiences: ["https://a.example.com", "https://b.example.com", "https://c.example.com"],
    scopes: ["s1", "s2", "s3", "s4"],
    maxLifetime: 1200,
  },
} as const;

/** The subject the oidc policy grants to (any other subject of that issuer is denied). */
export const OIDC_SUBJECT = "oidc-workload";

const POLICIES: Record<string, unknown> = {
  "github.policy.yaml": {
    id: "e2e-github",
    issuer: "github-actions",
    condition:
      'identity.attributes.repository_id == "123456" && identity.attributes.repository_owner_id == "7890" && claims.ref == "refs/heads/main"',
    grant: {
      workload_id: GRANTS.github.workloadId,
      audiences: [...GRANTS.github.audiences],
      scopes: [...GRANTS.github.scopes],
      max_lifetime: "10m",
      claims: { repository: "identity.attributes.repository", run_id: "claims.run_id" },
    },
  },
  "gitlab.policy.yaml": {
    id: "e2e-gitlab",
    issuer: "gitlab-ci",
    condition: 'identity.attributes.project_id == "42" && claims.ref_protected == "true"',
    grant: {
      workload_id_expr: '"gitlab/" + identity.attributes.namespace_id + "/" + identity.attributes.project_id',
      audiences: [...GRANTS.gitlab.audiences],
      scopes: [...GRANTS.gitlab.scopes],
      max_lifetime: "15m",
      claims: { ref: "claims.ref" },
    },
  },
  "kubernetes.policy.yaml": {
    id: "e2e-kubernetes",
    issuer: "kubernetes",
    condition: 'identity.attributes.namespace == "payments" && identity.attributes.service_account == "api"',
    grant: {
      workload_id: GRANTS.kubernetes.workloadId,
      audiences: [...GRANTS.kubernetes.audiences],
      scopes: [...GRANTS.kubernetes.scopes],
      max_lifetime: "30m",
      claims: { pod: "identity.attributes.pod_name" },
    },
  },
  "spiffe.policy.yaml": {
    id: "e2e-spiffe",
    issuer: "spiffe",
    condition: 'identity.attributes.trust_domain == "example.org" && identity.attributes.path.startsWith("/ns/prod/")',
    grant: {
      workload_id_expr: "identity.subject",
      audiences: [...GRANTS.spiffe.audiences],
      max_lifetime: "5m",
    },
  },
  "oidc.policy.yaml": {
    id: "e2e-oidc",
    issuer: "oidc",
    condition: `identity.subject == "${OIDC_SUBJECT}"`,
    grant: {
      workload_id: GRANTS.oidc.workloadId,
      audiences: [...GRANTS.oidc.audiences],
      scopes: [...GRANTS.oidc.scopes],
      max_lifetime: "20m",
    },
  },
};

const NOW = "2030-01-01T00:00:00Z";

/** One case of the base fixtures: each base issuer's id is also its profile's name. */
const fixtureCase = (name: string, issuer: string, subject: string, rest: Record<string, unknown>) => ({
  name,
  now: NOW,
  identity: { issuer, profile: issuer, iss: `https://${issuer}.test`, subject, attributes: rest.attributes ?? {} },
  ...(rest.claims === undefined ? {} : { claims: rest.claims }),
  request: rest.request,
  expect: rest.expect,
});

/**
 * Fixtures for the five base policies, an allow and a deny each: a folder of only these passes
 * the fixtures gate (BROKER_POLICY_FIXTURES=required), as a production folder must.
 */
const BASE_FIXTURES = {
  policy_tests: [
    fixtureCase("github main branch", "github-actions", "repo:acme/app:ref:refs/heads/main", {
      attributes: { repository_id: "123456", repository_owner_id: "7890", repository: "acme/app" },
      claims: { ref: "refs/heads/main", run_id: "1" },
      request: { audiences: ["https://deploy.example.com"] },
      expect: { allow: true, policy: "e2e-github", workload_id: GRANTS.github.workloadId },
    }),
    fixtureCase("github other branch", "github-actions", "repo:acme/app:ref:refs/heads/dev", {
      attributes: { repository_id: "123456", repository_owner_id: "7890", repository: "acme/app" },
      claims: { ref: "refs/heads/dev", run_id: "1" },
      request: { audiences: ["https://deploy.example.com"] },
      expect: { allow: false, reason: "no_matching_policy" },
    }),
    fixtureCase("gitlab protected ref", "gitlab-ci", "project_path:acme/app", {
      attributes: { project_id: "42", namespace_id: "7" },
      claims: { ref_protected: "true", ref: "main" },
      request: { audiences: ["https://registry.example.com"] },
      expect: { allow: true, policy: "e2e-gitlab", workload_id: GRANTS.gitlab.workloadId },
    }),
    fixtureCase("gitlab unprotected ref", "gitlab-ci", "project_path:acme/app", {
      attributes: { project_id: "42", namespace_id: "7" },
      claims: { ref_protected: "false", ref: "dev" },
      request: { audiences: ["https://registry.example.com"] },
      expect: { allow: false, reason: "no_matching_policy" },
    }),
    fixtureCase("kubernetes payments api", "kubernetes", "system:serviceaccount:payments:api", {
      attributes: { namespace: "payments", service_account: "api", pod_name: "api-0" },
      request: { audiences: ["https://ledger-db.example.com"] },
      expect: { allow: true, policy: "e2e-kubernetes", workload_id: GRANTS.kubernetes.workloadId },
    }),
    fixtureCase("kubernetes other namespace", "kubernetes", "system:serviceaccount:web:api", {
      attributes: { namespace: "web", service_account: "api", pod_name: "api-0" },
      request: { audiences: ["https://ledger-db.example.com"] },
      expect: { allow: false, reason: "no_matching_policy" },
    }),
    fixtureCase("spiffe prod workload", "spiffe", GRANTS.spiffe.workloadId, {
      attributes: { trust_domain: "example.org", path: "/ns/prod/sa/api" },
      request: { audiences: ["https://mesh.example.com"] },
      expect: { allow: true, policy: "e2e-spiffe", workload_id: GRANTS.spiffe.workloadId },
    }),
    fixtureCase("spiffe dev workload", "spiffe", "spiffe://example.org/ns/dev/sa/api", {
      attributes: { trust_domain: "example.org", path: "/ns/dev/sa/api" },
      request: { audiences: ["https://mesh.example.com"] },
      expect: { allow: false, reason: "no_matching_policy" },
    }),
    fixtureCase("oidc workload", "oidc", OIDC_SUBJECT, {
      request: { audiences: ["https://a.example.com"] },
      expect: { allow: true, policy: "e2e-oidc", workload_id: GRANTS.oidc.workloadId },
    }),
    fixtureCase("oidc other subject", "oidc", "someone-else", {
      request: { audiences: ["https://a.example.com"] },
      expect: { allow: false, reason: "no_matching_policy" },
    }),
  ],
};

/** One issuers.yaml entry beyond the standard five (e.g. an unreachable JWKS). */
export type IssuerEntry = Record<string, unknown> & { readonly id: string; readonly issuer: string };

export interface BrokerFixtureOptions {
  /** Extra environment for the broker (defaults: watch off, 15m caps for tokens and SVIDs). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Writes the broker's keys before it starts (e.g. `initSigningKeys` for a NODE_ENV=production
   * start, which never generates or accepts development keys).
   */
  readonly prepareKeys?: (keysDir: string) => Promise<unknown>;
  /** Extra test issuers to start; `entries` builds their issuers.yaml entries. */
  readonly extraIssuers?: number;
  readonly extraEntries?: (extra: readonly TestIssuer[], brokerUrl: string) => Promise<IssuerEntry[]> | IssuerEntry[];
  /**
   * Extra or replacing policy files: file name → YAML document (object or text); or a function of
   * the broker's URL, for policies that grant the broker itself as audience. Without them the
   * folder holds the five base policies and their fixtures (base.test.yaml), and the broker runs
   * with the fixtures gate on (BROKER_POLICY_FIXTURES=required), as in production; with them,
   * whose fixtures the test does not write, the gate is off unless `env` turns it on.
   */
  readonly policies?: Readonly<Record<string, unknown>> | ((brokerUrl: string) => Readonly<Record<string, unknown>>);
}

/** The five profile issuers, by profile. */
export interface FixtureIssuers {
  readonly github: TestIssuer;
  readonly gitlab: TestIssuer;
  readonly kubernetes: TestIssuer;
  readonly spiffe: TestIssuer;
  readonly oidc: TestIssuer;
}

/** A written configuration folder and the running issuers it trusts. */
export interface BrokerFolder {
  readonly dir: string;
  readonly policyDir: string;
  readonly keysDir: string;
  readonly issuers: FixtureIssuers;
  readonly extra: readonly TestIssuer[];
  /** The broker's environment: issuer URL, folders, watch off, 15m caps, then the options' env. */
  readonly env: Readonly<Record<string, string>>;
  /** Writes (or replaces) a file in the policy folder. */
  writePolicy(name: string, content: unknown): Promise<void>;
  /** Every secret the broker or the issuers hold: PEM bodies and private JWK members. */
  privateKeyMaterial(): Promise<string[]>;
  /** Stops the issuers and removes the folder. */
  close(): Promise<void>;
}

/**
 * Starts the five profile issuers (and `extraIssuers`) for a broker at `url`, writes issuers.yaml,
 * the policies and the keys (`prepareKeys`), and returns the broker's environment over them.
 */
export async function prepareBrokerFolder(url: string, options: BrokerFixtureOptions = {}): Promise<BrokerFolder> {
  const dir = await mkdtemp(join(tmpdir(), "broker-e2e-"));
  const policyDir = join(dir, "policies");
  const keysDir = join(dir, "keys");
  await mkdir(policyDir);
  await mkdir(keysDir);
  const started: TestIssuer[] = [];
  const close = async () => {
    await Promise.all(started.map((issuer) => issuer.close()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const start = async () => {
      const issuer = await startTestIssuer({ audience: url });
      started.push(issuer);
      return issuer;
    };
    const [github, gitlab, kubernetes, spiffe, oidc] = [await start(), await start(), await start(), await start(), await start()] as const;
    const extra: TestIssuer[] = [];
    for (let i = 0; i < (options.extraIssuers ?? 0); i += 1) extra.push(await start());

    await writeFile(join(dir, "spiffe-jwks.json"), JSON.stringify(spiffe.jwks()));
    const entries: IssuerEntry[] = [
      { id: "github-actions", issuer: github.url, profile: "github-actions", keys: { discovery: true }, algorithms: ["RS256"], max_token_age: "10m" },
      { id: "gitlab-ci", issuer: gitlab.url, profile: "gitlab-ci", keys: { jwks_uri: gitlab.jwksUrl }, algorithms: ["RS256", "ES256"] },
      { id: "kubernetes", issuer: kubernetes.url, profile: "kubernetes", keys: { discovery: true }, algorithms: ["RS256", "ES256"] },
      { id: "spiffe", issuer: spiffe.url, profile: "spiffe", trust_domain: "example.org", keys: { jwks_file: "../spiffe-jwks.json" }, algorithms: ["ES256"] },
      {
        id: "oidc",
        issuer: oidc.url,
        profile: "oidc",
        keys: { discovery: true },
        algorithms: ["ES256", "RS256"],
        max_lifetime: "1h",
        max_token_age: "10m",
        clock_skew: "30s",
      },
      ...(options.extraEntries ? await options.extraEntries(extra, url) : []),
    ];
    await writeFile(join(policyDir, "issuers.yaml"), stringify({ issuers: entries }));
    const extraPolicies = typeof options.policies === "function" ? options.policies(url) : options.policies;
    for (const [name, doc] of Object.entries({ ...POLICIES, "base.test.yaml": BASE_FIXTURES, ...extraPolicies })) {
      await writeFile(join(policyDir, name), typeof doc === "string" ? doc : stringify(doc));
    }
    await options.prepareKeys?.(keysDir);
    return {
      dir,
      policyDir,
      keysDir,
      issuers: { github, gitlab, kubernetes, spiffe, oidc },
      extra,
      env: {
        BROKER_ISSUER_URL: url,
        BROKER_POLICY_DIR: policyDir,
        BROKER_KEYS_DIR: keysDir,
        BROKER_WATCH_POLICIES: "false",
        BROKER_MAX_TOKEN_LIFETIME: "15m",
        // A workload revocation lives max(token cap, SVID cap): the same 15m keeps its entries' bound.
        BROKER_SVID_MAX_LIFETIME: "15m",
        BROKER_POLICY_FIXTURES: extraPolicies === undefined ? "required" : "off",
        ...options.env,
      },
      writePolicy: (name, content) => writeFile(join(policyDir, name), typeof content === "string" ? content : stringify(content)),
      privateKeyMaterial: async () => [...(await pemBodies(keysDir)), ...(await issuerSecrets(started))],
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Base64 bodies of every PEM file under `dir` (the broker's signing and dev-issuer keys). */
async function pemBodies(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const text = await readFile(path, "utf8");
    for (const match of text.matchAll(/-----BEGIN [A-Z ]*PRIVATE KEY-----([\s\S]*?)-----END/g)) {
      // Every 64-character line of the body is itself a secret worth looking for.
      found.push(...(match[1] ?? "").split(/\s+/).filter((line) => line.length >= 32));
    }
    if (entry.name.endsWith(".json")) {
      found.push(...privateMembers(JSON.parse(text) as unknown));
    }
  }
  return found;
}

/** The private JWK members (d, p, q, …) of every test issuer key. */
async function issuerSecrets(issuers: readonly TestIssuer[]): Promise<string[]> {
  const found: string[] = [];
  for (const issuer of issuers) {
    for (const key of issuer.keys) found.push(...privateMembers(await exportJWK(key.privateKey)));
  }
  return found;
}

function privateMembers(value: unknown): string[] {
  if (typeof value !== "object" || value === null) return [];
  if (Array.isArray(value)) return value.flatMap(privateMembers);
  const record = value as Record<string, unknown>;
  const own = ["d", "p", "q", "dp", "dq", "qi", "k"].flatMap((name) => {
    const member = record[name];
    return typeof member === "string" && member.length >= 16 ? [member] : [];
  });
  return [...own, ...Object.values(record).flatMap(privateMembers)];
}
