/**
 * signJwt: the bytes handed to the signer are exactly `header.payload` of the token it returns
 * (RFC 7515 §5.1), the payload is the claims' UTF-8 JSON, and the signature is the signer's bytes
 * in base64url, whatever kind of Uint8Array (and offset) the signer answers with.
 */
import { generateKeyPairSync } from "node:crypto";
import { importJWK, jwtVerify, exportJWK } from "jose";
import { describe, expect, it } from "vitest";
import { signJwt } from "../../src/credentials/jwt-signer.js";
import type { Signer } from "../../src/credentials/signer.js";
import { toSigningKey } from "../../src/credentials/signing-key.js";

const CLAIMS = { iss: "https://broker.example", sub: "wl-é-😀", aud: "https://api.example", exp: 2_000_000_000, note: "ü\u0000\"\\" };

/** A signer that answers fixed bytes from the middle of a larger buffer, and records what it signed. */
function recordingSigner(signature: Uint8Array): Signer & { readonly signed: Buffer[] } {
  const signed: Buffer[] = [];
  return {
    kid: "kid-1",
    alg: "ES256",
    signed,
    sign: (signingInput) => {
      signed.push(Buffer.from(signingInput));
      return signature;
    },
  };
}

describe("signJwt", () => {
  it("signs exactly the ASCII bytes of header.payload, and appends the signer's bytes in base64url", async () => {
    const backing = new Uint8Array(80).map((_, i) => i);
    const signature = backing.subarray(7, 71);
    const signer = recordingSigner(signature);
    const token = await signJwt(signer, "at+jwt", CLAIMS);
    const [header, payload, sig] = token.split(".") as [string, string, string];
    expect(signer.signed).toHaveLength(1);
    expect(signer.signed[0]?.toString("latin1")).toBe(`${header}.${payload}`);
    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({ alg: "ES256", typ: "at+jwt", kid: "kid-1" });
    expect(Buffer.from(payload, "base64url").toString("utf8")).toBe(JSON.stringify(CLAIMS));
    expect(Buffer.from(sig, "base64url")).toEqual(Buffer.from(signature));
  });

  it("an async signer answering a Buffer is the same", async () => {
    const bytes = Buffer.alloc(64, 0xab);
    const signer: Signer = { kid: "kid-2", alg: "ES256", sign: () => Promise.resolve(bytes) };
    const token = await signJwt(signer, "JWT", CLAIMS);
    expect(token.split(".")[2]).toBe(bytes.toString("base64url"));
  });

  it("a token signed with a real ES256 key verifies with jose, non-ASCII claims included", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const key = await toSigningKey(privateKey);
    for (let i = 0; i < 3; i += 1) {
      const token = await signJwt(key, "at+jwt", { ...CLAIMS, i });
      const { payload, protectedHeader } = await jwtVerify(token, await importJWK(await exportJWK(publicKey), "ES256"), { currentDate: new Date(1_900_000_000_000) });
      expect(protectedHeader).toEqual({ alg: "ES256", typ: "at+jwt", kid: key.kid });
      expect(payload).toEqual({ ...CLAIMS, i });
    }
  });
});
