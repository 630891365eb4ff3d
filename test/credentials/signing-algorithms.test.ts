/**
 * Broker signing keys of each algorithm (ES256, RS256, PS256): what keyset.json must record for
 * each key type, the JWKS entry it publishes, and signatures that jose and node:crypto verify by
 * RFC 7518's parameters (PS256: SHA-256, MGF1-SHA-256, salt 32). Then the rotation tooling makes
 * such keys and the file store loads them.
 */
import { constants, createPrivateKey, createPublicKey, generateKeyPairSync, verify } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { calculateJwkThumbprint, createLocalJWKSet, decodeProtectedHeader, jwtVerify } from "jose";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAccessTokenMinter } from "../../src/credentials/access-token.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { createJwtSvidMinter } from "../../src/credentials/jwt-svid.js";
import { initSigningKeys, listKeys, prepareNextKey } from "../../src/credentials/key-rotation.js";
import { readKeyset } from "../../src/credentials/keyset-document.js";
import { toSigningKey } from "../../src/credentials/signing-key.js";
import { ManualClock } from "../../src/lib/clock.js";
import type { BrokerSigningAlgorithm } from "../../src/protocol/broker-tokens.js";

const ISSUER = "https://broker.algorithms.test";
const NOW_MS = Date.UTC(2030, 0, 1);
const rsa = (modulusLength = 2048) => generateKeyPairSync("rsa", { modulusLength }).privateKey;
const ec = (namedCurve = "P-256") => generateKeyPairSync("ec", { namedCurve }).privateKey;
const input = Buffer.from("eyJhbGciOiJQUzI1NiJ9.eyJzdWIiOiJ3In0");

describe("a signing key knows its algorithm", () => {
  it("EC P-256 signs ES256, with or without a recorded alg; a recorded RSA alg is refused", async () => {
    const key = ec();
    expect((await toSigningKey(key)).alg).toBe("ES256");
    expect((await toSigningKey(key, "ES256")).alg).toBe("ES256");
    await expect(toSigningKey(key, "PS256")).rejects.toThrow("an EC P-256 key signs ES256, but keyset.json records alg PS256");
  });

  it("an RSA key needs its alg recorded: the key alone does not say RS256 or PS256", async () => {
    await expect(toSigningKey(rsa())).rejects.toThrow(/RSA signing key needs its alg \(RS256 or PS256\) recorded in keyset\.json/);
    await expect(toSigningKey(rsa(), "ES256")).rejects.toThrow(/an RSA key cannot sign ES256/);
  });

  it("refuses RSA below 2048 bits and every other key type", async () => {
    await expect(toSigningKey(rsa(1024), "RS256")).rejects.toThrow("RSA signing keys must have at least 2048 bits (RFC 7518 §3.3), this one has 1024");
    await expect(toSigningKey(ec("P-384"))).rejects.toThrow(/not EC secp384r1/);
    await expect(toSigningKey(generateKeyPairSync("ed25519").privateKey)).rejects.toThrow(/not ed25519/);
    const pssOnly = generateKeyPairSync("rsa-pss", { modulusLength: 2048 }).privateKey;
    await expect(toSigningKey(pssOnly, "PS256")).rejects.toThrow(/not rsa-pss/);
  });

  it.each(["RS256", "PS256"] as const)("%s publishes kty RSA, n, e, alg, use sig and the RFC 7638 kid, nothing private", async (alg) => {
    const privateKey = rsa();
    const key = await toSigningKey(privateKey, alg);
    const { n, e } = createPublicKey(privateKey).export({ format: "jwk" });
    expect(key.publicJwk).toEqual({ kty: "RSA", n, e, kid: key.kid, alg, use: "sig" });
    expect(key.kid).toBe(await calculateJwkThumbprint({ kty: "RSA", n, e }, "sha256"));
    expect(key.alg).toBe(alg);
  });
});

