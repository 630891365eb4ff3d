/**
 * RSA broker signing keys on a real broker process, keys made by the real `broker keys` CLI:
 *
 * 1. A broker whose only key is RS256 (then one whose only key is PS256, 3072 bits) issues access
 *    tokens that jose verifies against the JWKS it serves, only as that algorithm; the broker
 *    accepts them back for re-exchange and /introspect; a resource server's verifier reading the
 *    broker's JWKS over HTTP accepts them, bearer and DPoP-bound.
 * 2. A rotation from ES256 to PS256 and back: during each overlap the JWKS and the metadata carry
 *    both keys, and tokens of both algorithms verify with jose, re-exchange and introspect active;
 *    after the PS256 key is retired its tokens verify nowhere.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createResourceAccessVerifier } from "../../src/dpop/resource-access.js";
import type { BrokerSigningAlgorithm } from "../../src/protocol/broker-tokens.js";
import { eventually, GRANTS, OIDC_SUBJECT, requestBroker, startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ath, makeProof, proofKey } from "../support/dpop-proofs.js";
import { replicaClient, type ReplicaClient } from "../support/replica-client.js";
import { ROOT } from "../support/repo-root.js";

const AUDIENCE = GRANTS.oidc.audiences[0] as string;
const INTROSPECTOR = "resource-server";
const DEADLINE_MS = 15_000; // file event + debounce, or the 10 s periodic check at worst

async function keysCli(keysDir: string, ...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [...CLI_ARGS, "keys", ...args, "--dir", keysDir], { cwd: ROOT, env: { PATH: process.env.PATH ?? "" } });
  return stdout;
}

/** A broker process whose keys `broker keys init <initArgs>` made, with a grant for an introspecting resource server. */
async function brokerWith(initArgs: readonly string[]): Promise<{ fx: BrokerFixture; broker: ReplicaClient; introspector: string; newIntrospector: () => Promise<string> }> {
  const fx = await startBrokerFixture({
    prepareKeys: (keysDir) => keysCli(keysDir, "init", ...initArgs),
    policies: (brokerUrl) => ({
      "introspector.policy.yaml": {
        id: "e2e-introspector",
        issuer: "oidc",
        condition: `identity.subject == "${INTROSPECTOR}"`,
        grant: { workload_id: "rs/introspector", audiences: [brokerUrl], scopes: ["broker:introspect"], max_lifetime: "15m" },
      },
    }),
  });
  const broker = replicaClient("broker", fx.url);
  // The resource server's credential for /introspect: a broker token, signed by the key of the moment.
  const newIntrospector = async () => {
    const res = await broker.exchange({ ...fx.form(await fx.issuers.oidc.mint({ sub: INTROSPECTOR })), audience: fx.url, scope: "broker:introspect" });
    if (res.status !== 200) throw new Error(`introspector token refused: ${res.status} ${res.text}`);
    return res.json.access_token as string;
  };
  return { fx, broker, introspector: await newIntrospector(), newIntrospector };
}

