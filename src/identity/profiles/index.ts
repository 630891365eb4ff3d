import type { ProfileName } from "../types.js";
import { githubActionsProfile } from "./github-actions.js";
import { gitlabCiProfile } from "./gitlab-ci.js";
import { kubernetesProfile } from "./kubernetes.js";
import { oidcProfile } from "./oidc.js";
import type { Profile } from "./profile.js";
import { spiffeProfile } from "./spiffe.js";


/** Every profile, by the name issuers.yaml uses. */
export const PROFILES: Readonly<Record<ProfileName, Profile>> = {
  "github-actions": githubActionsProfile,
  "gitlab-ci": gitlabCiProfile,
  kubernetes: kubernetesProfile,
  spiffe: spiffeProfile,
  oidc: oidcProfile,
};
