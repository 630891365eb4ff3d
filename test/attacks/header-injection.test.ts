/**
 * Header key injection (RFC 8725 §3.10, RFC 7515 §4.1): a token must never choose its own key
 * or make the broker fetch a URL it names. jku/x5u/jwk/x5c/crit/b64/zip are refused before any
 * key lookup, and so is a JWE. The attacker's key server must receive zero requests.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { b64url, claimsFor, es256Jws, expectNeverAllowed, startCountingServer, type CountingServer } from "../support/attack-helpers.js";
import { expectRefusal } from "../support/refusal.js";
import { OIDC_SUBJECT, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { generateSigningKey, signCompact, type TestSigningKey } from "../support/test-issuer.js";

let fx: InProcessBroker;
let attackerServer: CountingServer;
let attackerKey: TestSigningKey;
const refusedTokens: string[] = [];

beforeAll(async () => {
  [fx, attackerServer, attackerKey] = await Promise.all([startInProcessBroker(), startCountingServer(), generateSigningKey("ES256", "attacker")]);
});
afterAll(async () => {
  await Promise.all([fx?.close(), attackerServer?.close()]);
});

const payload = () => JSON.stringify(claimsFor(fx.issuers.oidc.url, fx.url, { sub: OIDC_SUBJECT }));

async function refuse(token: string, description?: RegExp): Promise<void> {
  refusedTokens.push(token);
  const jwksBefore = fx.issuers.oidc.requests.total;
  const res = await fx.exchange({ ...fx.form(token), audience: "https://a.example.com" });
  expectRefusal(res, { status: 400, error: "invalid_request", description });
  // Refused before any key lookup: not even the real issuer is asked.
  expect(fx.issuers.oidc.requests.total).toBe(jwksBefore);
}

/** Signed by the attacker's key, kid pointing at its own material. */
const attackerSigned = (header: Record<string, unknown>) => signCompact(payload(), attackerKey, { header });
/** Signed by the real issuer's current ES256 key: a valid signature is no excuse either. */
const issuerSigned = (header: Record<string, unknown>) => fx.issuers.oidc.mintRaw(payload(), { header });

describe("header key injection", () => {
  it("control: the real issuer's token without extra header members is accepted", async () => {
    const res = await fx.exchange({ ...fx.form(await issuerSigned({})), audience: "https://a.example.com" });
    expect(res.status, res.text).toBe(200);
  });

  it("jku pointing at the attacker's JWKS (attacker-signed and issuer-signed)", async () => {
    await refuse(await attackerSigned({ jku: `${attackerServer.url}/jwks.json` }), /"jku" is not accepted/);
    await refuse(await issuerSigned({ jku: `${attackerServer.url}/jwks.json` }), /"jku" is not accepted/);
  });

  it("x5u pointing at the attacker's certificate URL", async () => {
    await refuse(await attackerSigned({ x5u: `${attackerServer.url}/cert.pem` }), /"x5u" is not accepted/);
    await refuse(await issuerSigned({ x5u: `${attackerServer.url}/cert.pem` }), /"x5u" is not accepted/);
  });

  it("an embedded jwk holding the attacker's public key", async () => {
    await refuse(await attackerSigned({ jwk: attackerKey.publicJwk }), /"jwk" is not accepted/);
    await refuse(await signCompact(payload(), attackerKey, { kid: null, header: { jwk: attackerKey.publicJwk } }), /"jwk" is not accepted/);
  });

  it("an embedded x5c chain", async () => {
    const fakeCert = Buffer.from("not really a certificate, but base64 DER-shaped").toString("base64");
    await refuse(await attackerSigned({ x5c: [fakeCert] }), /"x5c" is not accepted/);
  });

  /** Signed by hand with the real issuer's current ES256 key (jose will not sign these headers). */
  const handSigned = (header: Record<string, unknown>, payloadSegment = b64url(payload())) => {
    const key = fx.issuers.oidc.keys.find((candidate) => candidate.alg === "ES256") as TestSigningKey;
    return es256Jws({ alg: "ES256", typ: "JWT", kid: key.kid, ...header }, payloadSegment, key.privateKey);
  };

  it("control: a hand-signed token without extra header members is accepted", async () => {
    const res = await fx.exchange({ ...fx.form(await handSigned({})), audience: "https://a.example.com" });
    expect(res.status, res.text).toBe(200);
  });

  it("crit, naming an extension or a registered claim", async () => {
    await refuse(await handSigned({ crit: ["http://example.com/ext"], "http://example.com/ext": true }), /"crit" is not accepted/);
    await refuse(await handSigned({ crit: ["exp"] }), /"crit" is not accepted/);
  });

  it("b64: false (unencoded payload, RFC 7797), and b64 alone", async () => {
    await refuse(await handSigned({ b64: false, crit: ["b64"] }));
    await refuse(await handSigned({ b64: false }), /"b64" is not accepted/);
    await refuse(await issuerSigned({ b64: true }), /"b64" is not accepted/);
  });

  it("zip on a JWS", async () => {
    await refuse(await issuerSigned({ zip: "DEF" }), /"zip" is not accepted/);
  });

  it("a JWE (five segments), with and without a plausible protected header", async () => {
    const header = b64url({ alg: "RSA-OAEP-256", enc: "A256GCM", kid: fx.issuers.oidc.keys[1]?.kid });
    await refuse(`${header}.${b64url("key")}.${b64url("iv")}.${b64url(payload())}.${b64url("tag")}`, /JWE/);
    await refuse(`${header}.${b64url("key")}.${b64url("iv")}.${b64url("ct")}.${b64url("tag")}`, /JWE/);
  });

  it("enc in a three-segment token", async () => {
    await refuse(await issuerSigned({ enc: "A256GCM" }), /"enc" is not accepted/);
  });

  it("an oversized kid and a non-string kid", async () => {
    await refuse(await signCompact(payload(), fx.issuers.oidc.keys[0] as TestSigningKey, { kid: "k".repeat(300) }), /"kid" is invalid/);
    await refuse(await issuerSigned({ kid: 42 }), /"kid" is invalid/);
  });

  it("the attacker's key server received zero requests", async () => {
    expect(attackerServer.requests()).toBe(0);
  });

  it("none of the refused tokens was ever allowed in the audit log", async () => {
    await expectNeverAllowed(fx, refusedTokens);
  });
});
