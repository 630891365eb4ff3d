/**
 * RFC 9449 §4.3 proof checking, one check failing at a time, against the real verifier with a real
 * MemoryRevocationStore for the jti claims and a ManualClock. Proofs are signed by jose with real
 * generated keys (helpers.ts).
 */
import { generateKeyPairSync } from "node:crypto";
import { calculateJwkThumbprint, exportJWK, SignJWT } from "jose";
import { beforeEach, describe, expect, it } from "vitest";
import { DPOP_ALGORITHMS } from "../../src/dpop/algorithms.js";
import { createDpopNonces, NONCE_WINDOW_SECONDS } from "../../src/dpop/nonce.js";
import { createDpopProofVerifier, replayKey, type DpopProofVerifier, type DpopRequest } from "../../src/dpop/verify-proof.js";
import { BrokerError } from "../../src/errors/broker-error.js";
import { ManualClock } from "../../src/lib/clock.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { guard } from "../../src/revocation/store-guard.js";
import { StoreUnavailableError } from "../../src/revocation/revocation-store.js";
import { ath, b64json, makeProof, proofKey, type ProofAlgorithm, type ProofKey } from "../support/dpop-proofs.js";

const NOW = 1_800_000_000;
const WINDOW = 60;
const TOKEN_URL = "https://broker.example.com/token";
const POST: DpopRequest = { method: "POST", url: TOKEN_URL };
const NONCE_SECRET = "dpop-nonce-secret-for-tests-0123456789abcdef";

let clock: ManualClock;
let store: MemoryRevocationStore;
let verifier: DpopProofVerifier;
let key: ProofKey;

function newVerifier(options: { nonces?: ReturnType<typeof createDpopNonces> } = {}): DpopProofVerifier {
  return createDpopProofVerifier({ clock, windowSeconds: WINDOW, claimOnce: (k, e) => guard(store.claimOnce(k, e)), ...options });
}

beforeEach(async () => {
  clock = new ManualClock(NOW * 1000);
  store = new MemoryRevocationStore(clock);
  verifier = newVerifier();
  key ??= await proofKey("ES256");
});

const proof = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, signWith: ProofKey = key) =>
  makeProof(signWith, { htm: "POST", htu: TOKEN_URL, ...claims }, { header, nowSeconds: NOW });

/** The BrokerError a verification throws (fails the test when it succeeds). */
async function refusal(value: string | Promise<string>, request: DpopRequest = POST, using: DpopProofVerifier = verifier): Promise<BrokerError> {
  const error = await using.verify(await value, request).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, "the proof was accepted").toBeInstanceOf(BrokerError);
  return error as BrokerError;
}

async function expectInvalid(value: string | Promise<string>, description: RegExp, request: DpopRequest = POST): Promise<void> {
  const error = await refusal(value, request);
  expect(error.code).toBe("invalid_dpop_proof");
  expect(error.description).toMatch(description);
}

describe("a valid proof", () => {
  it("is accepted and yields the RFC 7638 thumbprint of its key, its jti and iat", async () => {
    const result = await verifier.verify(await proof({ jti: "jti-1" }), POST);
    expect(result).toEqual({ jkt: await calculateJwkThumbprint(key.publicJwk, "sha256"), jti: "jti-1", iat: NOW });
    expect(result.jkt).toBe(key.jkt);
  });

  it.each(DPOP_ALGORITHMS.map((alg) => [alg]))("is accepted when signed with %s (every advertised algorithm)", async (alg) => {
    const signer = await proofKey(alg as ProofAlgorithm);
    await expect(verifier.verify(await proof({}, {}, signer), POST)).resolves.toMatchObject({ jkt: signer.jkt });
  });

  it("accepts typ application/dpop+jwt (RFC 7515 §4.1.9 allows the prefix)", async () => {
    await expect(verifier.verify(await proof({}, { typ: "application/dpop+jwt" }), POST)).resolves.toBeDefined();
  });
});

describe("check 1-2: one header, one well-formed JWT", () => {
  it("refuses two DPoP headers (joined with a comma by HTTP)", async () => {
    const one = await proof();
    await expectInvalid(`${one}, ${await proof()}`, /exactly one DPoP header/);
  });

  it("refuses something that is not a compact JWS: two segments, a JWE, junk, empty", async () => {
    const [h, p] = (await proof()).split(".");
    await expectInvalid(`${h}.${p}`, /not a compact JWS/);
    await expectInvalid(`${h}.${p}.a.b.c`, /not a compact JWS/);
    await expectInvalid("not a jwt", /not a compact JWS/);
    await expectInvalid("", /not a compact JWS/);
  });

  it("refuses an oversized proof before parsing it", async () => {
    await expectInvalid(`${"a".repeat(9000)}.b.c`, /too large/);
  });

  it("refuses a header that is not JSON", async () => {
    await expectInvalid(`${Buffer.from("not json").toString("base64url")}.${b64json({})}.sig`, /not a JSON object/);
  });
});

