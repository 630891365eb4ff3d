/**
 * Algorithm confusion against the broker's own tokens when its JWKS mixes key types: an ES256 key
 * signs, an RS256 and a PS256 key are published beside it (a rotation between algorithms). A
 * token's `alg` must be the one the key its `kid` names was published with (RFC 8725 §3.1, §2.1):
 *
 *   - an ES256 header naming an RSA key, or PS256 naming the EC key;
 *   - RS256 naming the PS256 key, and PS256 naming the RS256 key, each signed by that very key
 *     with the other scheme (what a signing oracle of the wrong scheme would hand out);
 *   - HS256 with the RSA public key (PEM, or its JWK) as the HMAC secret; `none`.
 *
 * Each is refused by the broker itself (re-exchange through the real HTTP layer), by the resource
 * server's verifier, and by jose's jwtVerify against the JWKS the broker serves, allowing all three
 * broker algorithms. Controls: a token signed correctly with each published key is accepted by all three.
 */
import { createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { toSigningKey } from "../../src/credentials/signing-key.js";
import { createResourceAccessVerifier } from "../../src/dpop/resource-access.js";
import type { BrokerSigningAlgorithm } from "../../src/protocol/broker-tokens.js";
import { b64url, hs256Jws } from "../support/attack-helpers.js";
import { startInProcessBroker, TOKEN_TYPES, type InProcessBroker } from "../support/in-process-broker.js";
import { expectRefusal } from "../support/refusal.js";

const AUDIENCE = "https://a.example.com";
const BROKER_ALGS: BrokerSigningAlgorithm[] = ["ES256", "RS256", "PS256"];

interface PublishedKey {
  readonly name: string;
  readonly alg: BrokerSigningAlgorithm;
  readonly privateKey: KeyObject;
  kid: string;
}

const keys: Record<"es" | "rs" | "ps", PublishedKey> = {
  es: { name: "k-es", alg: "ES256", privateKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey, kid: "" },
  rs: { name: "k-rs", alg: "RS256", privateKey: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, kid: "" },
  ps: { name: "k-ps", alg: "PS256", privateKey: generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey, kid: "" },
};

/** The keys folder: the ES256 key signs, the RSA keys are published (as a rotation leaves them). */
async function writeKeys(keysDir: string): Promise<void> {
  const dir = join(keysDir, "signing");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const records: Record<string, { kid: string; alg: string }> = {};
  for (const key of Object.values(keys)) {
    key.kid = (await toSigningKey(key.privateKey, key.alg)).kid;
    records[key.name] = { kid: key.kid, alg: key.alg };
    await writeFile(join(dir, `${key.name}.pem`), key.privateKey.export({ format: "pem", type: "pkcs8" }), { mode: 0o600 });
  }
  await writeFile(join(dir, "keyset.json"), JSON.stringify({ active: keys.es.name, published: [keys.rs.name, keys.ps.name], keys: records }), { mode: 0o600 });
}

let fx: InProcessBroker;
let jwks: JSONWebKeySet;
let resourceServer: ReturnType<typeof createResourceAccessVerifier>;

beforeAll(async () => {
  fx = await startInProcessBroker({ prepareKeys: writeKeys });
  const res = await fx.fetch(`${fx.url}/.well-known/jwks.json`);
  jwks = (await res.json()) as JSONWebKeySet;
  resourceServer = createResourceAccessVerifier({ issuer: fx.url, audience: AUDIENCE, publicUrl: "https://api.test", keys: createLocalJWKSet(jwks) });
});
afterAll(async () => {
  await fx?.close();
});

function claims(): JWTPayload {
  const now = Math.floor(Date.now() / 1000);
  return { iss: fx.url, sub: "oidc/attenuation", aud: AUDIENCE, client_id: "oidc/attenuation", scope: "s1", iat: now - 5, nbf: now - 5, exp: now + 300, jti: `alg-${Math.random()}` };
}

/** A token whose header says `alg` and `kid`, signed by `key` with `alg`'s scheme (jose signs whatever it is told). */
const signed = (alg: string, kid: string, key: KeyObject): Promise<string> => new SignJWT(claims()).setProtectedHeader({ alg, typ: "at+jwt", kid }).sign(key);

const reExchange = (token: string) => fx.exchange({ ...fx.form(token, TOKEN_TYPES.accessToken), audience: AUDIENCE });

const resourceDecision = (token: string) => resourceServer({ authorization: `Bearer ${token}`, dpop: undefined, method: "GET", path: "/" });

const joseVerdict = (token: string) =>
  jwtVerify(token, createLocalJWKSet(jwks), { issuer: fx.url, audience: AUDIENCE, typ: "at+jwt", algorithms: BROKER_ALGS }).then(
    () => "accepted",
    (error: unknown) => (error as { code?: string }).code ?? String(error),
  );

/** Refused by the broker (re-exchange), the resource server and jose against the served JWKS. */
async function refusedEverywhere(token: string): Promise<void> {
  expectRefusal(await reExchange(token), { status: 400, error: "invalid_request", description: "subject_token is not a valid access token of this broker" });
  const decision = await resourceDecision(token);
  expect(decision.ok).toBe(false);
  if (!decision.ok) expect(decision.refusal.error).toBe("invalid_token");
  expect(await joseVerdict(token)).not.toBe("accepted");
}

describe("a JWKS with ES256, RS256 and PS256 keys: each key verifies only its own algorithm", () => {
  it("publishes each key with its own kty and alg, and lists the three algorithms in the metadata", async () => {
    expect(jwks.keys.map((jwk) => [jwk.kid, jwk.kty, jwk.alg, jwk.use])).toEqual([
      [keys.es.kid, "EC", "ES256", "sig"],
      [keys.rs.kid, "RSA", "RS256", "sig"],
      [keys.ps.kid, "RSA", "PS256", "sig"],
    ]);
    const metadata = (await (await fx.fetch(`${fx.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata.access_token_signing_alg_values_supported).toEqual(["ES256", "RS256", "PS256"]);
  });

  it.each(["es", "rs", "ps"] as const)("control: a token signed by the %s key with its own alg is accepted everywhere", async (which) => {
    const key = keys[which];
    const token = await signed(key.alg, key.kid, key.privateKey);
    const res = await reExchange(token);
    expect(res.status, res.text).toBe(200);
    expect((await resourceDecision(token)).ok).toBe(true);
    expect(await joseVerdict(token)).toBe("accepted");
  });

  it("an ES256 header naming an RSA key is refused (signed by an EC key the attacker holds)", async () => {
    const attacker = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
    await refusedEverywhere(await signed("ES256", keys.rs.kid, attacker));
    await refusedEverywhere(await signed("ES256", keys.ps.kid, attacker));
  });

  it("an RSA header naming the EC key is refused", async () => {
    await refusedEverywhere(await signed("PS256", keys.es.kid, keys.ps.privateKey));
    await refusedEverywhere(await signed("RS256", keys.es.kid, keys.rs.privateKey));
  });

  it("RS256 naming the PS256 key, signed by that key with PKCS#1 v1.5, is refused; and PS256 naming the RS256 key, signed with PSS", async () => {
    await refusedEverywhere(await signed("RS256", keys.ps.kid, keys.ps.privateKey));
    await refusedEverywhere(await signed("PS256", keys.rs.kid, keys.rs.privateKey));
  });

  it("HS256 with the RSA public key as the HMAC secret (PEM, JWK, modulus) is refused", async () => {
    const payload = JSON.stringify(claims());
    for (const key of [keys.rs, keys.ps]) {
      const jwk = jwks.keys.find((candidate) => candidate.kid === key.kid);
      const pem = createPublicKey(key.privateKey).export({ format: "pem", type: "spki" }).toString();
      for (const secret of [pem, JSON.stringify(jwk), Buffer.from(jwk?.n ?? "", "base64url")]) {
        await refusedEverywhere(hs256Jws({ alg: "HS256", typ: "at+jwt", kid: key.kid }, payload, secret));
      }
    }
  });

  it("alg none, with an RSA kid or none at all, is refused", async () => {
    const payload = b64url(claims());
    await refusedEverywhere(`${b64url({ alg: "none", typ: "at+jwt", kid: keys.ps.kid })}.${payload}.`);
    await refusedEverywhere(`${b64url({ alg: "none", typ: "at+jwt" })}.${payload}.`);
  });
});
