/**
 * Bounded concurrency: the semaphore and shedWhenBusy, deterministically (permits are held by
 * promises the test resolves itself; nothing depends on timing), and the shed answer over HTTP.
 */
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors/broker-error.js";
import { Semaphore } from "../../src/lib/semaphore.js";
import { shedWhenBusy, type ShedWork } from "../../src/rate-limit/shed-load.js";
import { startHarness } from "../support/rate-limit-harness.js";

/** A unit of work that finishes only when the test says so. */
function gate<T>() {
  let open!: (value: T) => void;
  const done = new Promise<T>((resolve) => (open = resolve));
  return { done, open };
}

describe("Semaphore", () => {
  it("admits maxInFlight at once, queues maxQueued, and refuses the rest", async () => {
    const semaphore = new Semaphore(2, 1);
    const first = semaphore.acquire();
    const second = semaphore.acquire();
    const third = semaphore.acquire();
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    expect(third).toBeDefined();
    expect(semaphore.acquire()).toBeUndefined();
    expect({ active: semaphore.active, queued: semaphore.queued }).toEqual({ active: 2, queued: 1 });

    let thirdHolds = false;
    void third?.then(() => (thirdHolds = true));
    (await first)?.();
    await Promise.resolve();
    expect(thirdHolds).toBe(true);
    // The permit moved to the waiter: still two in flight, none queued, room to queue again.
    expect({ active: semaphore.active, queued: semaphore.queued }).toEqual({ active: 2, queued: 0 });
    expect(semaphore.acquire()).toBeDefined();
  });

  it("serves waiters first come, first served, and ignores a second release of one permit", async () => {
    const semaphore = new Semaphore(1, 3);
    const holder = await semaphore.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => semaphore.acquire()?.then((release) => (order.push(n), release)));
    holder?.();
    holder?.();
    await Promise.resolve();
    expect(order).toEqual([1]);
    expect(semaphore.active).toBe(1);
    (await waiters[0])?.();
    (await waiters[1])?.();
    (await waiters[2])?.();
    expect(order).toEqual([1, 2, 3]);
    expect({ active: semaphore.active, queued: semaphore.queued }).toEqual({ active: 0, queued: 0 });
  });

  it("refuses nonsense bounds", () => {
    expect(() => new Semaphore(0, 1)).toThrow(RangeError);
    expect(() => new Semaphore(1, -1)).toThrow(RangeError);
  });
});

describe("shedWhenBusy", () => {
  it("runs up to maxInFlight + maxQueued calls and sheds the next with 503 temporarily_unavailable and Retry-After", async () => {
    const shed: ShedWork[] = [];
    const pending = [gate<string>(), gate<string>(), gate<string>()];
    let started = 0;
    const work = shedWhenBusy(async (n: number) => {
      started += 1;
      return pending[n]!.done;
    }, new Semaphore(2, 1), { work: "x509_svid", onShed: (kind) => shed.push(kind) });

    const calls = [work(0), work(1), work(2)];
    const refused = await work(3).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toBeInstanceOf(BrokerError);
    expect(refused).toMatchObject({ code: "temporarily_unavailable", retryAfterSeconds: 1, description: "the broker is busy; retry shortly" });
    expect((refused as BrokerError).reason).toBeUndefined(); // not rate_limited: the code's status, 503
    expect(shed).toEqual(["x509_svid"]);
    await Promise.resolve();
    expect(started).toBe(2); // the third waits for a permit

    pending[0]!.open("zero");
    expect(await calls[0]).toBe("zero");
    await Promise.resolve();
    expect(started).toBe(3);
    pending[1]!.open("one");
    pending[2]!.open("two");
    expect(await Promise.all(calls)).toEqual(["zero", "one", "two"]);
    // Everything finished: the next call runs at once.
    pending[0] = gate<string>();
    pending[0].open("again");
    expect(await work(0)).toBe("again");
  });

  it("gives the permit back when the work fails", async () => {
    const semaphore = new Semaphore(1, 0);
    const failing = shedWhenBusy(async () => {
      throw new BrokerError("invalid_request", "bad");
    }, semaphore, { work: "token" });
    await expect(failing()).rejects.toMatchObject({ code: "invalid_request" });
    await expect(failing()).rejects.toMatchObject({ code: "invalid_request" });
    expect(semaphore.active).toBe(0);
  });

  it("answers a shed /token and /svid/x509 over HTTP as RFC 6749 §5.2 JSON, 503 with Retry-After, before any verification", async () => {
    const tokenWork = new Semaphore(1, 0);
    const svidWork = new Semaphore(1, 0);
    const h = await startHarness({ workBounds: { token: tokenWork, svid: svidWork } });
    try {
      // The test holds every permit, as requests still in flight would.
      const [tokenPermit, svidPermit] = [await tokenWork.acquire(), await svidWork.acquire()];
      const token = await h.token("alice");
      for (const res of [await h.exchange("10.0.0.1", token), await h.svid("10.0.0.1", token)]) {
        expect(res.status).toBe(503);
        expect(res.headers.get("retry-after")).toBe("1");
        expect(res.headers.get("cache-control")).toBe("no-store");
        expect(await res.json()).toEqual({ error: "temporarily_unavailable", error_description: "the broker is busy; retry shortly" });
      }
      expect(h.shed).toEqual(["token", "x509_svid"]);
      expect(h.issuer.requests.total).toBe(0);
      expect(h.audit).toEqual([]);

      // Permits back: the very same requests go through.
      tokenPermit?.();
      svidPermit?.();
      expect((await h.exchange("10.0.0.1", token)).status).toBe(200);
      expect((await h.svid("10.0.0.1", token)).status).toBe(200);
      expect({ token: tokenWork.active, svid: svidWork.active }).toEqual({ token: 0, svid: 0 });
    } finally {
      await h.close();
    }
  });
});