describe("check 4: typ", () => {
  it.each([["JWT"], ["at+jwt"], ["dpop"], [undefined]])("refuses typ %s", async (typ) => {
    await expectInvalid(proof({}, { typ }), /typ must be dpop\+jwt/);
  });
});

describe("check 5: alg", () => {
  it("refuses alg none (an unsigned proof)", async () => {
    const unsigned = `${b64json({ alg: "none", typ: "dpop+jwt", jwk: key.publicJwk })}.${b64json({ jti: "x", htm: "POST", htu: TOKEN_URL, iat: NOW })}.`;
    await expectInvalid(unsigned, /not a compact JWS|algorithm is not accepted/);
    await expectInvalid(`${unsigned}AAAA`, /algorithm is not accepted/);
  });

  it("refuses HS256, even with the secret in the jwk", async () => {
    const secret = new Uint8Array(32).fill(7);
    const jwk = { kty: "oct", k: Buffer.from(secret).toString("base64url") };
    const hmac = await new SignJWT({ jti: "x", htm: "POST", htu: TOKEN_URL, iat: NOW }).setProtectedHeader({ alg: "HS256", typ: "dpop+jwt", jwk }).sign(secret);
    await expectInvalid(hmac, /algorithm is not accepted/);
  });

  it("refuses algorithms outside the advertised list", async () => {
    const claims = b64json({ jti: "x", htm: "POST", htu: TOKEN_URL, iat: NOW });
    for (const alg of ["ES256K", "es256", "ML-DSA-44", "RSA-OAEP"]) {
      await expectInvalid(`${b64json({ alg, typ: "dpop+jwt", jwk: key.publicJwk })}.${claims}.AAAA`, /algorithm is not accepted/);
    }
  });
});

describe("check 6-7: the jwk is a public key and the signature verifies with it", () => {
  it("refuses a jwk holding the private key", async () => {
    const privateJwk = await exportJWK(key.privateKey);
    expect(privateJwk.d).toBeDefined();
    await expectInvalid(proof({}, { jwk: privateJwk }), /jwk must be a public key/);
  });

  it("refuses a proof without a jwk, or with a jwk of the wrong type for its alg", async () => {
    await expectInvalid(proof({}, { jwk: undefined }), /jwk must be a public key/);
    const rsa = await proofKey("RS256");
    await expectInvalid(proof({}, { jwk: rsa.publicJwk }), /jwk must be a public key/);
  });

  it("refuses an RSA key with a short modulus or an exponent other than 65537", async () => {
    const signer = await proofKey("RS256");
    const short = generateKeyPairSync("rsa", { modulusLength: 1024 }).publicKey;
    await expectInvalid(proof({}, { jwk: await exportJWK(short) }, signer), /jwk must be a public key/);
    const smallExponent = generateKeyPairSync("rsa", { modulusLength: 2048, publicExponent: 3 });
    const e3: ProofKey = { alg: "RS256", privateKey: smallExponent.privateKey, publicJwk: await exportJWK(smallExponent.publicKey), jkt: "" };
    await expectInvalid(proof({}, {}, e3), /jwk must be a public key/);
  });

  it("refuses a proof signed by another key than its jwk", async () => {
    const other = await proofKey("ES256");
    await expectInvalid(proof({}, { jwk: other.publicJwk }), /signature is invalid/);
  });

  it("refuses a proof whose payload was changed after signing", async () => {
    const [h, , s] = (await proof()).split(".");
    await expectInvalid(`${h}.${b64json({ jti: "x", htm: "POST", htu: TOKEN_URL, iat: NOW })}.${s}`, /signature is invalid/);
  });
});

describe("check 3: required claims", () => {
  it.each([["jti"], ["htm"], ["htu"], ["iat"]])("refuses a proof without %s", async (claim) => {
    await expectInvalid(proof({ [claim]: undefined }), new RegExp(`${claim} is missing`));
  });

  it("refuses a jti that is not a string or is unnecessarily large (RFC 9449 §11.1)", async () => {
    await expectInvalid(proof({ jti: 42 }), /jti is missing or too long/);
    await expectInvalid(proof({ jti: "" }), /jti is missing or too long/);
    await expectInvalid(proof({ jti: "j".repeat(257) }), /jti is missing or too long/);
  });

  it("refuses an iat that is not a number", async () => {
    await expectInvalid(proof({ iat: String(NOW) }), /iat is missing|claims are not acceptable/);
  });

  it("refuses a proof whose own exp has passed", async () => {
    await expectInvalid(proof({ exp: NOW - 1 }), /claims are not acceptable/);
  });
});

