import { createPublicKey, verify } from "node:crypto";
import * as graphene from "graphene-pk11";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { stallingTokenGate } from "../support/stalling-token.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";

let token: SoftHsmToken;
let client: TokenClient;

beforeAll(async () => {
  token = createSoftHsmToken("client-test");
  useSoftHsmEnv(token);
  client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin });
});
afterAll(async () => {
  await client?.close();
  token?.remove();
});

describe("TokenClient on a real SoftHSM2 token", () => {
  it("generates an EC P-256 key inside the token that signs ES256 verifiable with its public half", async () => {
    const info = await client.call("generate", "es-key", { kind: "ec", curve: "P-256" });
    const data = Buffer.from("signing input");
    const signature = await client.call("sign", "es-key", "ES256", data);
    expect(signature.byteLength).toBe(64);
    const key = createPublicKey({ key: info.publicJwk, format: "jwk" });
    expect(verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
  });

  it("keeps the private key sensitive and non-extractable: its value cannot be read", async () => {
    const attributes = await client.call("attributes", "es-key");
    expect(attributes).toEqual({ sensitive: true, extractable: false, alwaysSensitive: true, neverExtractable: true, token: true, private: true, valueReadable: false });
  });
});

describe("TokenClient bounds: a stalled token (a worker blocked in sign)", () => {
  it("rejects a call at its deadline, refuses at once beyond the queue bound, and serves again once the token answers", async () => {
    const gate = stallingTokenGate();
    const stalled = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin }, { ...gate.workerOptions, timeoutMs: 300, maxQueued: 2 });
    try {
      await stalled.call("generate", "stall-key", { kind: "ec", curve: "P-256" });
      gate.shut();
      const started = performance.now();
      const first = stalled.call("sign", "stall-key", "ES256", Buffer.from("x"));
      const second = stalled.call("sign", "stall-key", "ES256", Buffer.from("y"));
      // The queue holds two: a third is refused at once, without waiting for the deadline.
      await expect(stalled.call("ping")).rejects.toThrow(/queue bound/);
      expect(performance.now() - started).toBeLessThan(100);
      await expect(first).rejects.toThrow(/no answer within 300 ms/);
      await expect(second).rejects.toThrow(/no answer within 300 ms/);
      expect(performance.now() - started).toBeLessThan(1_000);
      // Past their callers' deadlines the two still sit in the wedged worker: the bound still holds.
      const refusedAt = performance.now();
      await expect(stalled.call("sign", "stall-key", "ES256", Buffer.from("w"))).rejects.toThrow(/queue bound/);
      expect(performance.now() - refusedAt).toBeLessThan(100);
      expect((await stalled.readiness()).ok).toBe(false);
      gate.open();
      await expect.poll(async () => (await stalled.call("sign", "stall-key", "ES256", Buffer.from("z"))).byteLength, { timeout: 5_000 }).toBe(64);
    } finally {
      gate.open();
      await stalled.close();
    }
  });
});

describe("TokenClient: a login the token forgot", () => {
  it("logs in again when the session lost its login (another session of the process logged out): private keys visible again", async () => {
    await client.call("generate", "relogin-key", { kind: "ec", curve: "P-256" });
    // C_Logout from any session of the process logs every session of it out (PKCS#11 §5.6).
    const module = graphene.Module.load(token.module, "test-logout");
    module.initialize();
    const slot = module.getSlots(true).items(0);
    const other = slot.open(graphene.SessionFlag.SERIAL_SESSION);
    other.logout();
    other.close();
    const signature = await client.call("sign", "relogin-key", "ES256", Buffer.from("after logout"));
    expect(signature.byteLength).toBe(64);
    expect(await client.call("findKey", "relogin-key")).toBeDefined();
  });
});
