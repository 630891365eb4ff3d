import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

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

  it("never generates keys in production unless told to", () => {
    expect(loadConfig({ NODE_ENV: "production" }).devKeys).toBe(false);
    expect(loadConfig({ NODE_ENV: "production", BROKER_DEV_KEYS: "on" }).devKeys).toBe(true);
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

  it("strips a trailing slash from the issuer URL", () => {
    expect(loadConfig({ BROKER_ISSUER_URL: "https://broker.example.com/" }).issuerUrl).toBe("https://broker.example.com");
  });
});