describe("check 8: htm", () => {
  it("refuses another method, and the method in another case (methods are case-sensitive)", async () => {
    await expectInvalid(proof({ htm: "GET" }), /htm does not match/);
    await expectInvalid(proof({ htm: "post" }), /htm does not match/);
  });
});

describe("check 9: htu, compared after RFC 3986 normalisation", () => {
  it.each([
    ["query", `${TOKEN_URL}?a=1`],
    ["fragment", `${TOKEN_URL}#frag`],
    ["case of scheme and host", "HTTPS://Broker.Example.COM/token"],
    ["default port", "https://broker.example.com:443/token"],
    ["percent-encoded unreserved characters", "https://broker.example.com/%74oken"],
    ["dot segments", "https://broker.example.com/a/../token"],
  ])("ignores the %s", async (_what, htu) => {
    await expect(verifier.verify(await proof({ htu }), POST)).resolves.toBeDefined();
  });

  it.each([
    ["a trailing slash", `${TOKEN_URL}/`],
    ["another path", "https://broker.example.com/introspect"],
    ["another case of the path", "https://broker.example.com/Token"],
    ["another host", "https://evil.example.com/token"],
    ["another scheme", "http://broker.example.com/token"],
    ["another port", "https://broker.example.com:8443/token"],
    ["user information", "https://user@broker.example.com/token"],
    ["a relative reference", "/token"],
    ["not a URI", "::::"],
    ["no authority, which WHATWG repairs", "https:broker.example.com/token"],
    ["backslashes, which WHATWG reads as slashes", "https:\\\\broker.example.com\\token"],
    ["a leading space, which WHATWG trims", ` ${TOKEN_URL}`],
  ])("refuses %s", async (_what, htu) => {
    await expectInvalid(proof({ htu }), /htu does not match/);
  });

  it("refuses, as a mismatch and not an internal error, a proof for a request path that is no RFC 3986 path", async () => {
    const odd: DpopRequest = { method: "POST", url: "https://broker.example.com/a|b" };
    await expectInvalid(proof({ htu: "https://broker.example.com/a|b" }), /htu does not match/, odd);
  });

  it("compares with the configured URL, whatever the request's Host was (a path prefix included)", async () => {
    const behindProxy: DpopRequest = { method: "POST", url: "https://edge.example.com/broker/token" };
    await expect(verifier.verify(await proof({ htu: "https://edge.example.com/broker/token" }), behindProxy)).resolves.toBeDefined();
    await expectInvalid(proof({ htu: "https://edge.example.com/token" }), /htu does not match/, behindProxy);
  });
});

describe("check 11: iat within the window", () => {
  it("accepts the edges of the window and refuses beyond them, either side", async () => {
    await expect(verifier.verify(await proof({ iat: NOW - WINDOW }), POST)).resolves.toBeDefined();
    await expect(verifier.verify(await proof({ iat: NOW + WINDOW }), POST)).resolves.toBeDefined();
    await expectInvalid(proof({ iat: NOW - WINDOW - 1 }), /too old/);
    await expectInvalid(proof({ iat: NOW + WINDOW + 1 }), /in the future/);
  });
});

describe("§11.1: replay", () => {
  it("refuses the same proof twice, and holds the claim exactly as long as the proof could be accepted", async () => {
    const once = await proof({ jti: "replayed" });
    await verifier.verify(once, POST);
    await expectInvalid(once, /already used/);
    // At iat + window the proof is still fresh: still refused as a replay.
    clock.advance(WINDOW * 1000);
    await expectInvalid(once, /already used/);
    // A second later it is too old, and only then is its claim released.
    clock.advance(1000);
    await expectInvalid(once, /too old/);
    expect(await store.claimOnce(replayKey(key.jkt, TOKEN_URL, "replayed"), NOW + 2 * WINDOW)).toBe(true);
  });

  it("scopes the jti to the key and the target URI: another key's proof with the same jti is not a replay", async () => {
    await verifier.verify(await proof({ jti: "shared" }), POST);
    const other = await proofKey("ES256");
    await expect(verifier.verify(await proof({ jti: "shared" }, {}, other), POST)).resolves.toBeDefined();
    const introspect: DpopRequest = { method: "POST", url: "https://broker.example.com/introspect" };
    await expect(verifier.verify(await proof({ jti: "shared", htu: introspect.url }), introspect)).resolves.toBeDefined();
  });

  it("claims a hashed key of its own namespace that no subject-token replay key can equal", async () => {
    const replay = replayKey(key.jkt, TOKEN_URL, "jti-x");
    expect(replay).toMatch(/^@dpop:[0-9a-f]{64}$/);
    // Subject-token keys are `<issuer id>:jti:<jti>` with ids of [a-z0-9-]: claiming one leaves the proof free.
    expect(await store.claimOnce("dpop:jti:jti-x", NOW + 60)).toBe(true);
    await expect(verifier.verify(await proof({ jti: "jti-x" }), POST)).resolves.toBeDefined();
  });

  it("fails closed with 503 when the store cannot answer", async () => {
    const down = createDpopProofVerifier({
      clock,
      windowSeconds: WINDOW,
      claimOnce: () => guard(Promise.reject(new StoreUnavailableError("down"))),
    });
    const error = await refusal(proof(), POST, down);
    expect(error.code).toBe("temporarily_unavailable");
  });
});

