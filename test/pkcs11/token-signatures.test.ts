/**
 * Every signature form the token signs, on a real SoftHSM2 token, each verified by node:crypto
 * (OpenSSL) against the public half the token reports: the JWS forms (ES256 raw r||s, RS256,
 * PS256 with MGF1-SHA256 and a 32-byte salt) and the CA's X.509 forms through the CaKey port
 * (DER ECDSA-Sig-Value with SHA-256 and SHA-384, PKCS#1 v1.5 SHA-256); keys generated inside the
 * token in every size offered; RFC 7512 URIs resolved to token keys.
 */
import { constants, createPublicKey, verify } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePkcs11Uri, resolvePkcs11Key } from "../../src/pkcs11/pkcs11-uri.js";
import { openTokenCaKey } from "../../src/pkcs11/token-ca-key.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { tokenSigningKey } from "../../src/pkcs11/token-signer.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";

let token: SoftHsmToken;
let client: TokenClient;
const data = Buffer.from("tbs bytes of a certificate, or a JWS signing input");

beforeAll(async () => {
  token = createSoftHsmToken("signatures-test");
  useSoftHsmEnv(token);
  client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin }, { timeoutMs: 20_000 });
  await client.call("generate", "ec256", { kind: "ec", curve: "P-256" });
  await client.call("generate", "ec384", { kind: "ec", curve: "P-384" });
  await client.call("generate", "rsa2048", { kind: "rsa", bits: 2048 });
}, 60_000);

afterAll(async () => {
  await client?.close();
  token?.remove();
});

const publicKeyOf = async (label: string) => createPublicKey({ key: { ...(await client.call("findKey", label))!.publicJwk }, format: "jwk" });

describe("JWS signatures through the token", () => {
  it("ES256: 64 bytes r||s, verified as IEEE P1363", async () => {
    const signer = await tokenSigningKey(client, (await client.call("findKey", "ec256"))!);
    expect(signer.alg).toBe("ES256");
    const signature = await signer.sign(data);
    expect(signature.byteLength).toBe(64);
    expect(verify("sha256", data, { key: await publicKeyOf("ec256"), dsaEncoding: "ieee-p1363" }, signature)).toBe(true);
  });

  it("RS256: RSASSA-PKCS1-v1_5 with SHA-256", async () => {
    const signer = await tokenSigningKey(client, (await client.call("findKey", "rsa2048"))!, "RS256");
    expect(verify("sha256", data, { key: await publicKeyOf("rsa2048"), padding: constants.RSA_PKCS1_PADDING }, await signer.sign(data))).toBe(true);
  });

  it("PS256: RSASSA-PSS, SHA-256, MGF1-SHA256, salt 32 (a verifier demanding exactly 32 accepts it)", async () => {
    const signer = await tokenSigningKey(client, (await client.call("findKey", "rsa2048"))!, "PS256");
    const signature = await signer.sign(data);
    const key = await publicKeyOf("rsa2048");
    expect(verify("sha256", data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, signature)).toBe(true);
    expect(verify("sha256", data, { key, padding: constants.RSA_PKCS1_PADDING }, signature)).toBe(false);
  });

  it("refuses an algorithm the key cannot sign", async () => {
    await expect(tokenSigningKey(client, (await client.call("findKey", "ec384"))!, "ES256")).rejects.toThrow(/EC P-384\) cannot sign ES256/);
  });
});

describe("the CA key in the token (CaKey port), named by an RFC 7512 URI", () => {
  it("signs DER ECDSA-Sig-Value with SHA-256 on P-256 and SHA-384 on P-384", async () => {
    for (const [label, hash] of [["ec256", "sha256"], ["ec384", "sha384"]] as const) {
      const ca = await openTokenCaKey(client, `pkcs11:object=${label};type=private`);
      expect(ca.custody).toBe("pkcs11");
      expect(ca.signingAlgorithm).toEqual({ name: "ECDSA", hash: hash === "sha256" ? "SHA-256" : "SHA-384" });
      const signature = await ca.sign(data);
      expect(signature[0]).toBe(0x30);
      // DER, strictly: OpenSSL's DER decoder accepts it.
      expect(verify(hash, data, { key: ca.publicKey, dsaEncoding: "der" }, signature)).toBe(true);
    }
  });

  it("signs PKCS#1 v1.5 SHA-256 with an RSA key, found by id=", async () => {
    const { id } = (await client.call("findKey", "rsa2048"))!;
    const ca = await openTokenCaKey(client, `pkcs11:token=${token.label};id=${id.replace(/../g, "%$&")}`);
    expect(ca.signingAlgorithm).toEqual({ name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" });
    expect(verify("sha256", data, ca.publicKey, await ca.sign(data))).toBe(true);
  });

  it("parses and refuses URIs with clear reasons", async () => {
    expect(parsePkcs11Uri("pkcs11:object=broker%20ca;token=broker")).toEqual({ object: "broker ca", id: undefined, token: "broker" });
    expect(parsePkcs11Uri("pkcs11:id=%01%ff")).toEqual({ object: undefined, id: "01ff", token: undefined });
    expect(() => parsePkcs11Uri("pkcs11:object=a?pin-value=1234")).toThrow(/query attributes/);
    expect(() => parsePkcs11Uri("pkcs11:token=x")).toThrow(/object= .* or id=/);
    expect(() => parsePkcs11Uri("pkcs11:object=a;type=cert")).toThrow(/type must be private/);
    expect(() => parsePkcs11Uri("pkcs11:object=a;serial=1")).toThrow(/"serial" is not supported/);
    await expect(resolvePkcs11Key(client, parsePkcs11Uri("pkcs11:object=ec256;token=other"))).rejects.toThrow(/names token "other"/);
    await expect(resolvePkcs11Key(client, parsePkcs11Uri("pkcs11:object=nope"))).rejects.toThrow(/holds no private key labelled "nope"/);
  });
});

describe("keys generated inside the token", () => {
  it("EC P-384 and RSA 3072 too, all sensitive and never extractable", async () => {
    const rsa = await client.call("generate", "rsa3072", { kind: "rsa", bits: 3072 });
    expect(Buffer.from((rsa.publicJwk as { n: string }).n, "base64url").length).toBe(384);
    for (const label of ["ec256", "ec384", "rsa2048", "rsa3072"]) {
      expect(await client.call("attributes", label)).toMatchObject({ sensitive: true, extractable: false, neverExtractable: true, valueReadable: false });
    }
  }, 60_000);
});
