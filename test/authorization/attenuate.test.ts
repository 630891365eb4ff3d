import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { attenuate } from "../../src/authorization/attenuate.js";
import type { RequestContext } from "../../src/policy/types.js";

const request = (overrides: Partial<RequestContext> = {}): RequestContext => ({
  audiences: [],
  resources: [],
  scopes: [],
  requestedTokenType: "access_token",
  requestedLifetimeSeconds: undefined,
  clientAddress: "127.0.0.1",
  now: 1_800_000_000,
  ...overrides,
});

const bounds = { audiences: ["https://a.example", "https://b.example"], scopes: ["read", "write"], maxLifetimeSeconds: 600 };

describe("attenuate", () => {
  it("keeps what was asked when it lies within the bounds", () => {
    expect(attenuate(bounds, request({ audiences: ["https://a.example"], scopes: ["read"], requestedLifetimeSeconds: 60 }), 900)).toEqual({
      ok: true,
      audiences: ["https://a.example"],
      scopes: ["read"],
      lifetimeSeconds: 60,
    });
  });

  it("treats resource like audience", () => {
    const result = attenuate(bounds, request({ resources: ["https://b.example"] }), 900);
    expect(result).toMatchObject({ ok: true, audiences: ["https://b.example"] });
  });

  it("refuses a target outside the bounds with invalid_target", () => {
    expect(attenuate(bounds, request({ audiences: ["https://a.example", "https://evil.example"] }), 900)).toMatchObject({ ok: false, code: "invalid_target" });
    expect(attenuate(bounds, request({ resources: ["https://evil.example"] }), 900)).toMatchObject({ ok: false, code: "invalid_target" });
  });

  it("requires an audience when several are granted, and defaults to the only one otherwise", () => {
    expect(attenuate(bounds, request(), 900)).toMatchObject({ ok: false, code: "invalid_target" });
    expect(attenuate({ ...bounds, audiences: ["https://only.example"] }, request(), 900)).toMatchObject({ ok: true, audiences: ["https://only.example"] });
  });

  it("refuses a scope outside the bounds with invalid_scope and defaults to every granted scope", () => {
    expect(attenuate(bounds, request({ audiences: ["https://a.example"], scopes: ["admin"] }), 900)).toMatchObject({ ok: false, code: "invalid_scope" });
    expect(attenuate(bounds, request({ audiences: ["https://a.example"] }), 900)).toMatchObject({ ok: true, scopes: ["read", "write"] });
  });

  it("takes the smallest of asked, bound and global cap", () => {
    const ask = (requestedLifetimeSeconds: number | undefined, cap: number) =>
      attenuate(bounds, request({ audiences: ["https://a.example"], requestedLifetimeSeconds }), cap);
    expect(ask(undefined, 900)).toMatchObject({ lifetimeSeconds: 600 });
    expect(ask(undefined, 300)).toMatchObject({ lifetimeSeconds: 300 });
    expect(ask(10_000, 900)).toMatchObject({ lifetimeSeconds: 600 });
    expect(ask(30, 900)).toMatchObject({ lifetimeSeconds: 30 });
  });

  it("never grants more than the bounds (property)", () => {
    const names = fc.constantFrom("https://a.example", "https://b.example", "https://c.example");
    const scopes = fc.constantFrom("read", "write", "admin");
    fc.assert(
      fc.property(
        fc.uniqueArray(names, { maxLength: 3 }),
        fc.uniqueArray(scopes, { maxLength: 3 }),
        fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
        fc.integer({ min: 1, max: 3600 }),
        (audiences, asked, lifetime, cap) => {
          const result = attenuate(bounds, request({ audiences, scopes: asked, requestedLifetimeSeconds: lifetime }), cap);
          if (!result.ok) return;
          expect(result.audiences.every((aud) => bounds.audiences.includes(aud))).toBe(true);
          expect(result.scopes.every((scope) => bounds.scopes.includes(scope))).toBe(true);
          if (asked.length > 0) expect(result.scopes.every((scope) => (asked as string[]).includes(scope))).toBe(true);
          expect(result.lifetimeSeconds).toBeLessThanOrEqual(Math.min(lifetime ?? Infinity, bounds.maxLifetimeSeconds, cap));
        },
      ),
      { seed: 8693, numRuns: 300 },
    );
  });
});
