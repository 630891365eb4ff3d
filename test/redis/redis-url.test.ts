import { describe, expect, it } from "vitest";
import { silentLog } from "../../src/lib/log.js";
import { createRedisClient, parseRedisUrl, reconnectDelayMs, redactRedisUrl } from "../../src/redis/redis-connection.js";

describe("parseRedisUrl", () => {
  it("standalone: host, port, db, credentials, TLS", () => {
    expect(parseRedisUrl("redis://localhost")).toEqual({
      mode: "standalone",
      host: "localhost",
      port: 6379,
      tls: false,
      db: 0,
      username: undefined,
      password: undefined,
    });
    expect(parseRedisUrl("rediss://broker:s%40cret@redis.internal:6380/2")).toEqual({
      mode: "standalone",
      host: "redis.internal",
      port: 6380,
      tls: true,
      db: 2,
      username: "broker",
      password: "s@cret",
    });
    expect(parseRedisUrl("redis://:pw@[::1]:7000")).toMatchObject({ host: "::1", port: 7000, password: "pw", username: undefined });
  });

  it("sentinel: every sentinel, the master name, db and password", () => {
    expect(parseRedisUrl("redis+sentinel://:pw@s1:26379,s2:26380,s3/mymaster?db=3")).toEqual({
      mode: "sentinel",
      sentinels: [
        { host: "s1", port: 26379 },
        { host: "s2", port: 26380 },
        { host: "s3", port: 26379 },
      ],
      masterName: "mymaster",
      db: 3,
      username: undefined,
      password: "pw",
    });
    expect(parseRedisUrl("redis+sentinel://10.0.0.1:26379/main")).toMatchObject({ masterName: "main", db: 0, password: undefined });
  });

  it("cluster: every seed node and the password", () => {
    expect(parseRedisUrl("redis+cluster://user:pw@n1:7000,n2:7001,[fd00::3]:7002")).toEqual({
      mode: "cluster",
      nodes: [
        { host: "n1", port: 7000 },
        { host: "n2", port: 7001 },
        { host: "fd00::3", port: 7002 },
      ],
      username: "user",
      password: "pw",
    });
  });

  it.each([
    ["http://localhost:6379", /unsupported scheme "http:"/],
    ["localhost:6379", /no scheme|unsupported scheme/],
    ["", /no scheme/],
    ["redis://", /not a valid URL|no host/],
    ["redis://localhost/16", /database "16"/],
    ["redis://localhost/x", /database "x"/],
    ["redis://localhost?family=6", /query parameters/],
    ["redis+sentinel://s1:26379", /master name/],
    ["redis+sentinel://s1:26379/m?db=99", /database "99"/],
    ["redis+sentinel://s1:26379/m?tls=1", /unknown query parameter "tls"/],
    ["redis+cluster://n1:7000/1", /no path/],
    ["redis+cluster://n1:99999", /out of range/],
    ["redis+cluster://n1:7000,,n2:7001", /host #2/],
  ])("refuses %j with a clear message listing the accepted forms", (url, why) => {
    expect(() => parseRedisUrl(url)).toThrow(why);
    expect(() => parseRedisUrl(url)).toThrow(/redis\+sentinel:\/\/.*\n.*redis\+cluster:\/\//s);
  });

  it("never repeats a password in an error", () => {
    for (const url of ["redis+cluster://:hunter2@x@n1:7000", "redis+cluster://:hunter2@n1:7000,b@d:1", "redis://:hunter2@h/99"]) {
      expect(() => parseRedisUrl(url)).toThrow();
      try {
        parseRedisUrl(url);
      } catch (error) {
        expect(String(error)).not.toContain("hunter2");
      }
    }
  });
});

describe("redactRedisUrl", () => {
  it("hides the password and keeps the rest", () => {
    expect(redactRedisUrl("redis://user:hunter2@h:6379/1")).toBe("redis://user:***@h:6379/1");
    expect(redactRedisUrl("redis+sentinel://:hunter2@s1:1,s2:2/m")).toBe("redis+sentinel://:***@s1:1,s2:2/m");
    expect(redactRedisUrl("redis://hunter2@h")).toBe("redis://***@h");
    expect(redactRedisUrl("redis://h:6379")).toBe("redis://h:6379");
  });
});

describe("createRedisClient", () => {
  it("refuses a bad scheme before connecting anywhere", () => {
    expect(() => createRedisClient("memcached://h:11211", { commandTimeoutMs: 100, connectTimeoutMs: 100, log: silentLog })).toThrow(
      /Accepted forms/,
    );
  });

  it("reconnects forever, backing off to at most a second", () => {
    expect([1, 2, 5, 10, 11, 1000, 1e6].map(reconnectDelayMs)).toEqual([100, 200, 500, 1000, 1000, 1000, 1000]);
  });
});
