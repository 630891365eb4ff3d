import { describe, expect, it } from "vitest";
import { PROFILES } from "../../src/identity/profiles/index.js";
import type { ProfileResult } from "../../src/identity/profiles/profile.js";
import { githubActionsClaims, gitlabCiClaims, kubernetesClaims, spiffeClaims } from "../support/test-issuer.js";

function attributes(result: ProfileResult): Readonly<Record<string, string>> {
  if (!result.ok) throw new Error(`expected acceptance, got: ${result.reason}`);
  return result.attributes;
}
function reason(result: ProfileResult): string {
  if (result.ok) throw new Error("expected rejection");
  return result.reason;
}

describe("github-actions profile", () => {
  const github = PROFILES["github-actions"];

  it("parses the classic sub format and exposes immutable ids", () => {
    const attrs = attributes(github(githubActionsClaims({ context: "environment:prod" }), {}));
    expect(attrs).toMatchObject({
      repository: "octo-org/octo-repo",
      repository_id: "123456",
      repository_owner: "octo-org",
      repository_owner_id: "7890",
      sub_format: "classic",
      sub_context: "environment:prod",
      actor_id: "583231",
      run_attempt: "1",
    });
  });

  it("parses the 2026 immutable sub format", () => {
    const attrs = attributes(github(githubActionsClaims({ format: "immutable", context: "pull_request" }), {}));
    expect(attrs.sub_format).toBe("immutable");
    expect(attrs.sub_context).toBe("pull_request");
  });

  it("keeps colons inside the sub context", () => {
    const attrs = attributes(github(githubActionsClaims({ context: "ref:refs/heads/release:v1" }), {}));
    expect(attrs.sub_context).toBe("ref:refs/heads/release:v1");
  });

  it("normalises numeric ids given as numbers", () => {
    const attrs = attributes(github(githubActionsClaims({}, { repository_id: 123456, repository_owner_id: 7890 }), {}));
    expect(attrs.repository_id).toBe("123456");
    expect(attrs.repository_owner_id).toBe("7890");
  });

  it("rejects an immutable sub whose ids disagree with the id claims", () => {
    const repoMismatch = githubActionsClaims({ format: "immutable" }, { repository_id: "999" });
    expect(reason(github(repoMismatch, {}))).toMatch(/ids do not match/);
    const ownerMismatch = githubActionsClaims({ format: "immutable" }, { repository_owner_id: "1" });
    expect(reason(github(ownerMismatch, {}))).toMatch(/ids do not match/);
  });

  it("rejects a sub naming another repository", () => {
    expect(reason(github(githubActionsClaims({}, { repository: "evil/repo" }), {}))).toMatch(/different repository/);
  });

  it("requires repository_id, repository_owner_id and repository", () => {
    for (const missing of ["repository_id", "repository_owner_id", "repository"]) {
      expect(github(githubActionsClaims({}, { [missing]: undefined }), {}).ok).toBe(false);
    }
    expect(github(githubActionsClaims({}, { repository_id: "12abc" }), {}).ok).toBe(false);
  });

  it("accepts a customised sub template without a sub_context", () => {
    const attrs = attributes(github(githubActionsClaims({}, { sub: "repository_owner_id:7890:repository_id:123456" }), {}));
    expect(attrs.sub_format).toBe("custom");
    expect(attrs.sub_context).toBeUndefined();
  });

  it("only copies present claims, as strings", () => {
    const attrs = attributes(github(githubActionsClaims({}, { environment: undefined, head_ref: "feature" }), {}));
    expect(attrs.environment).toBeUndefined();
    expect(attrs.head_ref).toBe("feature");
    expect(Object.values(attrs).every((value) => typeof value === "string")).toBe(true);
  });
});

describe("gitlab-ci profile", () => {
  const gitlab = PROFILES["gitlab-ci"];

  it("exposes ids and stringifies booleans and numbers", () => {
    const attrs = attributes(gitlab(gitlabCiClaims({ ref_protected: true, environment_protected: false, project_id: 42 }), {}));
    expect(attrs).toMatchObject({ project_id: "42", namespace_id: "7", project_path: "my-group/my-project", ref_protected: "true", environment_protected: "false", runner_id: "5" });
  });

  it("requires project_id, namespace_id and project_path", () => {
    for (const missing of ["project_id", "namespace_id", "project_path"]) {
      expect(gitlab(gitlabCiClaims({ [missing]: undefined }), {}).ok).toBe(false);
    }
  });
});

describe("kubernetes profile", () => {
  const k8s = PROFILES.kubernetes;

  it("exposes namespace, service account and pod, but never node claims", () => {
    const attrs = attributes(k8s(kubernetesClaims(), {}));
    expect(attrs).toEqual({
      namespace: "payments",
      service_account: "api",
      service_account_uid: "4b2c6e1a-0000-4000-8000-000000000001",
      pod_name: "api-7d9f-abcde",
      pod_uid: "9a1b2c3d-0000-4000-8000-000000000002",
    });
  });

  it("works without a pod binding", () => {
    expect(attributes(k8s(kubernetesClaims({ pod: null }), {})).pod_name).toBeUndefined();
  });

  it("rejects a sub that does not match the service account", () => {
    expect(reason(k8s(kubernetesClaims({}, { sub: "system:serviceaccount:kube-system:admin" }), {}))).toMatch(/does not match/);
  });

  it("requires the kubernetes.io claim with namespace and service account uid", () => {
    expect(k8s({ sub: "system:serviceaccount:a:b" }, {}).ok).toBe(false);
    expect(k8s(kubernetesClaims({ serviceAccountUid: "" }), {}).ok).toBe(false);
  });
});

describe("spiffe profile", () => {
  const spiffe = PROFILES.spiffe;
  const withAud = (claims: Record<string, unknown>) => ({ ...claims, aud: ["https://broker.test"] });

  it("exposes spiffe_id, trust_domain and path", () => {
    expect(attributes(spiffe(withAud(spiffeClaims()), { typ: "JWT" }))).toEqual({
      spiffe_id: "spiffe://example.org/ns/prod/sa/api",
      trust_domain: "example.org",
      path: "/ns/prod/sa/api",
    });
  });

  it("accepts typ JOSE or no typ, refuses any other typ", () => {
    expect(spiffe(withAud(spiffeClaims()), { typ: "JOSE" }).ok).toBe(true);
    expect(spiffe(withAud(spiffeClaims()), {}).ok).toBe(true);
    expect(reason(spiffe(withAud(spiffeClaims()), { typ: "at+jwt" }))).toMatch(/typ/);
  });

  it("rejects an invalid SPIFFE ID or a trust-domain-only ID as sub", () => {
    expect(spiffe(withAud(spiffeClaims("spiffe://Example.org/x")), {}).ok).toBe(false);
    expect(spiffe(withAud(spiffeClaims("spiffe://example.org")), {}).ok).toBe(false);
  });

  it("requires aud", () => {
    expect(reason(spiffe(spiffeClaims(), {}))).toMatch(/aud/);
  });
});

describe("oidc profile", () => {
  const oidc = PROFILES.oidc;

  it("exposes the email only when it is verified", () => {
    expect(attributes(oidc({ sub: "u1", email: "a@example.com", email_verified: true }, {}))).toEqual({ subject: "u1", email: "a@example.com" });
    expect(attributes(oidc({ sub: "u1", email: "a@example.com", email_verified: "true" }, {}))).toEqual({ subject: "u1" });
    expect(attributes(oidc({ sub: "u1", email: "a@example.com" }, {}))).toEqual({ subject: "u1" });
  });
});
