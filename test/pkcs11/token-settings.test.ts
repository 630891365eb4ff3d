import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "../../src/config.js";

const TOKEN = { BROKER_SIGNING_KEYS: "pkcs11", BROKER_PKCS11_MODULE: "/usr/lib/softhsm/libsofthsm2.so", BROKER_PKCS11_TOKEN: "broker", BROKER_PKCS11_PIN_FILE: "pin" };

describe("BROKER_SIGNING_KEYS and BROKER_PKCS11_* (config.ts)", () => {
  it("defaults to key files", () => {
    expect(loadConfig({}).signingKeys).toEqual({ custody: "files" });
  });

  it("reads the token settings, the PIN file resolved and the timeout defaulted", () => {
    expect(loadConfig(TOKEN).signingKeys).toEqual({
      custody: "pkcs11",
      pkcs11: { module: TOKEN.BROKER_PKCS11_MODULE, token: "broker", slot: undefined, pin: { file: resolve("pin") }, timeoutMs: 2000 },
    });
    expect(loadConfig({ ...TOKEN, BROKER_PKCS11_TOKEN: undefined, BROKER_PKCS11_SLOT: "7", BROKER_PKCS11_PIN_FILE: undefined, BROKER_PKCS11_PIN: "1234", BROKER_PKCS11_TIMEOUT_MS: "500" }).signingKeys).toMatchObject({
      pkcs11: { token: undefined, slot: 7, pin: { value: "1234" }, timeoutMs: 500 },
    });
  });

  it("lists every problem at once", () => {
    const problems = () => loadConfig({ BROKER_SIGNING_KEYS: "pkcs11", BROKER_PKCS11_TOKEN: "a", BROKER_PKCS11_SLOT: "1" });
    expect(problems).toThrow(ConfigError);
    expect(problems).toThrow(/BROKER_PKCS11_MODULE: required[\s\S]*exactly one of BROKER_PKCS11_TOKEN[\s\S]*exactly one of BROKER_PKCS11_PIN_FILE/);
  });

  it("takes the token for CA keys alone: file signing keys, the token in config.pkcs11, a pkcs11: BROKER_CA_KEY kept as written", () => {
    const { BROKER_SIGNING_KEYS: _, ...tokenOnly } = TOKEN;
    const config = loadConfig({ ...tokenOnly, BROKER_CA_CERT: "ca.pem", BROKER_CA_KEY: "pkcs11:token=broker;object=ca-1" });
    expect(config.signingKeys).toEqual({ custody: "files" });
    expect(config.pkcs11).toMatchObject({ module: TOKEN.BROKER_PKCS11_MODULE, token: "broker" });
    expect(config.ca).toEqual({ certFile: resolve("ca.pem"), keyFile: "pkcs11:token=broker;object=ca-1", chainFile: undefined });
    expect(loadConfig({}).pkcs11).toBeUndefined();
  });

  it("requires the token for a pkcs11: BROKER_CA_KEY, and the whole token once any BROKER_PKCS11_* is set", () => {
    expect(() => loadConfig({ BROKER_CA_CERT: "ca.pem", BROKER_CA_KEY: "pkcs11:object=ca-1" })).toThrow(/BROKER_PKCS11_MODULE: required with a pkcs11: BROKER_CA_KEY/);
    // The scheme is case-insensitive (RFC 3986 §3.1): never read as a file path.
    expect(() => loadConfig({ BROKER_CA_CERT: "ca.pem", BROKER_CA_KEY: "PKCS11:object=ca-1" })).toThrow(/BROKER_PKCS11_MODULE: required with a pkcs11: BROKER_CA_KEY/);
    expect(() => loadConfig({ BROKER_PKCS11_MODULE: "/x.so" })).toThrow(/exactly one of BROKER_PKCS11_TOKEN[\s\S]*exactly one of BROKER_PKCS11_PIN_FILE/);
  });

  it("refuses bad values", () => {
    expect(() => loadConfig({ ...TOKEN, BROKER_PKCS11_TIMEOUT_MS: "5" })).toThrow(/BROKER_PKCS11_TIMEOUT_MS/);
    expect(() => loadConfig({ ...TOKEN, BROKER_SIGNING_KEYS: "kms" })).toThrow(/BROKER_SIGNING_KEYS/);
    expect(() => loadConfig({ ...TOKEN, BROKER_PKCS11_TOKEN: undefined, BROKER_PKCS11_SLOT: "one" })).toThrow(/must be a slot id/);
  });
});
