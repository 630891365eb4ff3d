/** Grant fields for SVIDs: spiffe_id / spiffe_id_expr in the trust domain, dns_names, token_types. */
import { afterEach, describe, expect, it } from "vitest";
import { loadPolicySet, PolicyLoadError } from "../../src/policy/index.js";
import { policyYaml, request, subject, tempDir, narrow } from "../support/policy.js";

const TD = "policy.test";
let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function load(grantExtra: string, tokenTypes: string[] = ["access_token", "jwt", "x509_svid"]) {
  const dir = await tempDir({ "a.policy.yaml": policyYaml({ id: "a", tokenTypes, grantExtra }) });
  cleanup = dir.cleanup;
  return loadPolicySet(dir.dir, { knownIssuers: [{ id: "local-dev", profile: "oidc" }], trustDomain: TD });
}

async function loadError(grantExtra: string, tokenTypes?: string[]): Promise<string> {
  const error = await load(grantExtra, tokenTypes).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(PolicyLoadError);
  return (error as PolicyLoadError).lines.join("\n");
}

describe("SVID grant fields", () => {
  it("a literal SPIFFE ID in the trust domain, with DNS names, is granted", async () => {
    const set = await load(`  spiffe_id: spiffe://${TD}/wl/a\n  dns_names: [a.example.com]`);
    const decision = set.evaluate(subject(), request({ requestedTokenType: "x509_svid" }), narrow);
    if (!decision.allow) throw new Error(decision.details.join("; "));
    expect(decision.grant.spiffeId).toBe(`spiffe://${TD}/wl/a`);
    expect(decision.grant.dnsNames).toEqual(["a.example.com"]);
  });

  it.each([
    [`  spiffe_id: spiffe://other.test/wl/a`, /grant.spiffe_id: is not in the trust domain policy.test/],
    [`  spiffe_id: spiffe://${TD}`, /names the trust domain itself/],
    [`  spiffe_id: "spiffe://${TD}/a//b"`, /not a valid SPIFFE ID/],
    [`  spiffe_id: spiffe://${TD}/a\n  spiffe_id_expr: '"x"'`, /at most one of spiffe_id and spiffe_id_expr/],
    [`  dns_names: ["*.example.com"]\n  spiffe_id: spiffe://${TD}/a`, /dns_names.0: must be a lowercase DNS name/],
  ])("refused at load: %s", async (extra, message) => {
    expect(await loadError(extra)).toMatch(message);
  });

  it("jwt or x509_svid without a SPIFFE ID, and dns_names without x509_svid, are load errors", async () => {
    expect(await loadError("", ["access_token", "jwt"])).toMatch(/need spiffe_id or spiffe_id_expr/);
    expect(await loadError(`  spiffe_id: spiffe://${TD}/a\n  dns_names: [a.example.com]`, ["jwt"])).toMatch(/dns_names apply to X.509-SVIDs only/);
  });

  it("spiffe_id_expr starting with a literal outside the trust domain is a load error, with the column of the literal", async () => {
    const text = await loadError(`  spiffe_id_expr: '"spiffe://other.test/" + identity.subject'`);
    expect(text).toMatch(/^a\.policy\.yaml:10:20 \[a\] grant\.spiffe_id_expr: starts with "spiffe:\/\/other\.test\/", which is not in the trust domain policy\.test/m);
    expect(text).toContain(`\n      spiffe_id_expr: '"spiffe://other.test/" + identity.subject'\n${" ".repeat(4 + 19)}^`);
    // Literals joined before the first variable count together; a prefix that may still grow into the trust domain is left to run time.
    expect(await loadError(`  spiffe_id_expr: '"spiffe://" + "other.test/" + identity.subject'`)).toMatch(/starts with "spiffe:\/\/other\.test\/"/);
    await expect(load(`  spiffe_id_expr: '"spiffe://" + "${TD}/" + identity.subject'`)).resolves.toBeDefined();
  });

  it("spiffe_id_expr is checked when evaluated: outside the trust domain the policy does not match", async () => {
    // The trust domain comes from the token here, so only evaluation can tell.
    const set = await load(`  spiffe_id_expr: '"spiffe://" + claims.td + "/" + identity.subject'`);
    const decision = set.evaluate(subject({}, { td: "other.test" }), request({ requestedTokenType: "x509_svid" }), narrow);
    expect(decision.allow).toBe(false);
    if (!decision.allow) expect(decision.details.join(" ")).toMatch(/spiffe_id_expr gave no valid SPIFFE ID.*trust domain/);
    expect(set.evaluate(subject({}, { td: TD }), request({ requestedTokenType: "x509_svid" }), narrow).allow).toBe(true);
  });

  it("spiffe_id_expr computes the SPIFFE ID from the identity", async () => {
    const set = await load(`  spiffe_id_expr: '"spiffe://${TD}/sub/" + identity.subject'`);
    const decision = set.evaluate(subject(), request({ requestedTokenType: "jwt", audiences: ["https://a.example.com"] }), narrow);
    expect(decision.allow && decision.grant.spiffeId).toBe(`spiffe://${TD}/sub/demo-workload`);
  });
});
