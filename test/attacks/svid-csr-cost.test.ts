/**
 * What an unauthenticated caller can make /svid/x509 do, through the whole broker in-process (buildBroker, app.request()): a CSR whose
 * RSA key would make signature checking slow is refused from its SubjectPublicKeyInfo, and the
 * subject token is verified before any CSR signature work, while a bad CSR still does not use up a
 * single-use subject token.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bitString, DER_NULL, oid, sequence, tlv, unsignedInteger } from "../../src/credentials/x509/der-writer.js";
import { encodeForm, startInProcessBroker, TOKEN_TYPES, type InProcessBroker, type BrokerResponse } from "../support/in-process-broker.js";
import { kubernetesClaims, type TestIssuer } from "../support/test-issuer.js";
import { expectRefusal } from "../support/refusal.js";
import { verifiedTokenCacheLookups } from "../support/attack-helpers.js";
import { makeCsr, openssl, scratch } from "../support/svid-harness.js";

const TRUST_DOMAIN = "cost.svid.test";

let fx: InProcessBroker;
let once: TestIssuer;
let tmp: Awaited<ReturnType<typeof scratch>>;

const svidGrant = (issuer: string) => ({
  id: `svid-${issuer}`,
  issuer,
  condition: 'identity.subject.startsWith("system:serviceaccount:payments:")',
  grant: {
    workload_id: `svid/${issuer}`,
    spiffe_id: `spiffe://${TRUST_DOMAIN}/ns/payments/sa/ledger`,
    audiences: ["https://ledger-db.example.com"],
    max_lifetime: "10m",
    token_types: ["x509_svid"],
  },
});

beforeAll(async () => {
  tmp = await scratch();
  fx = await startInProcessBroker({
    env: { BROKER_TRUST_DOMAIN: TRUST_DOMAIN },
    extraIssuers: 1,
    extraEntries: ([issuer]) => [
      { id: "once", issuer: issuer?.url ?? "", profile: "oidc", keys: { jwks_uri: issuer?.jwksUrl ?? "" }, algorithms: ["ES256"], replay_protection: true },
    ],
    // The fixture's own Kubernetes policy (first by file name) grants no SVID: these come first.
    policies: { "0-svid-kubernetes.policy.yaml": svidGrant("kubernetes"), "0-svid-once.policy.yaml": svidGrant("once") },
  });
  once = fx.extra[0] as TestIssuer;
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await tmp?.close();
});

function svid(subjectToken: string, csrPem: string): Promise<BrokerResponse> {
  return fx.request("/svid/x509", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: encodeForm({ subject_token: subjectToken, subject_token_type: TOKEN_TYPES.jwt, csr: csrPem }),
  });
}

/** Random signature bytes that are a number below any modulus of that size, so verification really runs. */
function belowModulus(bytes: number): Buffer {
  const signature = randomBytes(bytes);
  signature[0] = 0x01;
  return signature;
}

const pemOf = (der: Buffer): string =>
  `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString("base64").match(/.{1,64}/g)?.join("\n")}\n-----END CERTIFICATE REQUEST-----\n`;

/**
 * A CSR by hand: an RSA modulus (default: a real RSA-2048 one) with the given public exponent
 * (hex), and random signature bytes, as an attacker who wants verification to be slow would send it.
 */
function rsaCsrWithExponent(exponentHex: string, modulusHex?: string): string {
  const { publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const n = modulusHex ?? Buffer.from(publicKey.export({ format: "jwk" }).n ?? "", "base64url").toString("hex");
  const rsaPublicKey = sequence(unsignedInteger(n), unsignedInteger(exponentHex));
  const spki = sequence(sequence(oid("1.2.840.113549.1.1.1"), DER_NULL), bitString(rsaPublicKey));
  const info = sequence(unsignedInteger("00"), sequence(), spki, tlv(0xa0));
  return pemOf(sequence(info, sequence(oid("1.2.840.113549.1.1.11"), DER_NULL), bitString(belowModulus(n.length / 2))));
}

/** A 3,000-bit odd exponent under a 3,072-bit modulus: verifying one signature with it costs ~8 ms of CPU. */
const HUGE_EXPONENT = `c${randomBytes(374).toString("hex")}1`;
/** A made-up 3,072-bit modulus (no primes needed: the key is refused before anything uses it). */
const MODULUS_3072 = `c${randomBytes(383).toString("hex")}1`;

describe("/svid/x509: CSR work an unauthenticated caller can cause", () => {
  it("refuses an RSA key with a huge public exponent by its exponent, before any signature work", async () => {
    const token = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }));
    const started = process.hrtime.bigint();
    const res = await svid(token, rsaCsrWithExponent(HUGE_EXPONENT, MODULUS_3072));
    expectRefusal(res, { status: 400, error: "invalid_request", description: /^csr RSA key exponent must be 65537$/ });
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(2_000);
  });

  it("refuses an RSA key with exponent 3 (a real, correctly signed CSR), and RSA above 4096 bits", async () => {
    const token = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }));
    const e3 = await openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-pkeyopt", "rsa_keygen_pubexp:3", "-out", `${tmp.dir}/e3.key`]);
    expect(e3.code, e3.stderr).toBe(0);
    const csr = await openssl(["req", "-new", "-key", `${tmp.dir}/e3.key`, "-subj", "/"]);
    expectRefusal(await svid(token, csr.stdout), { status: 400, error: "invalid_request", description: /^csr RSA key exponent must be 65537$/ });
    // A 6,144-bit modulus (made up: no key generation needed to be refused for its size).
    const modulus6144 = `c${randomBytes(767).toString("hex")}1`;
    expectRefusal(await svid(token, rsaCsrWithExponent("010001", modulus6144)), { status: 400, error: "invalid_request", description: /^csr RSA keys must have 2048 to 4096 bits$/ });
  });

  it("verifies the subject token before the CSR's signature: a bad token with a badly signed CSR is refused for its token", async () => {
    const good = await makeCsr(tmp.dir);
    const der = Buffer.from(good.pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
    const forged = `${(await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }))).slice(0, -4)}AAAA`;
    expectRefusal(await svid(forged, pemOf(der)), { status: 400, error: "invalid_request", description: /^subject_token signature is invalid$/ });
    // With a good token the same CSR is refused for its signature.
    const token = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }));
    expectRefusal(await svid(token, pemOf(der)), { status: 400, error: "invalid_request", description: /^csr signature does not verify/ });
  });

  it("a CSR that fails its signature check does not use up a single-use subject token", async () => {
    const token = await once.mint({ sub: "system:serviceaccount:payments:ledger" });
    const good = await makeCsr(tmp.dir);
    const der = Buffer.from(good.pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
    der[der.length - 1] = (der[der.length - 1] ?? 0) ^ 0x01;
    expectRefusal(await svid(token, pemOf(der)), { status: 400, error: "invalid_request", description: /^csr signature does not verify/ });
    const issued = await svid(token, good.pem);
    expect(issued.status, issued.text).toBe(200);
    // The third presentation is answered by the verified-token cache; the single-use claim is not.
    const before = await verifiedTokenCacheLookups(fx);
    expectRefusal(await svid(token, good.pem), { status: 400, error: "invalid_request", description: /^subject_token was already used$/ });
    expect((await verifiedTokenCacheLookups(fx)).hit, "the token was answered by the verified-token cache").toBe(before.hit + 1);
  });
});