async function jwks(fx: BrokerFixture): Promise<JSONWebKeySet> {
  return (await (await fetch(`${fx.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
}

async function metadataAlgs(fx: BrokerFixture): Promise<unknown> {
  return ((await (await fetch(`${fx.url}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>).access_token_signing_alg_values_supported;
}

async function issue(fx: BrokerFixture, broker: ReplicaClient): Promise<string> {
  const res = await broker.exchange({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE });
  expect(res.status, res.text).toBe(200);
  return res.json.access_token as string;
}

/** What a relying party does: fetch the JWKS now and verify with jose, allowing only `algorithms`. */
async function joseVerifies(fx: BrokerFixture, token: string, algorithms: string[]): Promise<boolean> {
  return jwtVerify(token, createLocalJWKSet(await jwks(fx)), { issuer: fx.url, audience: AUDIENCE, typ: "at+jwt", algorithms }).then(
    () => true,
    () => false,
  );
}

/** jose verifies it (as `alg` only), the broker re-exchanges it and /introspect says active. */
async function acceptedEverywhere(fx: BrokerFixture, broker: ReplicaClient, introspector: string, token: string, alg: BrokerSigningAlgorithm): Promise<void> {
  expect(decodeProtectedHeader(token).alg).toBe(alg);
  expect(await joseVerifies(fx, token, [alg])).toBe(true);
  const reExchanged = await broker.reExchange(token, AUDIENCE);
  expect(reExchanged.status, reExchanged.text).toBe(200);
  const introspected = await broker.introspect(token, introspector);
  expect(introspected.status, introspected.text).toBe(200);
  expect(introspected.json.active).toBe(true);
}

describe.each([
  { alg: "RS256" as const, initArgs: ["--alg", "RS256"], bits: 2048 },
  { alg: "PS256" as const, initArgs: ["--alg", "PS256", "--rsa-bits", "3072"], bits: 3072 },
])("a broker process whose signing key is $alg", ({ alg, initArgs, bits }) => {
  let fx: BrokerFixture;
  let broker: ReplicaClient;
  let introspector: string;
  beforeAll(async () => {
    ({ fx, broker, introspector } = await brokerWith(initArgs));
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
  });

  it("publishes the RSA key with its alg, and says so in the metadata", async () => {
    const [key, ...others] = (await jwks(fx)).keys;
    expect(others).toEqual([]);
    expect(Object.keys(key ?? {}).sort()).toEqual(["alg", "e", "kid", "kty", "n", "use"]);
    expect(key).toMatchObject({ kty: "RSA", alg, use: "sig", e: "AQAB" });
    expect(Buffer.from(key?.n ?? "", "base64url").length * 8).toBe(bits);
    expect(await metadataAlgs(fx)).toEqual([alg]);
    expect(await keysCli(fx.keysDir, "list")).toMatch(new RegExp(`^NAME\\s+KID\\s+ALG\\s+STATE[^\\n]*\\n\\S+\\s+${key?.kid}\\s+${alg}\\s+active`));
  });

  it(`issues ${alg} tokens that jose verifies (as ${alg} only) and that the broker re-exchanges and introspects as active`, async () => {
    const token = await issue(fx, broker);
    expect(decodeProtectedHeader(token)).toEqual({ alg, typ: "at+jwt", kid: (await jwks(fx)).keys[0]?.kid });
    expect(await joseVerifies(fx, token, ["ES256"])).toBe(false);
    await acceptedEverywhere(fx, broker, introspector, token, alg);
    // The introspector's own token is an RSA broker token too: it authenticated the call above.
    expect(decodeProtectedHeader(introspector).alg).toBe(alg);
  });

  it("a resource server reading the broker's JWKS over HTTP accepts its tokens", async () => {
    const verify = createResourceAccessVerifier({ issuer: fx.url, audience: AUDIENCE, publicUrl: "https://api.test" });
    const decision = await verify({ authorization: `Bearer ${await issue(fx, broker)}`, dpop: undefined, method: "GET", path: "/" });
    expect(decision.ok, JSON.stringify(decision)).toBe(true);
  });

  it(`a DPoP-bound ${alg} token: the resource server accepts it with a proof of the bound key, and not as Bearer`, async () => {
    const client = await proofKey("ES256");
    const form = new URLSearchParams({ ...fx.form(await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE }).toString();
    const dpop = await makeProof(client, { htm: "POST", htu: `${fx.url}/token` });
    const res = await requestBroker(fx.url, "/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded", dpop }, body: form });
    expect(res.status, res.text).toBe(200);
    expect(res.json.token_type).toBe("DPoP");
    const token = res.json.access_token as string;
    expect(decodeProtectedHeader(token).alg).toBe(alg);
    const verify = createResourceAccessVerifier({ issuer: fx.url, audience: AUDIENCE, publicUrl: "https://api.test" });
    const proof = await makeProof(client, { htm: "GET", htu: "https://api.test/orders", ath: ath(token) });
    const decision = await verify({ authorization: `DPoP ${token}`, dpop: proof, method: "GET", path: "/orders" });
    expect(decision.ok, JSON.stringify(decision)).toBe(true);
    if (decision.ok) expect(decision.access.jkt).toBe(client.jkt);
    const asBearer = await verify({ authorization: `Bearer ${token}`, dpop: undefined, method: "GET", path: "/orders" });
    expect(asBearer.ok).toBe(false);
  });
});

describe("a rotation from ES256 to PS256 and back, on a live broker", () => {
  let fx: BrokerFixture;
  let broker: ReplicaClient;
  let introspector: string;
  let newIntrospector: () => Promise<string>;
  beforeAll(async () => {
    ({ fx, broker, introspector, newIntrospector } = await brokerWith([]));
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
  });

  const kidOf = (stdout: string) => /\(kid ([\w-]{43}), alg (ES256|PS256)\)/.exec(stdout)?.[1] ?? "";
  const nameOf = (stdout: string) => /: (\S+) \(kid/.exec(stdout)?.[1] ?? "";
  const published = async () => (await jwks(fx)).keys.map((key) => `${key.alg} ${key.kid}`).sort();
  const signingAlg = async () => decodeProtectedHeader(await issue(fx, broker)).alg;

  it("every token of either algorithm verifies while its key is published; none after it is retired", async () => {
    // 1. ES256 (the default).
    const esKid = (await jwks(fx)).keys[0]?.kid ?? "";
    const firstKey = (await keysCli(fx.keysDir, "list", "--json").then((text) => JSON.parse(text) as { name: string; alg: string }[]))[0];
    expect(firstKey?.alg).toBe("ES256");
    const es = await issue(fx, broker);

    // 2. Prepare PS256: published (JWKS and metadata) before it signs.
    const prepared = await keysCli(fx.keysDir, "rotate", "--prepare", "--alg", "PS256");
    const psKid = kidOf(prepared);
    expect(prepared).toMatch(/^prepared \(published, not signing yet\): \S+ \(kid [\w-]{43}, alg PS256\)\n$/);
    await eventually(async () => (await published()).length === 2, DEADLINE_MS, "the PS256 key is published");
    expect(await published()).toEqual([`ES256 ${esKid}`, `PS256 ${psKid}`].sort());
    expect(await metadataAlgs(fx)).toEqual(["ES256", "PS256"]);
    expect(await signingAlg()).toBe("ES256");

    // 3. Activate PS256 (forced: the publish-before-activate wait is the unit tests' business).
    await keysCli(fx.keysDir, "rotate", "--activate", "--force");
    await eventually(async () => (await signingAlg()) === "PS256", DEADLINE_MS, "the PS256 key signs");
    const ps = await issue(fx, broker);
    await acceptedEverywhere(fx, broker, introspector, es, "ES256");
    await acceptedEverywhere(fx, broker, introspector, ps, "PS256");

    // 4. Back to ES256: a new EC key, then the old ES256 and the PS256 key retire.
    await keysCli(fx.keysDir, "rotate", "--prepare", "--alg", "ES256");
    await keysCli(fx.keysDir, "rotate", "--activate", "--force");
    await eventually(async () => (await signingAlg()) === "ES256", DEADLINE_MS, "an ES256 key signs again");
    const back = await issue(fx, broker);
    expect(decodeProtectedHeader(back).kid).not.toBe(esKid);
    for (const [token, alg] of [[es, "ES256"], [ps, "PS256"], [back, "ES256"]] as const) await acceptedEverywhere(fx, broker, introspector, token, alg);

    const psName = nameOf(prepared);
    await keysCli(fx.keysDir, "rotate", "--retire", psName, "--force");
    await keysCli(fx.keysDir, "rotate", "--retire", firstKey?.name ?? "", "--force");
    await eventually(async () => (await published()).length === 1, DEADLINE_MS, "the PS256 and first ES256 keys are retired");
    expect(await metadataAlgs(fx)).toEqual(["ES256"]);
    expect(await joseVerifies(fx, ps, ["PS256"])).toBe(false);
    expect((await broker.reExchange(ps, AUDIENCE)).status).toBe(400);
    // The introspector's token was signed by the retired ES256 key: the resource server gets a new one.
    expect((await broker.introspect(back, introspector)).status).toBe(401);
    await acceptedEverywhere(fx, broker, await newIntrospector(), back, "ES256");
  }, 120_000);
});
