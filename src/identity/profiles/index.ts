import type { ProfileName } from "../types.js";
import { GITHUB_ACTIONS_ATTRIBUTES, githubActionsProfile } from "./github-actions.js";
import { GITLAB_CI_ATTRIBUTES, gitlabCiProfile } from "./gitlab-ci.js";
import { KUBERNETES_ATTRIBUTES, kubernetesProfile } from "./kubernetes.js";
import { OIDC_ATTRIBUTES, oidcProfile } from "./oidc.js";
import type { Profile } from "./profile.js";
import { SPIFFE_ATTRIBUTES, spiffeProfile } from "./spiffe.js";

/** Every profile, by the name issuers.yaml uses. */
export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  "github-actions": githubActionsProfile,
  "gitlab-ci": gitlabCiProfile,
  kubernetes: kubernetesProfile,
  spiffe: spiffeProfile,
  oidc: oidcProfile,
};

/**
 * The attributes each profile can produce: `identity.attributes` of a policy is type-checked
 * against its issuer's list, so a misspelt attribute is a load error instead of a silent deny.
 */
export const PROFILE_ATTRIBUTES: Readonly<Record<ProfileName, readonly string[]>> = {
  "github-actions": GITHUB_ACTIONS_ATTRIBUTES,
  "gitlab-ci": GITLAB_CI_ATTRIBUTES,
  kubernetes: KUBERNETES_ATTRIBUTES,
  spiffe: SPIFFE_ATTRIBUTES,
  oidc: OIDC_ATTRIBUTES,
};
