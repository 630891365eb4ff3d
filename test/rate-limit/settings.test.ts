/** The rate-limit setting syntax, its config variables, and how client addresses are bucketed. */
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { clientBucket } from "../../src/rate-limit/client-key.js";
import { parseRateLimit } from "../../src/rate-limit/rate-limit-setting.js";

describe("parseRateLimit", () => {
  it.each([
    ["50/1s,burst=500", { count: 50, periodSeconds: 1, burst: 500, text: "50/1s,burst=500" }],
    ["600/1m", { count: 600, periodSeconds: 60, burst: 600, text: "600/1m,burst=600" }],
    [" 10/1h,burst=2 ", { count: 10, periodSeconds: 3600, burst: 2, text: "10/1h,burst=2" }],
    ["5/30", { count: 5, periodSeconds: 30, burst: 5, text: "5/30,burst=5" }],
  ])("reads %s", (text, expected) => {
    expect(parseRateLimit(text)).toEqual(expected);
  });

  it('reads "off" as no limit', () => {
    expect(parseRateLimit("off")).toBeUndefined();
  });

  it.each(["", "on", "50", "50/", "/1s", "0/1s", "5/0s", "5/2d", "5/1s,burst=0", "5/1s,burst=", "5/1s burst=3", "-1/1s", "1.5/1s", "5/1s,burst=3,x=1"])(
    "refuses %j with a message",
    (text) => {
      const parsed = parseRateLimit(text);
      expect(parsed).toHaveProperty("error");
    },
  );
});

describe("config", () => {
  it("has rate limits on by default, generous enough for a CI fleet behind one address", () => {
    const config = loadConfig({});
    expect(config.rateLimits.client).toMatchObject({ count: 200, periodSeconds: 1, burst: 2000 });
    expect(config.rateLimits.workload).toMatchObject({ count: 50, periodSeconds: 1, burst: 500 });
    expect(config.concurrency.svid.inFlight).toBeGreaterThanOrEqual(2);
    expect(config.concurrency.svid.queued).toBe(256);
    expect(config.concurrency.token.queued).toBe(1024);
  });

  it("turns each limit off, and takes explicit work bounds", () => {
    const config = loadConfig({ BROKER_RATE_LIMIT_CLIENT: "off", BROKER_RATE_LIMIT_WORKLOAD: "off", BROKER_SVID_CONCURRENCY: "3", BROKER_SVID_QUEUE: "0" });
    expect(config.rateLimits).toEqual({ client: undefined, workload: undefined });
    expect(config.concurrency.svid).toEqual({ inFlight: 3, queued: 0 });
  });

  it("lists bad rate-limit and bound settings with the others", () => {
    expect(() => loadConfig({ BROKER_RATE_LIMIT_CLIENT: "lots", BROKER_RATE_LIMIT_WORKLOAD: "1/1s,burst=0", BROKER_TOKEN_CONCURRENCY: "0" })).toThrow(
      /BROKER_RATE_LIMIT_CLIENT: must be "off" or[\s\S]*BROKER_RATE_LIMIT_WORKLOAD: count and burst must be at least 1[\s\S]*BROKER_TOKEN_CONCURRENCY/,
    );
  });
});

describe("clientBucket", () => {
  it.each([
    ["192.0.2.7", "192.0.2.7"],
    ["::ffff:192.0.2.7", "192.0.2.7"],
    ["::FFFF:192.0.2.7", "192.0.2.7"],
    ["2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"],
    ["2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"],
    ["2001:0DB8:0001:0002::1", "2001:db8:1:2::/64"],
    ["2001:db8::1", "2001:db8:0:0::/64"],
    ["::1", "0:0:0:0::/64"],
    ["::", "0:0:0:0::/64"],
    ["fe80::1%eth0", "fe80:0:0:0::/64"],
    ["64:ff9b::192.0.2.33", "64:ff9b:0:0::/64"],
    ["unknown", "unknown"],
  ])("%s → %s", (address, bucket) => {
    expect(clientBucket(address)).toBe(bucket);
  });

  it("gives every address of one /64 the same budget, and neighbouring /64s different ones", () => {
    expect(clientBucket("2001:db8:aa:bb::1")).toBe(clientBucket("2001:db8:aa:bb:1234:5678:9abc:def0"));
    expect(clientBucket("2001:db8:aa:bb::1")).not.toBe(clientBucket("2001:db8:aa:bc::1"));
  });
});
