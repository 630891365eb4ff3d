import { generateKeyPairSync, sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ecdsaRawToDer } from "../../src/pkcs11/ecdsa-der.js";

describe("ecdsaRawToDer (a token's raw r||s → X.509's ECDSA-Sig-Value)", () => {
  it("gives DER that OpenSSL verifies, for P-256 and P-384 signatures of every shape", () => {
    for (const [curve, hash, rounds] of [["P-256", "sha256", 300], ["P-384", "sha384", 100]] as const) {
      const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: curve });
      for (let i = 0; i < rounds; i += 1) {
        const data = Buffer.from(`message ${i}`);
        const raw = sign(hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" });
        expect(verify(hash, data, { key: publicKey, dsaEncoding: "der" }, ecdsaRawToDer(raw))).toBe(true);
      }
    }
  });

  it("drops leading zeros and adds one before a set top bit (minimal, positive INTEGERs)", () => {
    const r = Buffer.alloc(32);
    r[31] = 1;
    const s = Buffer.alloc(32, 0xff);
    const der = ecdsaRawToDer(Buffer.concat([r, s]));
    expect(der.toString("hex")).toBe(`3026020101022100${"ff".repeat(32)}`);
  });

  it("refuses what is not a raw signature", () => {
    expect(() => ecdsaRawToDer(Buffer.alloc(63))).toThrow(/not a raw ECDSA signature/);
  });
});
