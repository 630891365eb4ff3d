import { accept, type Profile } from "./profile.js";

/** Every attribute this profile can produce (policies are type-checked against it). */
export const OIDC_ATTRIBUTES = ["subject", "email"] as const;

/** Generic OpenID Connect ID tokens: the subject, and the email only when the issuer verified it. */
export const oidcProfile: Profile = (claims) => {
  const attributes: Record<string, string> = { subject: typeof claims.sub === "string" ? claims.sub : "" };
  // OIDC Core §5.1: an unverified email is just something the user typed.
  if (claims.email_verified === true && typeof claims.email === "string" && claims.email !== "") {
    attributes.email = claims.email;
  }
  return accept(attributes);
};
