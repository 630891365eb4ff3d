import { accept, numericId, pickAttributes, reject, type Profile } from "./profile.js";

/**
 * Claims copied as attributes when present. `actor`, `head_ref` (and with them `event_name`
 * for pull_request_target) are caller-influenced: anyone who can open a pull request or
 * trigger a workflow picks them. Policies should match the immutable ids instead.
 */
const COPIED = [
  "repository",
  "repository_owner",
  "ref",
  "ref_type",
  "sha",
  "workflow",
  "workflow_ref",
  "job_workflow_ref",
  "environment",
  "event_name",
  "run_id",
  "run_attempt",
  "runner_environment",
  "actor",
  "head_ref",
  "base_ref",
] as const;

/** Every attribute this profile can produce (policies are type-checked against it). */
export const GITHUB_ACTIONS_ATTRIBUTES = [...COPIED, "repository_id", "repository_owner_id", "actor_id", "sub_format", "sub_context"] as const;

/** GitHub's `sub`, parsed. */
export interface GithubSubject {
  readonly format: "classic" | "immutable";
  readonly owner: string;
  readonly repo: string;
  readonly ownerId?: string;
  readonly repoId?: string;
  /** What follows the repository: `ref:refs/heads/main`, `environment:prod`, `pull_request`... */
  readonly context: string;
}

// Owner names are letters, digits and dashes; repository names add "." and "_".
const CLASSIC = /^repo:([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+):(.+)$/s;
// Repositories created after 2026-07-15: `repo:OWNER@OWNERID/REPO@REPOID:<context>`.
const IMMUTABLE = /^repo:([A-Za-z0-9-]+)@([0-9]+)\/([A-Za-z0-9._-]+)@([0-9]+):(.+)$/s;

/** Parses a default-template GitHub `sub` in either format; undefined for anything else. */
function parseGithubSubject(sub: string): GithubSubject | undefined {
  const immutable = IMMUTABLE.exec(sub);
  if (immutable) {
    const [, owner = "", ownerId = "", repo = "", repoId = "", context = ""] = immutable;
    return { format: "immutable", owner, ownerId: numericId(ownerId) ?? ownerId, repo, repoId: numericId(repoId) ?? repoId, context };
  }
  const classic = CLASSIC.exec(sub);
  if (classic) {
    const [, owner = "", repo = "", context = ""] = classic;
    return { format: "classic", owner, repo, context };
  }
  return undefined;
}

/** GitHub Actions OIDC tokens (token.actions.githubusercontent.com). */
export const githubActionsProfile: Profile = (claims) => {
  const repositoryId = numericId(claims.repository_id);
  const ownerId = numericId(claims.repository_owner_id);
  if (repositoryId === undefined) return reject('"repository_id" claim is missing or not a numeric id');
  if (ownerId === undefined) return reject('"repository_owner_id" claim is missing or not a numeric id');
  if (typeof claims.repository !== "string" || !claims.repository.includes("/")) return reject('"repository" claim is missing');
  const attributes = pickAttributes(claims, COPIED);
  attributes.repository_id = repositoryId;
  attributes.repository_owner_id = ownerId;
  const actorId = numericId(claims.actor_id);
  if (actorId !== undefined) attributes.actor_id = actorId;

  const sub = typeof claims.sub === "string" ? claims.sub : "";
  const parsed = parseGithubSubject(sub);
  if (parsed === undefined) {
    // Organisations may customise the sub template; such subjects are kept whole in `subject`
    // but give no sub_context.
    attributes.sub_format = "custom";
    return accept(attributes);
  }
  // The sub and the claims come from the same signed token, so they must agree: a mismatch
  // means a forged or mis-built token, not a rename.
  if (`${parsed.owner}/${parsed.repo}`.toLowerCase() !== claims.repository.toLowerCase()) {
    return reject('"sub" names a different repository than the "repository" claim');
  }
  if (parsed.format === "immutable" && (parsed.ownerId !== ownerId || parsed.repoId !== repositoryId)) {
    return reject('"sub" ids do not match "repository_owner_id" / "repository_id"');
  }
  attributes.sub_format = parsed.format;
  attributes.sub_context = parsed.context;
  return accept(attributes);
};