describe("signatures by RFC 7518's parameters", () => {
  it("RS256 is RSASSA-PKCS1-v1_5 with SHA-256: deterministic, and not a PSS signature", async () => {
    const privateKey = rsa();
    const key = await toSigningKey(privateKey, "RS256");
    const [first, second] = [Buffer.from(await key.sign(input)), Buffer.from(await key.sign(input))];
    expect(first.equals(second)).toBe(true);
    expect(verify("sha256", input, { key: createPublicKey(privateKey), padding: constants.RSA_PKCS1_PADDING }, first)).toBe(true);
    expect(verify("sha256", input, { key: createPublicKey(privateKey), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, first)).toBe(false);
  });

  it("PS256 is RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 bytes: randomised, and only that salt length verifies", async () => {
    const privateKey = rsa();
    const key = await toSigningKey(privateKey, "PS256");
    const [first, second] = [Buffer.from(await key.sign(input)), Buffer.from(await key.sign(input))];
    expect(first.equals(second)).toBe(false);
    const pss = (saltLength: number) => ({ key: createPublicKey(privateKey), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength });
    expect(verify("sha256", input, pss(32), first)).toBe(true);
    expect(verify("sha256", input, pss(20), first)).toBe(false);
    expect(verify("sha256", input, pss(64), first)).toBe(false);
    expect(verify("sha256", input, { key: createPublicKey(privateKey), padding: constants.RSA_PKCS1_PADDING }, first)).toBe(false);
  });

  it.each(["ES256", "RS256", "PS256"] as const)("a %s access token verifies with jose against the published key, and only as that algorithm", async (alg) => {
    const key = await toSigningKey(alg === "ES256" ? ec() : rsa(), alg);
    const keys = { activeKey: () => key, publishedKeys: () => [key.publicJwk], keysRevision: () => 1 };
    const clock = new ManualClock(NOW_MS);
    const { token } = await createAccessTokenMinter({ issuer: ISSUER, keys, clock }).mint({ subject: "w", audiences: ["https://api.test"], scopes: ["read"], lifetimeSeconds: 60, extraClaims: {} });
    expect(decodeProtectedHeader(token)).toEqual({ alg, typ: "at+jwt", kid: key.kid });
    const jwks = createLocalJWKSet({ keys: [{ ...key.publicJwk }] });
    const { payload } = await jwtVerify(token, jwks, { issuer: ISSUER, typ: "at+jwt", algorithms: [alg], currentDate: new Date(NOW_MS) });
    expect(payload.sub).toBe("w");
    const others = (["ES256", "RS256", "PS256"] as const).filter((other) => other !== alg);
    await expect(jwtVerify(token, jwks, { algorithms: others, currentDate: new Date(NOW_MS) })).rejects.toThrow(/"alg" \(Algorithm\) Header Parameter value not allowed/);
  });
});

describe("JWT-SVIDs with an RSA key", () => {
  it.each(["RS256", "PS256"] as const)("a %s JWT-SVID (JWT-SVID §3 allows it) verifies with jose against the published key", async (alg) => {
    const key = await toSigningKey(rsa(), alg);
    const keys = { activeKey: () => key, publishedKeys: () => [key.publicJwk], keysRevision: () => 1 };
    const { token } = await createJwtSvidMinter({ issuer: ISSUER, keys, clock: new ManualClock(NOW_MS) }).mint({
      spiffeId: "spiffe://example.org/w",
      audiences: ["https://api.test"],
      lifetimeSeconds: 60,
      extraClaims: {},
    });
    expect(decodeProtectedHeader(token)).toEqual({ alg, typ: "JWT", kid: key.kid });
    const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: [{ ...key.publicJwk }] }), { algorithms: [alg], audience: "https://api.test", currentDate: new Date(NOW_MS) });
    expect(payload.sub).toBe("spiffe://example.org/w");
  });
});

