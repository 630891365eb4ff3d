import { createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";

let token: SoftHsmToken;
let client: TokenClient;

beforeAll(async () => {
  token = createSoftHsmToken("client-test");
  useSoftHsmEnv(token);
  client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin });
});
afterAll(async () => {
  await client?.close();
  token?.remove();
});

describe("TokenClient on a real SoftHSM2 token", () => {
  it("generates an EC P-256 key inside the token that signs ES256 verifiable with its public half", async () => {
    const info = await client.call("generate", "es-key", { kind: "ec", curve: "P-256" });
    const data = Buffer.from("signing input");
    const signature = await client.call("sign", "es-key", "ES256", data);
    expect(signature.byteLength).toBe(64);
    const key = createPublicKey({ key: info.publicJwk, format: "jwk" });
    expect(verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
  });

  it("keeps the private key sensitive and non-extractable: its value cannot be read", async () => {
    const attributes = await client.call("attributes", "es-key");
    expect(attributes).toEqual({ sensitive: true, extractable: false, alwaysSensitive: true, neverExtractable: true, token: true, private: true, valueReadable: false });
  });
});
