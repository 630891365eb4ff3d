/** The DPoP settings: defaults, bounds, and the start-up choice of nonce secret. */
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, SETTING_NAMES } from "../../src/config.js";
import { createBrokerDpop } from "../../src/authorization/broker-dpop.js";
import { ManualClock } from "../../src/lib/clock.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";

const SECRET = "a-shared-dpop-nonce-secret-of-32-characters-or-more";

describe("DPoP settings", () => {
  it("default to a 60 s proof window and no nonces, and are known setting names", () => {
    expect(loadConfig({}).dpop).toEqual({ proofWindowSeconds: 60, nonce: "off", nonceSecret: undefined });
    for (const name of ["BROKER_DPOP_PROOF_WINDOW", "BROKER_DPOP_NONCE", "BROKER_DPOP_NONCE_SECRET"]) expect(SETTING_NAMES).toContain(name);
  });

  it("read the window, the nonce mode and the secret; an empty secret counts as unset", () => {
    expect(loadConfig({ BROKER_DPOP_PROOF_WINDOW: "2m", BROKER_DPOP_NONCE: "required", BROKER_DPOP_NONCE_SECRET: SECRET }).dpop).toEqual({
      proofWindowSeconds: 120,
      nonce: "required",
      nonceSecret: SECRET,
    });
    expect(loadConfig({ BROKER_DPOP_NONCE_SECRET: "" }).dpop.nonceSecret).toBeUndefined();
  });

  it("refuse a short secret, an unknown mode and a window over 10 minutes, all at once", () => {
    expect(() => loadConfig({ BROKER_DPOP_NONCE_SECRET: "short", BROKER_DPOP_NONCE: "on", BROKER_DPOP_PROOF_WINDOW: "11m" })).toThrow(ConfigError);
    try {
      loadConfig({ BROKER_DPOP_NONCE_SECRET: "short", BROKER_DPOP_NONCE: "on", BROKER_DPOP_PROOF_WINDOW: "11m" });
    } catch (error) {
      for (const name of ["BROKER_DPOP_NONCE_SECRET", "BROKER_DPOP_NONCE", "BROKER_DPOP_PROOF_WINDOW"]) expect((error as Error).message).toContain(name);
    }
  });

  it("make nonces only when required; without a secret they are this process's own (and flagged)", () => {
    const clock = new ManualClock(1_800_000_000_000);
    const base = { issuerUrl: "https://b.example", revocations: new MemoryRevocationStore(clock), clock, proofWindowSeconds: 60 };
    expect(createBrokerDpop({ ...base, nonce: "off", nonceSecret: SECRET }).nonces).toBeUndefined();
    const shared = [createBrokerDpop({ ...base, nonce: "required", nonceSecret: SECRET }), createBrokerDpop({ ...base, nonce: "required", nonceSecret: SECRET })];
    expect(shared.map((d) => d.ephemeralNonceSecret)).toEqual([false, false]);
    expect(shared[0]?.nonces?.current()).toBe(shared[1]?.nonces?.current());
    const own = [createBrokerDpop({ ...base, nonce: "required", nonceSecret: undefined }), createBrokerDpop({ ...base, nonce: "required", nonceSecret: undefined })];
    expect(own.map((d) => d.ephemeralNonceSecret)).toEqual([true, true]);
    expect(own[0]?.nonces?.current()).not.toBe(own[1]?.nonces?.current());
  });
});
