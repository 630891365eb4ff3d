import { availableParallelism } from "node:os";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../src/config.js";

describe("loadConfig", () => {
  it("has safe defaults", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      issuerUrl: "http://127.0.0.1:8080",
      devKeys: true,
      maxTokenLifetimeSeconds: 900,
      maxBodyBytes: 65_536,
      watchPolicies: true,
    });
    expect(config.issuersFile.endsWith("policies/issuers.yaml")).toBe(true);
  });

  it("reads the managed CA folder (default <keys>/ca) and the CA expiry warning horizon (default 30d)", () => {
    expect(loadConfig({})).toMatchObject({ caDir: expect.stringMatching(/\/keys\/ca$/), caExpiryWarningSeconds: 30 * 86_400 });
    expect(loadConfig({ BROKER_KEYS_DIR: "/srv/keys" }).caDir).toBe("/srv/keys/ca");
    expect(loadConfig({ BROKER_CA_DIR: "/srv/ca", BROKER_CA_EXPIRY_WARNING: "720h" })).toMatchObject({ caDir: "/srv/ca", caExpiryWarningSeconds: 720 * 3600 });
    expect(() => loadConfig({ BROKER_CA_EXPIRY_WARNING: "soon" })).toThrow(/BROKER_CA_EXPIRY_WARNING must be a duration like 30d/);
  });

  it("runs one process by default; BROKER_WORKERS takes 1–64 or auto, and more than one needs REDIS_URL", () => {
    const redis = { REDIS_URL: "redis://127.0.0.1:6379" };
    expect(loadConfig({}).workers).toBe(1);
    expect(loadConfig({ BROKER_WORKERS: "1" }).workers).toBe(1);
    expect(loadConfig({ ...redis, BROKER_WORKERS: "64" }).workers).toBe(64);
    expect(loadConfig({ ...redis, BROKER_WORKERS: "auto" }).workers).toBe(Math.min(availableParallelism(), 64));
    for (const bad of ["0", "65", "-1", "1.5", "two", "", " 2", "002"]) {
      expect(() => loadConfig({ ...redis, BROKER_WORKERS: bad }), bad).toThrow(/BROKER_WORKERS: must be auto or an integer 1–64/);
    }
    // Listed with the other bad settings, not instead of them.
    expect(() => loadConfig({ BROKER_WORKERS: "many", BROKER_PORT: "99999" })).toThrow(/BROKER_PORT[\s\S]*BROKER_WORKERS|BROKER_WORKERS[\s\S]*BROKER_PORT/);
    const withoutRedis = () => loadConfig({ BROKER_WORKERS: "2" });
    expect(withoutRedis).toThrow(ConfigError);
    expect(withoutRedis).toThrow(/BROKER_WORKERS: 2 workers need the shared store: set REDIS_URL/);
  });

  it("writes JSON logs unless pretty output is asked for", () => {
    expect(loadConfig({}).logPretty).toBe(false);
    expect(loadConfig({ LOG_PRETTY: "true" }).logPretty).toBe(true);
  });

  it("never generates keys in production, and refuses to be told to", () => {
    expect(loadConfig({ NODE_ENV: "production" })).toMatchObject({ devKeys: false, production: true });
    expect(() => loadConfig({ NODE_ENV: "production", BROKER_DEV_KEYS: "on" })).toThrow(/BROKER_DEV_KEYS: on is for development/);
    expect(loadConfig({ BROKER_DEV_KEYS: "on" })).toMatchObject({ devKeys: true, production: false });
    expect(loadConfig({ BROKER_DEV_KEYS: "off" }).devKeys).toBe(false);
  });

  it("lists every bad setting at once", () => {
    let message = "";
    try {
      loadConfig({ BROKER_PORT: "99999", BROKER_MAX_TOKEN_LIFETIME: "2d", BROKER_ISSUER_URL: "ftp://x", LOG_LEVEL: "loud" });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      message = (error as Error).message;
    }
    for (const name of ["BROKER_PORT", "BROKER_MAX_TOKEN_LIFETIME", "BROKER_ISSUER_URL", "LOG_LEVEL"]) expect(message).toContain(name);
  });

  it("refuses a headers timeout longer than the request timeout", () => {
    expect(() => loadConfig({ BROKER_HEADERS_TIMEOUT: "30s" })).toThrow(/BROKER_HEADERS_TIMEOUT: must not exceed BROKER_REQUEST_TIMEOUT/);
  });

  it("strips a trailing slash from the issuer URL", () => {
    expect(loadConfig({ BROKER_ISSUER_URL: "https://broker.example.com/" }).issuerUrl).toBe("https://broker.example.com");
  });
});

