/**
 * Signing keys inside a real SoftHSM2 token (test/support/softhsm.ts), with a real broker process
 * (BROKER_SIGNING_KEYS=pkcs11): the keys are generated inside the token and cannot leave it; the
 * broker's tokens verify with jose against its JWKS, through a rotation; a key destroyed
 * underneath the broker makes /token answer 503 with one log line and /readyz not ready.
 */
import { readdir, rename } from "node:fs/promises";
import { join } from "node:path";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activateNextKey, initSigningKeys, prepareNextKey, retireKey } from "../../src/credentials/key-rotation.js";
import { readKeyset } from "../../src/credentials/keyset-document.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { tokenKeyCustody } from "../../src/pkcs11/token-key-custody.js";
import { encodeForm, OIDC_SUBJECT, requestBroker, startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import type { BrokerProcess } from "../support/broker-process.js";
import { expectRefusal } from "../support/refusal.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";

const AUDIENCE = "https://a.example.com";
const clock = { now: () => Date.now() };
let token: SoftHsmToken;
let client: TokenClient;
let fx: BrokerFixture;
/** A broker started after the token's storage came back (the last test runs on it). */
let restarted: BrokerProcess;

beforeAll(async () => {
  token = createSoftHsmToken("e2e-signing");
  useSoftHsmEnv(token);
  // This process's own session on the token: what `broker keys` does, and the test's view inside it.
  client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin });
  fx = await startBrokerFixture({
    env: token.brokerEnv,
    prepareKeys: (keysDir) => initSigningKeys(join(keysDir, "signing"), { clock, custody: tokenKeyCustody(client) }),
  });
}, 60_000);

afterAll(async () => {
  await fx?.close();
  await client?.close();
  token?.remove();
}, 30_000);

const signingDir = () => join(fx.keysDir, "signing");

async function issue(): Promise<{ status: number; text: string; accessToken: string | undefined }> {
  const res = await fx.exchange({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE });
  return { status: res.status, text: res.text, accessToken: res.json.access_token as string | undefined };
}

async function verifyAgainstJwks(accessToken: string) {
  const jwks = (await fx.get("/.well-known/jwks.json")).json as unknown as JSONWebKeySet;
  return jwtVerify(accessToken, createLocalJWKSet(jwks), { issuer: fx.url, audience: AUDIENCE, typ: "at+jwt", algorithms: ["ES256"] });
}

