/**
 * The policy trace in the audit record of a denial, through the whole broker in-process: a
 * token_exchange and an svid_issuance denial name each evaluated policy, its outcome and the
 * failing part of its condition as written in the policy; an allowed request's record has no
 * trace; and nothing of the token (not the token, not a secret-looking claim value) reaches a log.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeForm, OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker } from "../support/in-process-broker.js";
import { expectRefusal } from "../support/refusal.js";
import { makeCsr, scratch } from "../support/svid-harness.js";
import { kubernetesClaims } from "../support/test-issuer.js";

let fx: InProcessBroker;
let tmp: Awaited<ReturnType<typeof scratch>>;

const grant = { workload_id: "oidc/traced", audiences: ["https://a.example.com"], max_lifetime: "5m" };

beforeAll(async () => {
  tmp = await scratch();
  fx = await startInProcessBroker({
    policies: {
      // Before the fixture's e2e-oidc: an allowed request is refused by this one first.
      "aa-oidc-first.policy.yaml": { id: "oidc-first", issuer: "oidc", condition: 'identity.subject == "first" && claims.stage == "one"', grant },
      "zz-oidc-key.policy.yaml": {
        id: "oidc-key",
        issuer: "oidc",
        condition: 'identity.subject == "nobody" && (claims.tier == "gold" && claims.api_key.startsWith("pk_")) && claims.region == "eu"',
        grant,
      },
      // The lookup errors with a message that quotes the claim's value (the key it did not find);
      // `&& false` keeps the whole condition false, so only the trace could carry that message.
      "zz-oidc-lookup.policy.yaml": { id: "oidc-lookup", issuer: "oidc", condition: 'claims[claims.api_key] == "x" && identity.subject == "somebody"', grant },
      "zz-oidc-mail.policy.yaml": { id: "oidc-mail", issuer: "oidc", condition: 'identity.subject == "nobody" && identity.attributes.email == "ops@example.com"', grant },
      "zz-oidc-scope.policy.yaml": { id: "oidc-scope", issuer: "oidc", condition: "true", grant: { ...grant, scopes: ["read"] } },
    },
  });
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await tmp?.close();
});

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const auditOf = (subjectToken: string) =>
  fx.broker
    .logRecords()
    .filter((record) => record.channel === "audit")
    .map((record) => record.audit as Record<string, unknown>)
    .filter((audit) => audit.subjectTokenSha256 === sha256(subjectToken));

describe("the audit record of a policy denial carries the policy trace", () => {
  it("token_exchange: every evaluated policy's outcome and the failing part of each false condition, never a value of the token", async () => {
    const secret = `sk_live_${randomBytes(18).toString("base64url")}`;
    const token = await fx.issuers.oidc.mint({ sub: "nobody", tier: "gold", api_key: secret, region: "eu" });
    expectRefusal(await fx.exchange({ ...fx.form(token), scope: "write" }), { status: 400, error: "invalid_scope" });
    const [record, ...more] = auditOf(token);
    expect(more).toEqual([]);
    expect(record).toMatchObject({ event: "token_exchange", decision: "deny", error: "invalid_scope" });
    expect(record?.policyTrace).toEqual([
      { policy: "oidc-first", outcome: "condition_false", failed: 'identity.subject == "first"', result: "false" },
      { policy: "e2e-oidc", outcome: "condition_false", failed: `identity.subject == "${OIDC_SUBJECT}"`, result: "false" },
      { policy: "oidc-key", outcome: "condition_false", failed: 'claims.api_key.startsWith("pk_")', result: "false" },
      { policy: "oidc-lookup", outcome: "condition_false", failed: 'claims[claims.api_key] == "x"', result: "error" },
      { policy: "oidc-mail", outcome: "condition_false", failed: 'identity.attributes.email == "ops@example.com"', result: "error" },
      { policy: "oidc-scope", outcome: "scope_not_granted" },
    ]);
    expect(record).not.toHaveProperty("policyTraceOmitted");
    // Not the token, not the secret claim, in any line the broker wrote.
    const written = fx.broker.output.join("\n");
    expect(written).toContain(sha256(token)); // the lines are there, and read
    expect(written).not.toContain(secret);
    expect(written).not.toContain(token.split(".")[1]);
  });

  it("an allowed request's record has no trace, even when an earlier policy refused it", async () => {
    const token = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT });
    const res = await fx.exchange({ ...fx.form(token), audience: "https://a.example.com" });
    expect(res.status, res.text).toBe(200);
    const [record] = auditOf(token);
    expect(record).toMatchObject({ decision: "allow", policy: "e2e-oidc", evaluated: ["oidc-first", "e2e-oidc"] });
    expect(record).not.toHaveProperty("policyTrace");
    expect(record).not.toHaveProperty("policyTraceOmitted");
  });

  it("a refusal that is not the policy's (an untrusted token) has no trace", async () => {
    const token = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, aud: "https://someone-else.example.com" });
    expectRefusal(await fx.exchange(fx.form(token)), { status: 400, error: "invalid_request" });
    const [record] = auditOf(token);
    expect(record).toMatchObject({ decision: "deny" });
    expect(record).not.toHaveProperty("policyTrace");
  });

  it("svid_issuance: the same trace", async () => {
    const token = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "intruder" }));
    const res = await fx.request("/svid/x509", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: encodeForm({ subject_token: token, subject_token_type: TOKEN_TYPES.jwt, csr: (await makeCsr(tmp.dir)).pem }),
    });
    expect(res.status, res.text).toBe(400);
    const [record] = auditOf(token);
    expect(record).toMatchObject({ event: "svid_issuance", decision: "deny", error: "unauthorized_client" });
    expect(record?.policyTrace).toEqual([
      { policy: "e2e-kubernetes", outcome: "condition_false", failed: 'identity.attributes.service_account == "api"', result: "false" },
    ]);
  });
});
