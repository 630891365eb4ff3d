import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { compilePolicy, DEFAULT_TRUST_DOMAIN } from "./compile-policy.js";
import type { CompiledPolicy } from "./compile-policy.js";
import { evaluatePolicies } from "./evaluate.js";
import { policyFileSchema } from "./policy-schema.js";
import type { PolicySet } from "./types.js";
import { formatIssue, parseYaml, zodIssues } from "./yaml-source.js";
import type { SourceIssue } from "./yaml-source.js";

/** Policy files are `*.policy.yaml`; everything else in the directory belongs to someone else. */
export const POLICY_FILE_SUFFIX = ".policy.yaml";

/** One problem found while loading, located by file, policy id (when known) and field path. */
export interface PolicyLoadIssue {
  readonly file: string;
  readonly policyId: string | undefined;
  readonly path: string;
  readonly message: string;
}

/** Every problem in a policy directory at once, so an author fixes them in one pass. */
export class PolicyLoadError extends Error {
  readonly issues: readonly PolicyLoadIssue[];

  constructor(issues: readonly PolicyLoadIssue[]) {
    const lines = issues.map((issue) => formatIssue(issue.file, issue.policyId, issue));
    super(`policy set is invalid (${issues.length} ${issues.length === 1 ? "error" : "errors"}):\n  ${lines.join("\n  ")}`);
    this.name = "PolicyLoadError";
    this.issues = issues;
  }

  /** The issues as `file [id] path: message` lines. */
  get lines(): string[] {
    return this.issues.map((issue) => formatIssue(issue.file, issue.policyId, issue));
  }
}

export interface LoadPolicyOptions {
  /** Ids of the trusted issuers (issuers.yaml); a policy naming any other is refused. */
  readonly knownIssuers: readonly string[];
  /** SPIFFE trust domain every granted SPIFFE ID must lie in (BROKER_TRUST_DOMAIN); default broker.local. */
  readonly trustDomain?: string;
}

/**
 * Loads, validates and compiles every `*.policy.yaml` in `dir`, in sorted file-name order.
 * All-or-nothing: any problem in any file throws one {@link PolicyLoadError} listing them all,
 * so a broken set never half-loads. An empty directory gives a set that denies everything.
 */
export async function loadPolicySet(dir: string, options: LoadPolicyOptions): Promise<PolicySet> {
  const names = await listPolicyFiles(dir);
  const sources = await Promise.all(names.map(async (name) => ({ name, text: await readFile(join(dir, name), "utf8") })));

  const issues: PolicyLoadIssue[] = [];
  const policies: CompiledPolicy[] = [];
  const firstFileById = new Map<string, string>();
  const known = new Set(options.knownIssuers);

  for (const { name, text } of sources) {
    const fail = (policyId: string | undefined, found: readonly SourceIssue[]): void => {
      for (const issue of found) issues.push({ file: name, policyId, ...issue });
    };
    const yaml = parseYaml(text);
    if (!yaml.ok) {
      fail(undefined, yaml.issues);
      continue;
    }
    const rawId = idOf(yaml.value);
    const parsed = policyFileSchema.safeParse(yaml.value);
    const fileIssues: SourceIssue[] = parsed.success ? [] : zodIssues(parsed.error);

    if (rawId !== undefined) {
      const earlier = firstFileById.get(rawId);
      if (earlier === undefined) firstFileById.set(rawId, name);
      else fileIssues.push({ path: "id", message: `duplicate policy id, already defined in ${earlier}` });
    }
    const issuer = parsed.success ? parsed.data.issuer : undefined;
    if (issuer !== undefined && !known.has(issuer)) {
      fileIssues.push({ path: "issuer", message: `unknown issuer "${issuer}" (known: ${[...known].join(", ") || "none"})` });
    }
    if (parsed.success) {
      const compiled = compilePolicy(parsed.data, { trustDomain: options.trustDomain ?? DEFAULT_TRUST_DOMAIN });
      if (compiled.ok) policies.push(compiled.policy);
      else fileIssues.push(...compiled.issues);
    }
    fail(rawId, fileIssues);
  }

  if (issues.length > 0) throw new PolicyLoadError(issues);
  return createPolicySet(policies, versionOf(sources));
}

/** Wraps compiled policies as an immutable {@link PolicySet}. */
export function createPolicySet(policies: readonly CompiledPolicy[], version: string): PolicySet {
  const frozen = Object.freeze([...policies]);
  return Object.freeze({
    version,
    policyIds: Object.freeze(frozen.map((policy) => policy.id)),
    describe: () => frozen.map((policy) => policy.summary),
    evaluate: (subject, request, narrow) => evaluatePolicies(frozen, subject, request, narrow),
    delegate: (policyId, subject, request) => {
      const policy = frozen.find((candidate) => candidate.id === policyId);
      if (policy === undefined) return { allow: false, reason: "delegation_not_granted", detail: `policy ${policyId} is no longer loaded` };
      return policy.delegate(subject, request);
    },
    identify: (subject, request) => {
      for (const policy of frozen) {
        if (policy.issuer !== subject.identity.issuer) continue;
        const workloadId = policy.workloadOf(subject, request);
        if (workloadId !== undefined) return { policyId: policy.id, workloadId };
      }
      return undefined;
    },
  } satisfies PolicySet);
}

async function listPolicyFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    // A missing directory is a configuration mistake, not "no policies": say so instead of denying quietly.
    const message = error instanceof Error ? error.message : String(error);
    throw new PolicyLoadError([{ file: dir, policyId: undefined, path: "", message: `cannot read policy directory: ${message}` }]);
  }
  // Code-unit order, not locale order: the load order (and so the first match) must not depend on the machine.
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(POLICY_FILE_SUFFIX))
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The id as written, for error labels even when the rest of the file is invalid. */
function idOf(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || !("id" in value)) return undefined;
  return typeof value.id === "string" && value.id !== "" ? value.id : undefined;
}

/** sha256 over names and contents, length-prefixed so no two different sets can collide by concatenation. */
function versionOf(sources: readonly { name: string; text: string }[]): string {
  const hash = createHash("sha256");
  for (const { name, text } of sources) {
    for (const part of [name, text]) {
      hash.update(`${Buffer.byteLength(part, "utf8")}:`);
      hash.update(part, "utf8");
    }
  }
  return hash.digest("hex");
}
