import { accept, numericId, pickAttributes, reject, type Profile } from "./profile.js";

/**
 * Claims copied as attributes when present. `user_id`/`user_login` name whoever triggered the
 * pipeline and `ref` may be any branch they can push: prefer project_id, namespace_id and
 * ref_protected in policies.
 */
const COPIED = [
  "namespace_path",
  "ref",
  "ref_type",
  "ref_protected",
  "ref_path",
  "pipeline_source",
  "pipeline_id",
  "job_id",
  "environment",
  "environment_protected",
  "deployment_tier",
  "ci_config_ref_uri",
  "ci_config_sha",
  "user_id",
  "user_login",
  "runner_id",
  "runner_environment",
] as const;

/** Every attribute this profile can produce (policies are type-checked against it). */
export const GITLAB_CI_ATTRIBUTES = [...COPIED, "project_id", "namespace_id", "project_path"] as const;

/** GitLab CI ID tokens (`id_tokens:` in .gitlab-ci.yml). */
export const gitlabCiProfile: Profile = (claims) => {
  const projectId = numericId(claims.project_id);
  const namespaceId = numericId(claims.namespace_id);
  if (projectId === undefined) return reject('"project_id" claim is missing or not a numeric id');
  if (namespaceId === undefined) return reject('"namespace_id" claim is missing or not a numeric id');
  if (typeof claims.project_path !== "string" || claims.project_path === "") return reject('"project_path" claim is missing');
  return accept({
    ...pickAttributes(claims, COPIED),
    project_id: projectId,
    namespace_id: namespaceId,
    project_path: claims.project_path,
  });
};