describe("check 10: server nonces (RFC 9449 §8)", () => {
  let nonces: ReturnType<typeof createDpopNonces>;
  let withNonces: DpopProofVerifier;
  beforeEach(() => {
    nonces = createDpopNonces({ secret: NONCE_SECRET, clock });
    withNonces = newVerifier({ nonces });
  });
  const expectUseNonce = async (value: Promise<string>, description: RegExp) => {
    const error = await refusal(value, POST, withNonces);
    expect(error.code).toBe("use_dpop_nonce");
    expect(error.description).toMatch(description);
  };

  it("accepts the current nonce and the previous window's", async () => {
    const first = nonces.current();
    await expect(withNonces.verify(await proof({ nonce: first }), POST)).resolves.toBeDefined();
    clock.advance(NONCE_WINDOW_SECONDS * 1000);
    expect(nonces.current()).not.toBe(first);
    // Proofs still need a fresh iat; only the nonce is a window old.
    const fresh = await makeProof(key, { htm: "POST", htu: TOKEN_URL, nonce: first }, { nowSeconds: NOW + NONCE_WINDOW_SECONDS });
    await expect(withNonces.verify(fresh, POST)).resolves.toBeDefined();
  });

  it("answers use_dpop_nonce to a proof without a nonce", async () => {
    await expectUseNonce(proof(), /requires a nonce/);
  });

  it("answers use_dpop_nonce to a stale nonce (two windows old)", async () => {
    const old = nonces.current();
    clock.advance(2 * NONCE_WINDOW_SECONDS * 1000);
    const fresh = makeProof(key, { htm: "POST", htu: TOKEN_URL, nonce: old }, { nowSeconds: NOW + 2 * NONCE_WINDOW_SECONDS });
    await expectUseNonce(fresh, /invalid or expired/);
  });

  it("answers use_dpop_nonce to a forged nonce, a future window's, and another secret's", async () => {
    const [window] = nonces.current().split(".");
    await expectUseNonce(proof({ nonce: `${window}.AAAAAAAAAAAAAAAAAAAAAA` }), /invalid or expired/);
    await expectUseNonce(proof({ nonce: "not-a-nonce" }), /invalid or expired/);
    await expectUseNonce(proof({ nonce: 12 }), /invalid or expired/);
    const other = createDpopNonces({ secret: "another-secret-another-secret-another-secret", clock });
    await expectUseNonce(proof({ nonce: other.current() }), /invalid or expired/);
    const future = createDpopNonces({ secret: NONCE_SECRET, clock: new ManualClock((NOW + 10 * NONCE_WINDOW_SECONDS) * 1000) });
    await expectUseNonce(proof({ nonce: future.current() }), /invalid or expired/);
  });

  it("mints nonces of the RFC 9449 §8.1 syntax, one per window (cached, the same on every replica)", () => {
    const nonce = nonces.current();
    expect(nonce).toMatch(/^[\x21\x23-\x5B\x5D-\x7E]+$/);
    expect(nonces.current()).toBe(nonce);
    expect(createDpopNonces({ secret: NONCE_SECRET, clock }).current()).toBe(nonce);
    expect(() => createDpopNonces({ secret: "short", clock })).toThrow(/at least 32/);
  });
});

describe("check 12: ath with an access token", () => {
  const access = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.sig";
  const withToken: DpopRequest = { ...POST, accessToken: access };

  it("accepts the hash of the access token presented", async () => {
    await expect(verifier.verify(await proof({ ath: ath(access) }), withToken)).resolves.toBeDefined();
  });

  it("refuses a proof without ath, or with the hash of another token", async () => {
    await expectInvalid(proof(), /ath is missing/, withToken);
    await expectInvalid(proof({ ath: ath(`${access}x`) }), /ath does not match/, withToken);
  });
});
