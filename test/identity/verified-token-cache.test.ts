import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { TokenVerifier } from "../../src/identity/token-verifier.js";
import { VerifiedTokenCache } from "../../src/identity/verified-token-cache.js";
import type { VerifiedSubject } from "../../src/identity/types.js";
import type { ManualClock } from "../../src/lib/clock.js";
import { startTestIssuer, type TestIssuer } from "../support/test-issuer.js";
import { BROKER, T0, brokerError, issuerConfig, manualClock, verifierFor } from "../support/identity.js";

const SECOND = 1000;

/**
 * The verified-token cache reuses a successful verification of the very same token, from the
 * token's second verification on (the doorkeeper: the first only remembers the digest). Each case
 * checks that a hit is never more lenient than a fresh verification: it lapses with time claims,
 * with the TTL, and as soon as the issuer's key set changes. `admitted` counts the verifications
 * the cache took in.
 */
describe("verified-token cache", () => {
  let clock: ManualClock;
  let issuer: TestIssuer;
  let lookups: boolean[];
  let admitted: number;

  beforeAll(async () => {
    clock = manualClock();
    issuer = await startTestIssuer({ clock, audience: BROKER });
  });
  afterAll(async () => {
    await issuer.close();
  });
  beforeEach(() => {
    clock.set(T0);
    lookups = [];
    admitted = 0;
    issuer.resetRequests();
  });

  async function verifier(options: { ttlSeconds?: number; maxEntries?: number; maxTokenAge?: string } = {}): Promise<TokenVerifier> {
    const config = await issuerConfig({
      id: "idp",
      issuer: issuer.url,
      keys: { jwks_uri: `${issuer.url}/jwks` },
      algorithms: ["ES256", "RS256"],
      ...(options.maxTokenAge ? { max_token_age: options.maxTokenAge } : {}),
    });
    return verifierFor([config], clock, {
      verifiedTokenCache: { ttlSeconds: options.ttlSeconds ?? 60, maxEntries: options.maxEntries ?? 100 },
      onCacheLookup: (hit) => lookups.push(hit),
      onCacheAdmission: () => (admitted += 1),
    });
  }

  it("verifies a token fully twice, caches it on the second verification, and answers the third from the cache", async () => {
    const v = await verifier();
    const token = await issuer.mint({ sub: "workload-a" });
    const first = await v.verify(token);
    expect(admitted).toBe(0);
    const second = await v.verify(token);
    expect(admitted).toBe(1);
    const third = await v.verify(token);
    expect(lookups).toEqual([false, false, true]);
    expect(second).not.toBe(first);
    expect(third).toBe(second);
    expect(third.identity.subject).toBe("workload-a");
    expect(admitted).toBe(1);
  });

  it("caches nothing of a token seen once: a stream of new tokens leaves only the doorkeeper's fingerprints", async () => {
    const v = await verifier({ maxEntries: 3 });
    for (let i = 0; i < 5; i++) await v.verify(await issuer.mint({ sub: `w${i}` }));
    expect(lookups).toEqual([false, false, false, false, false]);
    expect(admitted).toBe(0);
  });

  it("forgets a token pushed out of the doorkeeper: it must be verified twice again before it is cached", async () => {
    const v = await verifier({ maxEntries: 2 });
    const token = await issuer.mint({ sub: "early" });
    await v.verify(token);
    // Two newer tokens fill the doorkeeper's ring (capacity = maxEntries) and push the first out.
    for (const sub of ["w1", "w2"]) await v.verify(await issuer.mint({ sub }));
    await v.verify(token);
    expect(admitted).toBe(0);
    await v.verify(token);
    expect(admitted).toBe(1);
    await v.verify(token);
    expect(lookups).toEqual([false, false, false, false, false, true]);
  });

  it("hands out frozen results, so no caller can change what the next one sees", async () => {
    const v = await verifier();
    const token = await issuer.mint({ sub: "workload-a", groups: ["x"] });
    expect(Object.isFrozen(await v.verify(token))).toBe(false);
    const subject = await v.verify(token);
    expect(Object.isFrozen(subject)).toBe(true);
    expect(Object.isFrozen(subject.claims)).toBe(true);
    expect(Object.isFrozen(subject.claims.groups)).toBe(true);
    expect(Object.isFrozen(subject.identity.attributes)).toBe(true);
  });

  it("never caches a refusal: a bad token is checked (and refused) every time", async () => {
    const v = await verifier();
    const token = await issuer.mint({ aud: "https://someone-else.example" });
    for (let i = 0; i < 3; i++) expect((await brokerError(v.verify(token))).code).toBe("invalid_request");
    expect(lookups).toEqual([false, false, false]);
    expect(admitted).toBe(0);
  });

  it("keys on the whole token: a changed signature is a different token", async () => {
    const v = await verifier();
    const token = await issuer.mint();
    await v.verify(token);
    await v.verify(token);
    // A character in the middle of the signature (the last one may carry only padding bits).
    const at = token.length - 20;
    const tampered = `${token.slice(0, at)}${token[at] === "A" ? "B" : "A"}${token.slice(at + 1)}`;
    expect((await brokerError(v.verify(tampered))).code).toBe("invalid_request");
    expect((await brokerError(v.verify(tampered))).code).toBe("invalid_request");
    expect(lookups).toEqual([false, false, false, false]);
  });

  it("stops answering from the cache at exp; a fresh verification then applies the clock skew, and refuses after it", async () => {
    const v = await verifier({ ttlSeconds: 300 });
    const token = await issuer.mint({ exp: Math.floor(T0 / 1000) + 30 });
    await v.verify(token);
    await v.verify(token);
    clock.advance(29 * SECOND);
    await expect(v.verify(token)).resolves.toBeDefined();
    clock.advance(1 * SECOND);
    // At exp the entry has lapsed; jose still accepts within the 60 s skew, and nothing is re-cached.
    await expect(v.verify(token)).resolves.toBeDefined();
    clock.advance(60 * SECOND);
    expect((await brokerError(v.verify(token))).description).toMatch(/expired/);
    expect(lookups).toEqual([false, false, true, false, false]);
  });

  it("stops answering from the cache at iat + max_token_age", async () => {
    const v = await verifier({ ttlSeconds: 300, maxTokenAge: "1m" });
    const token = await issuer.mint({ iat: Math.floor(T0 / 1000) - 50, exp: Math.floor(T0 / 1000) + 600 });
    await v.verify(token);
    await v.verify(token);
    clock.advance(9 * SECOND);
    await v.verify(token);
    clock.advance(1 * SECOND);
    await v.verify(token);
    clock.advance(61 * SECOND);
    expect((await brokerError(v.verify(token))).code).toBe("invalid_request");
    expect(lookups).toEqual([false, false, true, false, false]);
  });

  it("verifies afresh after the TTL", async () => {
    const v = await verifier({ ttlSeconds: 10 });
    const token = await issuer.mint();
    await v.verify(token);
    await v.verify(token);
    clock.advance(9 * SECOND);
    await v.verify(token);
    clock.advance(1 * SECOND);
    await v.verify(token);
    expect(lookups).toEqual([false, false, true, false]);
  });

  it("drops every verification of an issuer when its key set changes: a retired key stops vouching", async () => {
    const v = await verifier({ ttlSeconds: 300 });
    const old = await issuer.mint();
    await v.verify(old);
    await v.verify(old);
    expect(admitted).toBe(1);
    const previousKid = issuer.keys.find((key) => key.alg === "ES256")?.kid ?? "";
    // The issuer rotates and retires the old key; a token with the new kid makes the broker refetch.
    const next = await issuer.rotate({ alg: "ES256", retireOld: true });
    expect(next.kid).not.toBe(previousKid);
    clock.advance(31 * SECOND);
    await v.verify(await issuer.mint({}, { key: next }));
    expect(issuer.requests.jwks).toBe(2);
    // The old token was cached, but against the old key set: it is verified again, and refused.
    const error = await brokerError(v.verify(old));
    expect(error.description).toBe("subject_token signing key is not published by its issuer");
    expect(lookups).toEqual([false, false, false, false]);
  });

  it("holds at most maxEntries, evicting the oldest", async () => {
    const v = await verifier({ maxEntries: 2 });
    const tokens = await Promise.all([1, 2, 3].map((n) => issuer.mint({ sub: `w${n}` })));
    // One at a time, each twice: the doorkeeper (2 fingerprints) keeps the one being cached.
    for (const token of tokens) for (let i = 0; i < 2; i++) await v.verify(token);
    expect(admitted).toBe(3);
    lookups = [];
    await v.verify(tokens[2] ?? "");
    await v.verify(tokens[1] ?? "");
    await v.verify(tokens[0] ?? "");
    expect(lookups).toEqual([true, true, false]);
  });

  it("is off with a TTL of 0: every token is verified", async () => {
    const v = await verifier({ ttlSeconds: 0 });
    const token = await issuer.mint();
    await v.verify(token);
    await v.verify(token);
    await v.verify(token);
    expect(lookups).toEqual([]);
    expect(admitted).toBe(0);
  });
});