describe("signing keys in a PKCS#11 token (SoftHSM2), a real broker process", () => {
  it("generates the key inside the token, sensitive and never extractable: its value cannot be read, no PEM exists", async () => {
    const { active } = await readKeyset(signingDir());
    expect(await client.call("attributes", active)).toEqual({ sensitive: true, extractable: false, alwaysSensitive: true, neverExtractable: true, token: true, private: true, valueReadable: false });
    expect((await readdir(signingDir())).filter((name) => name.endsWith(".pem"))).toEqual([]);
  });

  it("issues tokens signed in the token that jose verifies against the broker's JWKS", async () => {
    const { status, text, accessToken } = await issue();
    expect(status, text).toBe(200);
    const { protectedHeader, payload } = await verifyAgainstJwks(accessToken as string);
    const { active, keys } = await readKeyset(signingDir());
    expect(protectedHeader.kid).toBe(keys?.[active]?.kid);
    expect(payload.aud).toBe(AUDIENCE);
    expect((await fx.get("/readyz")).json).toMatchObject({ status: "ready", checks: { signing_keys: { ok: true } } });
  });

  it("rotates through the token: prepare publishes, activate signs with the new key, retire destroys the old token object", async () => {
    const before = await readKeyset(signingDir());
    const custody = tokenKeyCustody(client);
    const prepared = await prepareNextKey(signingDir(), { clock, custody });
    expect(await client.call("findKey", prepared.name)).toBeDefined();
    await expect.poll(async () => ((await fx.get("/.well-known/jwks.json")).json.keys as { kid: string }[]).map((key) => key.kid), { timeout: 15_000 }).toContain(prepared.kid);
    await activateNextKey(signingDir(), { clock, custody, force: true });
    await expect.poll(async () => (await verifyAgainstJwks((await issue()).accessToken as string)).protectedHeader.kid, { timeout: 15_000 }).toBe(prepared.kid);
    await retireKey(signingDir(), before.active, { clock, custody, force: true, maxTokenLifetimeSeconds: 900 });
    expect(await client.call("findKey", before.active)).toBeUndefined();
    await expect.poll(async () => ((await fx.get("/.well-known/jwks.json")).json.keys as { kid: string }[]).map((key) => key.kid), { timeout: 15_000 }).toEqual([prepared.kid]);
  }, 60_000);

  it("rotates to a PS256 key generated inside the token (RSA 2048, never extractable): its tokens verify with jose as PS256 only", async () => {
    const custody = tokenKeyCustody(client);
    const prepared = await prepareNextKey(signingDir(), { clock, custody, alg: "PS256" });
    expect(prepared.alg).toBe("PS256");
    expect(await client.call("attributes", prepared.name)).toMatchObject({ sensitive: true, extractable: false, valueReadable: false });
    expect((await readKeyset(signingDir())).keys?.[prepared.name]?.alg).toBe("PS256");
    await activateNextKey(signingDir(), { clock, custody, force: true });
    await expect.poll(async () => decodeProtectedHeader((await issue()).accessToken as string).kid, { timeout: 15_000 }).toBe(prepared.kid);
    const accessToken = (await issue()).accessToken as string;
    const jwks = createLocalJWKSet((await fx.get("/.well-known/jwks.json")).json as unknown as JSONWebKeySet);
    const { protectedHeader } = await jwtVerify(accessToken, jwks, { issuer: fx.url, audience: AUDIENCE, algorithms: ["PS256"] });
    expect(protectedHeader).toMatchObject({ alg: "PS256", kid: prepared.kid });
    await expect(jwtVerify(accessToken, jwks, { algorithms: ["RS256"] })).rejects.toThrow();
  }, 60_000);

  it("fails closed when the token's storage is removed underneath it: 503 and not ready, and stays not ready (SoftHSM2 keeps a vanished token invalid until the process restarts)", async () => {
    const away = `${token.tokenDir}.away`;
    await rename(token.tokenDir, away);
    try {
      const res = await fx.exchange({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE });
      expectRefusal(res, { status: 503, error: "temporarily_unavailable" });
      expect((await fx.get("/readyz")).status).toBe(503);
    } finally {
      await rename(away, token.tokenDir);
    }
    // Not a 500 and not a hang afterwards either; readiness holds the replica out until restarted.
    expectRefusal(await fx.exchange({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE }), { status: 503, error: "temporarily_unavailable" });
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await fx.get("/readyz")).json).toMatchObject({ status: "not ready", checks: { signing_keys: { ok: false, detail: expect.stringContaining("missing from the token") } } });
    // A restarted broker (a new process: the library reads the token afresh) signs again.
    restarted = await fx.startReplica();
    const again = await requestBroker(restarted.url, "/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: encodeForm({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE }) });
    expect(again.status, again.text).toBe(200);
  }, 60_000);

  it("answers 503 temporarily_unavailable with one log line, never a 500, when the key is destroyed underneath; /readyz says not ready", async () => {
    const { active } = await readKeyset(signingDir());
    const exchange = async () =>
      requestBroker(restarted.url, "/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: encodeForm({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE }) });
    expect((await exchange()).status).toBe(200);
    expect(await client.call("destroy", active)).toBe(2);
    const res = await exchange();
    expectRefusal(res, { status: 503, error: "temporarily_unavailable" });
    expect(res.headers.get("retry-after")).toBe("2");
    const lines = restarted.logRecords().filter((record) => record.msg === "PKCS#11 token call failed: requests that need it answer 503");
    expect(lines).toContainEqual(expect.objectContaining({ pkcs11Call: "sign", keyLabel: active }));
    expect(restarted.output.join("\n")).not.toContain(token.pin);
    const ready = await requestBroker(restarted.url, "/readyz");
    expect(ready.status).toBe(503);
    expect(ready.json).toMatchObject({ status: "not ready", checks: { signing_keys: { ok: false } } });
    // Past the failed call's hold, the probe itself finds the key gone.
    await new Promise((resolve) => setTimeout(resolve, 2_100));
    expect((await requestBroker(restarted.url, "/readyz")).json).toMatchObject({ checks: { signing_keys: { ok: false, detail: expect.stringContaining("missing from the token") } } });
  });
});