describe("loadConfig: revocation and admin settings", () => {
  const message = (env: Record<string, string>) => {
    try {
      loadConfig(env);
    } catch (error) {
      return (error as Error).message;
    }
    return "";
  };

  it("the workload inventory: on, 90 days, 100,000 workloads by default; days or hours from 1d to 400d; off", () => {
    expect(loadConfig({}).inventory).toEqual({ ttlSeconds: 90 * 86_400, maxWorkloads: 100_000 });
    expect(loadConfig({ BROKER_INVENTORY_TTL: "48h", BROKER_INVENTORY_MAX_WORKLOADS: "500" }).inventory).toEqual({ ttlSeconds: 48 * 3600, maxWorkloads: 500 });
    expect(loadConfig({ BROKER_INVENTORY: "off" }).inventory).toBeUndefined();
    for (const ttl of ["12h", "401d", "soon", "0d"]) expect(message({ BROKER_INVENTORY_TTL: ttl })).toContain("BROKER_INVENTORY_TTL must be a duration like 90d");
    expect(message({ BROKER_INVENTORY_MAX_WORKLOADS: "0" })).toContain("BROKER_INVENTORY_MAX_WORKLOADS");
  });

  it("defaults to the in-memory store and bounded Redis timeouts", () => {
    expect(loadConfig({})).toMatchObject({ redisUrl: undefined, redisCommandTimeoutMs: 500, redisConnectTimeoutMs: 2000, adminSecret: undefined });
  });

  it("revocation writes wait for replicas: auto by default, a count, and a WAIT below the command timeout", () => {
    expect(loadConfig({})).toMatchObject({ redisRevocationReplicas: "auto", redisRevocationWaitMs: 250 });
    expect(loadConfig({ BROKER_REDIS_REVOCATION_REPLICAS: "2", BROKER_REDIS_COMMAND_TIMEOUT_MS: "300" })).toMatchObject({
      redisRevocationReplicas: 2,
      redisRevocationWaitMs: 150,
    });
    expect(() => loadConfig({ BROKER_REDIS_REVOCATION_REPLICAS: "many" })).toThrow(/BROKER_REDIS_REVOCATION_REPLICAS/);
    expect(() => loadConfig({ BROKER_REDIS_REVOCATION_REPLICAS: "17" })).toThrow(ConfigError);
    expect(() => loadConfig({ BROKER_REDIS_REVOCATION_WAIT_MS: "500" })).toThrow(/below BROKER_REDIS_COMMAND_TIMEOUT_MS/);
  });

  it("accepts the four Redis URL forms and refuses others", () => {
    for (const url of ["redis://127.0.0.1:6379", "rediss://r.example:6380/2", "redis+sentinel://s1:26379,s2:26379/mymaster", "redis+cluster://n1:7000,n2:7001"]) {
      expect(loadConfig({ REDIS_URL: url }).redisUrl).toBe(url);
    }
    expect(message({ REDIS_URL: "http://127.0.0.1:6379" })).toContain("REDIS_URL");
  });

  it("refuses a short or oddly encoded admin secret without echoing it", () => {
    const short = "short-secret-value";
    const text = message({ BROKER_ADMIN_SECRET: short });
    expect(text).toContain("BROKER_ADMIN_SECRET");
    expect(text).not.toContain(short);
    expect(message({ BROKER_ADMIN_SECRET: `${"a".repeat(40)} with spaces` })).toContain("BROKER_ADMIN_SECRET");
    expect(loadConfig({ BROKER_ADMIN_SECRET: "" }).adminSecret).toBeUndefined();
    expect(loadConfig({ BROKER_ADMIN_SECRET: "A".repeat(32) }).adminSecret).toBe("A".repeat(32));
  });
});