describe("VerifiedTokenCache", () => {
  const subject = (expiresAt: number): VerifiedSubject => ({
    identity: { issuer: "idp", iss: "https://idp", profile: "oidc", subject: "w", attributes: {} },
    claims: { sub: "w" },
    expiresAt,
    issuedAt: undefined,
    tokenId: undefined,
    replayKey: undefined,
  });
  const keys = { keySetVersion: () => 0, ready: () => true, refreshIfDue: () => undefined };
  const digestOf = (n: number): string => VerifiedTokenCache.digest(`token-${n}`);

  it("lets expired entries go as new ones arrive, so an idle cache shrinks", () => {
    const clock = manualClock();
    const cache = new VerifiedTokenCache({ ttlSeconds: 10, maxEntries: 100 }, clock);
    const now = Math.floor(T0 / 1000);
    for (let i = 0; i < 50; i++) for (let twice = 0; twice < 2; twice++) cache.admit(digestOf(i), subject(now + 3600), keys, undefined);
    expect(cache.size).toBe(50);
    clock.advance(10 * SECOND);
    cache.admit(digestOf(50), subject(now + 3600), keys, undefined);
    expect(cache.admit(digestOf(50), subject(now + 3600), keys, undefined)).toBe(true);
    expect(cache.size).toBe(1);
  });

  it("remembers at most maxEntries digests of tokens seen once, and caches none of them", () => {
    const clock = manualClock();
    const cache = new VerifiedTokenCache({ ttlSeconds: 10, maxEntries: 20 }, clock);
    const now = Math.floor(T0 / 1000);
    for (let i = 0; i < 500; i++) expect(cache.admit(digestOf(i), subject(now + 3600), keys, undefined)).toBe(false);
    expect(cache.size).toBe(0);
    expect(cache.remembered).toBe(20);
    // The last 20 are remembered: their second verification is cached; an older one's is not.
    expect(cache.admit(digestOf(499), subject(now + 3600), keys, undefined)).toBe(true);
    expect(cache.admit(digestOf(0), subject(now + 3600), keys, undefined)).toBe(false);
    expect(cache.size).toBe(1);
  });

  it("drops an entry whose issuer keys went stale", async () => {
    const clock = manualClock();
    const cache = new VerifiedTokenCache({ ttlSeconds: 10, maxEntries: 100 }, clock);
    let ready = true;
    const stamp = { keySetVersion: () => 0, ready: () => ready, refreshIfDue: () => undefined };
    expect(cache.admit(digestOf(1), subject(Math.floor(T0 / 1000) + 3600), stamp, undefined)).toBe(false);
    expect(await cache.get(digestOf(1))).toBeUndefined();
    expect(cache.admit(digestOf(1), subject(Math.floor(T0 / 1000) + 3600), stamp, undefined)).toBe(true);
    expect(await cache.get(digestOf(1))).toBeDefined();
    ready = false;
    expect(await cache.get(digestOf(1))).toBeUndefined();
  });
});
