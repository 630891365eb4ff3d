import { describe, expect, it } from "vitest";
import { RateLimiterUnavailableError, reportingOutages, type RateLimiter } from "../../src/rate-limit/rate-limiter.js";
import { FAILED_CALL_HOLD_MS, StoreReadiness } from "../../src/revocation/store-readiness.js";

describe("StoreReadiness", () => {
  const setup = (probe: () => Promise<void> = async () => undefined) => {
    let now = 10_000;
    const readiness = new StoreReadiness("redis", probe, () => now);
    return { readiness, advance: (ms: number) => (now += ms) };
  };

  it("ready while the probe passes and no store call failed", async () => {
    const { readiness } = setup();
    expect(await readiness.check()).toEqual({ ok: true, detail: "redis" });
  });

  it("not ready while the probe fails", async () => {
    const { readiness } = setup(() => Promise.reject(new Error("no answer")));
    expect(await readiness.check()).toEqual({ ok: false, detail: "redis unreachable" });
  });

  it("a failed store call holds it not ready for FAILED_CALL_HOLD_MS although the probe passes, then it is ready", async () => {
    const { readiness, advance } = setup();
    readiness.recordFailure();
    advance(FAILED_CALL_HOLD_MS - 1);
    expect(await readiness.check()).toMatchObject({ ok: false, detail: expect.stringContaining("failed a request") });
    advance(1);
    expect(await readiness.check()).toEqual({ ok: true, detail: "redis" });
  });

  it("each new failure restarts the hold", async () => {
    const { readiness, advance } = setup();
    readiness.recordFailure();
    advance(FAILED_CALL_HOLD_MS - 100);
    readiness.recordFailure();
    advance(FAILED_CALL_HOLD_MS - 100);
    expect((await readiness.check()).ok).toBe(false);
    advance(100);
    expect((await readiness.check()).ok).toBe(true);
  });
});

describe("reportingOutages (rate-limit calls count for readiness too)", () => {
  const limit = { count: 1, periodSeconds: 1, burst: 1, text: "1/1s" };
  const failing = (error: Error): RateLimiter => ({ kind: "redis", take: () => Promise.reject(error) });

  it("tells of a limiter that cannot answer, and rethrows", async () => {
    let told = 0;
    const limiter = reportingOutages(failing(new RateLimiterUnavailableError("no answer")), () => told++);
    await expect(limiter.take({ kind: "client", id: "x" }, limit)).rejects.toBeInstanceOf(RateLimiterUnavailableError);
    expect(told).toBe(1);
  });

  it("does not tell of other errors, nor of answers", async () => {
    let told = 0;
    await expect(reportingOutages(failing(new TypeError("bug")), () => told++).take({ kind: "client", id: "x" }, limit)).rejects.toBeInstanceOf(TypeError);
    const allowing: RateLimiter = { kind: "memory", take: async () => ({ allowed: false, retryAfterMs: 5 }) };
    expect(await reportingOutages(allowing, () => told++).take({ kind: "client", id: "x" }, limit)).toEqual({ allowed: false, retryAfterMs: 5 });
    expect(told).toBe(0);
  });
});
