import { describe, expect, it } from "vitest";
import { boundedCall } from "../../src/redis/redis-calls.js";

class Unavailable extends Error {
  override readonly name = "Unavailable";
}

describe("boundedCall: one Redis call, bounded in time, failing as the adapter's Unavailable", () => {
  it("answers what the call answers", async () => {
    await expect(boundedCall("read", () => Promise.resolve(42), 1_000, Unavailable)).resolves.toBe(42);
  });

  it("turns a rejection into Unavailable naming the operation, with the original as cause", async () => {
    const original = new Error("READONLY You can't write against a read only replica.");
    const failure = await boundedCall("claimOnce", () => Promise.reject(original), 1_000, Unavailable).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Unavailable);
    expect((failure as Error).message).toBe("redis claimOnce failed: READONLY You can't write against a read only replica.");
    expect((failure as Error).cause).toBe(original);
  });

  it("passes an Unavailable through unchanged", async () => {
    const own = new Unavailable("redis rate limit: unexpected reply");
    await expect(boundedCall("rate limit", () => Promise.reject(own), 1_000, Unavailable)).rejects.toBe(own);
  });

  it("turns a call that throws before it returns a promise into Unavailable", async () => {
    const failure = await boundedCall(
      "activeBlock",
      () => {
        throw new TypeError("boom");
      },
      1_000,
      Unavailable,
    ).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Unavailable);
    expect((failure as Error).message).toBe("redis activeBlock failed: boom");
  });

  it("fails with Unavailable at its deadline when the call never answers", async () => {
    const started = Date.now();
    const failure = await boundedCall("tokenStatus", () => new Promise<never>(() => undefined), 50, Unavailable).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Unavailable);
    expect((failure as Error).message).toBe("redis tokenStatus: no answer within 50 ms");
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it("keeps the deadline's answer when the call answers late, and the late failure raises nothing", async () => {
    let lateReject: (error: Error) => void = () => undefined;
    const late = new Promise<number>((_resolve, reject) => {
      lateReject = reject;
    });
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => {
      unhandled.push(reason);
    };
    process.on("unhandledRejection", onUnhandled);
    try {
      await expect(boundedCall("read", () => late, 20, Unavailable)).rejects.toThrow("no answer within 20 ms");
      lateReject(new Error("connection closed"));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  it("clears its timer once the call answers: nothing is left to keep the process alive", async () => {
    const before = process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;
    await boundedCall("read", () => Promise.resolve("ok"), 60_000, Unavailable);
    await boundedCall("read", () => Promise.reject(new Error("no")), 60_000, Unavailable).catch(() => undefined);
    expect(process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length).toBe(before);
  });
});
