import { expect } from "vitest";
import type { RevocationStore } from "../../src/revocation/revocation-store.js";
import { StoreUnavailableError } from "../../src/revocation/revocation-store.js";
import { clockNearNow } from "./revocation-store-contract.js";
import { COMMAND_TIMEOUT_MS, within } from "./redis-store.js";

/** Checks shared by the fault tests (standalone and Cluster). */
/** The store's deadline is the command timeout; twice that, for a loaded machine. */
export const BOUND_MS = 2 * COMMAND_TIMEOUT_MS;
const meta = { actor: "operator@example", reason: "test", at: 0 } as const;

export const clock = clockNearNow();
const now = clock.now() / 1000;

export function everyCall(store: RevocationStore): [string, () => Promise<unknown>][] {
  return [
    ["tokenStatus", () => store.tokenStatus({ jti: "jti-1", sub: "wl-a", iat: now })],
    ["activeBlock", () => store.activeBlock("wl-a")],
    ["claimOnce", () => store.claimOnce("iss|fresh", now + 60)],
    ["revokeToken", () => store.revokeToken({ ...meta, at: now, jti: "jti-2", expiresAt: now + 60 })],
    ["revokeWorkload", () => store.revokeWorkload({ ...meta, at: now, workloadId: "wl-b", revokedAt: now, expiresAt: now + 60 })],
    ["blockWorkload", () => store.blockWorkload({ ...meta, at: now, workloadId: "wl-b", until: undefined })],
    // Not "wl-a": a command that timed out may still reach a stalled server once it resumes.
    ["unblockWorkload", () => store.unblockWorkload("wl-b")],
    ["list", () => store.list()],
    ["ping", () => store.ping()],
  ];
}

export async function expectAllUnavailable(store: RevocationStore): Promise<void> {
  for (const [name, call] of everyCall(store)) {
    const outcome = await within(BOUND_MS, call().then(
      (value) => ({ name, value }),
      (error: unknown) => ({ name, error }),
    ));
    expect(outcome, name).toHaveProperty("error");
    expect("error" in outcome && outcome.error, name).toBeInstanceOf(StoreUnavailableError);
  }
}

export async function seed(store: RevocationStore, claim: string): Promise<void> {
  await store.revokeToken({ ...meta, at: now, jti: "jti-1", expiresAt: now + 600 });
  await store.revokeWorkload({ ...meta, at: now, workloadId: "wl-a", revokedAt: now, expiresAt: now + 3600 });
  await store.blockWorkload({ ...meta, at: now, workloadId: "wl-a", until: undefined });
  expect(await store.claimOnce(claim, now + 600)).toBe(true);
}

export async function expectSeedInForce(store: RevocationStore, claim: string): Promise<void> {
  expect(await store.tokenStatus({ jti: "jti-1", sub: "wl-z", iat: now })).toBe("revoked");
  expect(await store.tokenStatus({ jti: "other", sub: "wl-a", iat: now })).toBe("revoked");
  expect(await store.activeBlock("wl-a")).toBeDefined();
  expect(await store.claimOnce(claim, now + 600)).toBe(false);
}

