/**
 * A signing key rotation on a live two-replica cluster, run with the real `broker keys` CLI on the
 * keys folder both broker processes share, no restart:
 *
 * 1. exchange → T1, signed by the first key;
 * 2. `rotate --prepare` → both JWKS publish two keys; new tokens are still signed by the first key;
 * 3. `rotate --activate` → new tokens on BOTH replicas carry the new kid;
 * 4. `rotate --retire <first>` (forced: the lifetime wait is covered by the unit tests) → the old
 *    kid leaves both JWKS.
 *
 * Throughout 1–3, T1 verifies against each replica's JWKS, fetched and checked with jose alone.
 * At every step the SPIFFE bundle's `spiffe_sequence` goes up (Trust Domain and Bundle §4.1.1: it
 * MUST change with the bundle's contents) and both replicas serve the same one.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSegment, eventually, OIDC_SUBJECT, requestBroker, startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import type { BrokerProcess } from "../support/broker-process.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";

const AUDIENCE = "https://a.example.com";
const DEADLINE_MS = 15_000; // file event + debounce, or the 10 s periodic check at worst

let fx: BrokerFixture;
let replica: BrokerProcess;
let urls: { A: string; B: string };

beforeAll(async () => {
  fx = await startBrokerFixture();
  replica = await fx.startReplica();
  urls = { A: fx.url, B: replica.url };
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

async function keysCli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return promisify(execFile)(process.execPath, [...CLI_ARGS, "keys", ...args, "--dir", fx.keysDir], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "" },
  });
}

/** A fresh subject token each time: subject tokens are replay-protected. */
async function issue(baseUrl: string): Promise<{ token: string; kid: string }> {
  const subject = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT });
  const res = await requestBroker(baseUrl, "/token", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ ...fx.form(subject), audience: AUDIENCE }),
  });
  expect(res.status, res.text).toBe(200);
  const token = res.json.access_token as string;
  return { token, kid: decodeSegment(token, 0).kid as string };
}

async function jwks(baseUrl: string): Promise<JSONWebKeySet> {
  const res = await fetch(`${baseUrl}/.well-known/jwks.json`);
  expect(res.status).toBe(200);
  return (await res.json()) as JSONWebKeySet;
}

/** A replica's SPIFFE bundle: its sequence and the kids of its jwt-svid keys. */
async function bundle(baseUrl: string): Promise<{ sequence: number; jwtKids: string[] }> {
  const res = await requestBroker(baseUrl, "/.well-known/spiffe-bundle");
  expect(res.status, res.text).toBe(200);
  const keys = res.json.keys as { use: string; kid?: string }[];
  return { sequence: res.json.spiffe_sequence as number, jwtKids: keys.filter((key) => key.use === "jwt-svid").map((key) => key.kid ?? "").sort() };
}

/** Waits until both replicas serve a bundle with `jwtKids`; checks they agree on a sequence above `previous`; returns it. */
async function bundleStep(jwtKids: readonly string[], previous: number, step: string): Promise<number> {
  for (const url of Object.values(urls)) {
    await eventually(async () => (await bundle(url)).jwtKids.join() === [...jwtKids].sort().join(), DEADLINE_MS, `${url} bundle after ${step}`);
  }
  const [a, b] = [await bundle(urls.A), await bundle(urls.B)];
  expect(a.sequence, `spiffe_sequence after ${step}`).toBeGreaterThan(previous);
  expect(Number.isSafeInteger(a.sequence)).toBe(true);
  expect(b.sequence, `replicas agree after ${step}`).toBe(a.sequence);
  return a.sequence;
}

const kids = async (baseUrl: string): Promise<string[]> => (await jwks(baseUrl)).keys.map((key) => key.kid ?? "").sort();

/** Verifies like a resource server that just fetched this replica's JWKS. */
async function verifiesOn(baseUrl: string, token: string): Promise<void> {
  const { payload } = await jwtVerify(token, createLocalJWKSet(await jwks(baseUrl)), { issuer: fx.url, audience: AUDIENCE, typ: "at+jwt", algorithms: ["ES256"] });
  expect(payload.sub).toBeDefined();
}

describe("key rotation across two live replicas", () => {
  it("prepare → activate → retire, with every earlier token verifying until its key is retired", async () => {
    // 1. T1 under the first key, from each replica.
    const t1 = await issue(urls.A);
    const oldKid = t1.kid;
    expect((await issue(urls.B)).kid).toBe(oldKid);
    for (const url of Object.values(urls)) {
      expect(await kids(url)).toEqual([oldKid]);
      await verifiesOn(url, t1.token);
    }
    let sequence = await bundleStep([oldKid], 0, "start");

    // 2. Prepare: published everywhere, signing nowhere.
    const prepared = await keysCli("rotate", "--prepare");
    const newKid = /\(kid ([\w-]{43}), alg ES256\)/.exec(prepared.stdout)?.[1] ?? "";
    expect(newKid).not.toBe("");
    for (const url of Object.values(urls)) {
      await eventually(async () => (await kids(url)).length === 2, DEADLINE_MS, `${url} publishes the prepared key`);
      expect(await kids(url)).toEqual([oldKid, newKid].sort());
      expect((await issue(url)).kid).toBe(oldKid);
      await verifiesOn(url, t1.token);
    }
    sequence = await bundleStep([oldKid, newKid], sequence, "prepare");

    // 3. Activate (forced: the JWKS max-age wait is the operator's, covered by unit tests).
    const activated = await keysCli("rotate", "--activate", "--force");
    expect(activated.stderr).toMatch(/WARNING: forced/);
    const fresh: string[] = [];
    for (const url of Object.values(urls)) {
      await eventually(async () => (await issue(url)).kid === newKid, DEADLINE_MS, `${url} signs with the new key`);
      const t2 = await issue(url);
      expect(t2.kid).toBe(newKid);
      fresh.push(t2.token);
      expect(await kids(url)).toEqual([oldKid, newKid].sort());
    }
    for (const url of Object.values(urls)) {
      await verifiesOn(url, t1.token);
      for (const token of fresh) await verifiesOn(url, token);
    }
    const listing = JSON.parse((await keysCli("list", "--json")).stdout) as { name: string; kid: string; state: string }[];
    expect(listing.map(({ kid, state }) => ({ kid, state }))).toEqual([
      { kid: newKid, state: "active" },
      { kid: oldKid, state: "previous" },
    ]);

    // 4. Retire the first key: it leaves both JWKS; tokens of the new key still verify.
    const previous = listing.find((key) => key.state === "previous");
    await expect(keysCli("rotate", "--retire", previous?.name ?? "")).rejects.toMatchObject({ stderr: expect.stringMatching(/--force overrides/) });
    await keysCli("rotate", "--retire", previous?.name ?? "", "--force");
    for (const url of Object.values(urls)) {
      await eventually(async () => (await kids(url)).length === 1, DEADLINE_MS, `${url} drops the retired key`);
      expect(await kids(url)).toEqual([newKid]);
      for (const token of fresh) await verifiesOn(url, token);
      await expect(verifiesOn(url, t1.token)).rejects.toThrow(/no applicable key/i);
    }
    await bundleStep([newKid], sequence, "retire");
    // Each replica logged the reloads, and nothing went wrong while reloading.
    for (const broker of [fx.broker, replica]) {
      const reloads = () => broker.logRecords().filter((record) => record.msg === "signing keys reloaded").length;
      await eventually(() => reloads() >= 3, 5_000, "a reload log line per step");
      expect(broker.logRecords().filter((record) => record.msg === "signing keys not reloaded: keeping the keys in force")).toEqual([]);
    }
  }, 120_000);
});