describe("broker keys with --alg: rotation tooling and the file store", () => {
  let dir: string;
  const clock = new ManualClock(NOW_MS);
  beforeEach(async () => {
    dir = join(await mkdtemp(join(tmpdir(), "broker-algs-")), "signing");
  });
  afterEach(() => rm(join(dir, ".."), { recursive: true, force: true }));

  it("init --alg PS256 --rsa-bits 3072 records the alg; the store signs PS256 with a 3072-bit key; list shows it", async () => {
    const first = await initSigningKeys(dir, { clock, alg: "PS256", rsaBits: 3072 });
    expect(first.alg).toBe("PS256");
    expect((await readKeyset(dir)).keys?.[first.name]).toMatchObject({ kid: first.kid, alg: "PS256" });
    const pem = await readFile(join(dir, `${first.name}.pem`), "utf8");
    expect(createPrivateKey(pem).asymmetricKeyDetails?.modulusLength).toBe(3072);
    const store = await FileKeyStore.load(dir);
    expect(store.activeKey()).toMatchObject({ kid: first.kid, alg: "PS256" });
    expect(store.publishedKeys()).toEqual([expect.objectContaining({ kty: "RSA", kid: first.kid, alg: "PS256", use: "sig" })]);
    expect(await listKeys(dir)).toEqual([expect.objectContaining({ name: first.name, kid: first.kid, alg: "PS256", state: "active" })]);
  });

  it("prepare --alg RS256 beside an ES256 key publishes both, each with its own alg", async () => {
    const first = await initSigningKeys(dir, { clock });
    const next = await prepareNextKey(dir, { clock, alg: "RS256" });
    const store = await FileKeyStore.load(dir);
    expect(store.activeKey().alg).toBe("ES256");
    const byKid = Object.fromEntries(store.publishedKeys().map((jwk) => [jwk.kid, `${jwk.kty} ${jwk.alg}`]));
    expect(byKid).toEqual({ [first.kid]: "EC ES256", [next.kid]: "RSA RS256" });
    expect((await listKeys(dir)).map((key) => `${key.state} ${key.alg}`)).toEqual(["active ES256", "next RS256"]);
  });

  it("refuses sizes it does not make, and --rsa-bits on an ES256 key", async () => {
    await expect(initSigningKeys(dir, { clock, alg: "RS256", rsaBits: 1024 })).rejects.toThrow("RSA key size must be one of 2048, 3072, 4096 bits");
    await expect(initSigningKeys(dir, { clock, alg: "ES256", rsaBits: 3072 })).rejects.toThrow(/--rsa-bits is for RS256 and PS256 keys/);
  });

  it("a keyset whose RSA key lost its alg does not load, with the file and the reason; an older EC keyset without alg still loads", async () => {
    const rsaKey = await initSigningKeys(dir, { clock, alg: "RS256" as BrokerSigningAlgorithm });
    const keyset = await readKeyset(dir);
    const { alg: _alg, ...withoutAlg } = keyset.keys?.[rsaKey.name] ?? {};
    await writeFile(join(dir, "keyset.json"), JSON.stringify({ ...keyset, keys: { [rsaKey.name]: withoutAlg } }));
    await expect(FileKeyStore.load(dir)).rejects.toThrow(`${join(dir, `${rsaKey.name}.pem`)}: an RSA signing key needs its alg (RS256 or PS256) recorded in keyset.json`);
    expect((await listKeys(dir))[0]?.kid).toMatch(/^\(unusable: \S+\.pem: an RSA signing key needs its alg/);

    await rm(dir, { recursive: true });
    const ecKey = await initSigningKeys(dir, { clock });
    await writeFile(join(dir, "keyset.json"), JSON.stringify({ active: ecKey.name, keys: { [ecKey.name]: { kid: ecKey.kid } } }));
    expect((await FileKeyStore.load(dir)).activeKey()).toMatchObject({ kid: ecKey.kid, alg: "ES256" });
  });

  it("a keyset recording an alg outside ES256, RS256, PS256 is refused by the schema", async () => {
    const key = await initSigningKeys(dir, { clock });
    await writeFile(join(dir, "keyset.json"), JSON.stringify({ active: key.name, keys: { [key.name]: { alg: "HS256" } } }));
    await expect(FileKeyStore.load(dir)).rejects.toThrow(/keys\.key-[^:]+\.alg: Invalid option: expected one of "ES256"\|"RS256"\|"PS256"/);
  });
});
