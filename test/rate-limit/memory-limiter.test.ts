/**
 * MemoryRateLimiter's memory bound: entries expire, and a flood of distinct keys cannot grow the
 * map past its cap or free an address that keeps calling from its limit.
 */
import { describe, expect, it } from "vitest";
import { ManualClock } from "../../src/lib/clock.js";
import { MemoryRateLimiter } from "../../src/rate-limit/memory-rate-limiter.js";
import { parseRateLimit } from "../../src/rate-limit/rate-limit-setting.js";
import type { RateLimit } from "../../src/rate-limit/rate-limiter.js";

const START_MS = 1_800_000_000_000;
const parsed = parseRateLimit("1/1m,burst=1");
if (parsed === undefined || "error" in parsed) throw new Error("bad limit");
const ONE_PER_MINUTE: RateLimit = parsed;

describe("MemoryRateLimiter memory bound", () => {
  it("never holds more than maxEntries budgets, whatever the number of distinct addresses", async () => {
    const limiter = new MemoryRateLimiter(new ManualClock(START_MS), { maxEntries: 100 });
    for (let i = 0; i < 10_000; i++) {
      expect((await limiter.take({ kind: "client", id: `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}` }, ONE_PER_MINUTE)).allowed).toBe(true);
      expect(limiter.size).toBeLessThanOrEqual(100);
    }
    expect(limiter.size).toBe(100);
  });

  it("keeps an address that keeps calling limited through a flood of others (least recently used goes first)", async () => {
    const clock = new ManualClock(START_MS);
    const limiter = new MemoryRateLimiter(clock, { maxEntries: 50 });
    const abuser = { kind: "client", id: "203.0.113.9" } as const;
    expect((await limiter.take(abuser, ONE_PER_MINUTE)).allowed).toBe(true);
    for (let i = 0; i < 5_000; i++) {
      await limiter.take({ kind: "client", id: `flood-${i}` }, ONE_PER_MINUTE);
      // Each refused call counts as use: the abuser's entry is never the least recently used.
      if (i % 10 === 0) expect((await limiter.take(abuser, ONE_PER_MINUTE)).allowed).toBe(false);
    }
  });

  it("drops budgets that are full again as new keys arrive, so idle entries do not stay", async () => {
    const clock = new ManualClock(START_MS);
    const limiter = new MemoryRateLimiter(clock, { maxEntries: 1_000 });
    for (let i = 0; i < 200; i++) await limiter.take({ kind: "workload", id: `w${i}` }, ONE_PER_MINUTE);
    expect(limiter.size).toBe(200);
    // A minute later every budget is full again: each new request sweeps stale ones away.
    clock.advance(60_000);
    for (let i = 0; i < 100; i++) await limiter.take({ kind: "workload", id: `fresh-${i}` }, ONE_PER_MINUTE);
    expect(limiter.size).toBe(100);
  });

  it("an evicted budget starts full again (the documented cost of the bound)", async () => {
    const limiter = new MemoryRateLimiter(new ManualClock(START_MS), { maxEntries: 2 });
    const victim = { kind: "client", id: "192.0.2.1" } as const;
    await limiter.take(victim, ONE_PER_MINUTE);
    expect((await limiter.take(victim, ONE_PER_MINUTE)).allowed).toBe(false);
    await limiter.take({ kind: "client", id: "192.0.2.2" }, ONE_PER_MINUTE);
    await limiter.take({ kind: "client", id: "192.0.2.3" }, ONE_PER_MINUTE);
    expect((await limiter.take(victim, ONE_PER_MINUTE)).allowed).toBe(true);
  });
});
