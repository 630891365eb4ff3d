import { describe, expect, it } from "vitest";
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
