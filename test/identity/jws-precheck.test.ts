import { createHmac, createPublicKey, type JsonWebKey } from "node:crypto";
import { exportSPKI } from "jose";
import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors/broker-error.js";
import { precheckJws } from "../../src/identity/jws-precheck.js";
import { generateSigningKey, signCompact } from "../support/test-issuer.js";

const b64 = (value: unknown): string => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
const ISS = "https://idp.example.com";
const payload = { iss: ISS, sub: "s", aud: "a", exp: 2_000_000_000 };
/** A structurally valid token with the given header (signature bytes are not checked here). */
const withHeader = (header: unknown, body: unknown = payload): string => `${b64(header)}.${b64(body)}.${b64("signature")}`;

function rejection(token: string, maxBytes?: number): BrokerError {
  try {
    precheckJws(token, maxBytes === undefined ? {} : { maxBytes });
  } catch (error) {
    if (error instanceof BrokerError) return error;
    throw error;
  }
  throw new Error("expected rejection");
}

describe("precheckJws", () => {
  it("returns the header and the unverified iss of a well-formed token", async () => {
    const key = await generateSigningKey("ES256", "k1");
    const token = await signCompact(JSON.stringify(payload), key);
    expect(precheckJws(token)).toEqual({ header: { alg: "ES256", typ: "JWT", kid: "k1" }, unverifiedIss: ISS });
  });

  it("says when a token is refused because it ends with a newline (a token file read whole), and never accepts it", async () => {
    const key = await generateSigningKey("ES256", "k1");
    const token = await signCompact(JSON.stringify(payload), key);
    for (const tail of ["\n", "\r\n", " "]) {
      const refused = rejection(`${token}${tail}`);
      expect(refused.description).toBe("subject_token is not a compact JWS (it ends with whitespace, such as the newline of a token file: remove it)");
      expect(refused.detail).not.toContain(token);
    }
    expect(rejection("not.a-jws").description).toBe("subject_token is not a compact JWS");
  });

  it("refuses alg none", () => {
    const token = `${b64({ alg: "none" })}.${b64(payload)}.`;
    // Unsigned: the empty signature segment already fails the shape check.
    expect(rejection(token).description).toBe("subject_token is not a compact JWS");
    expect(rejection(withHeader({ alg: "none" })).description).toBe("subject_token algorithm is not accepted");
  });

  it("refuses HS256 signed with the issuer's public key as the HMAC secret (alg confusion)", async () => {
    const key = await generateSigningKey("RS256", "k1");
    const secret = await exportSPKI(createPublicKey({ key: key.publicJwk as JsonWebKey, format: "jwk" }));
    const signingInput = `${b64({ alg: "HS256", typ: "JWT", kid: "k1" })}.${b64(payload)}`;
    const token = `${signingInput}.${createHmac("sha256", secret).update(signingInput).digest("base64url")}`;
    const error = rejection(token);
    expect(error.code).toBe("invalid_request");
    expect(error.description).toBe("subject_token algorithm is not accepted");
  });

  it.each(["HS384", "HS512", "RSA-OAEP", "", 42, null])("refuses alg %j", (alg) => {
    expect(rejection(withHeader({ alg })).description).toBe("subject_token algorithm is not accepted");
  });

  it("refuses a header without alg", () => {
    expect(rejection(withHeader({ typ: "JWT" })).description).toBe("subject_token algorithm is not accepted");
  });

  it.each([
    ["jku", "https://evil.example/jwks"],
    ["x5u", "https://evil.example/cert.pem"],
    ["jwk", { kty: "EC", crv: "P-256", x: "AA", y: "AA" }],
    ["x5c", ["MIIB"]],
    ["crit", ["exp"]],
    ["b64", false],
    ["zip", "DEF"],
    ["enc", "A256GCM"],
  ])("refuses the %s header", (name, value) => {
    const error = rejection(withHeader({ alg: "ES256", [name]: value }));
    expect(error.description).toBe(`subject_token header parameter "${name}" is not accepted`);
  });

  it("refuses a JWE (five segments)", () => {
    expect(rejection("a.b.c.d.e").description).toBe("subject_token must be a signed JWT, not an encrypted one (JWE)");
  });

  it("refuses an oversized token before parsing it", () => {
    const big = withHeader({ alg: "ES256" }, { ...payload, pad: "x".repeat(20_000) });
    expect(rejection(big).description).toBe("subject_token is too large");
    expect(rejection(withHeader({ alg: "ES256" }), 20).description).toBe("subject_token is too large");
  });

  it.each([
    ["", "empty"],
    ["garbage", "one segment"],
    ["a.b", "two segments"],
    ["a.b.c.d", "four segments"],
    [`${b64({ alg: "ES256" })}=.${b64(payload)}.c2ln`, "padding"],
    [`${b64({ alg: "ES256" })}.${b64(payload)}.c2l+`, "base64 (not base64url) alphabet"],
    [`${b64({ alg: "ES256" })}..c2ln`, "empty payload"],
    [`${b64({ alg: "ES256" })}.${b64(payload)}.`, "empty signature"],
    [`${b64({ alg: "ES256" })}.${b64(payload)}.a`, "impossible base64 length"],
  ])("refuses malformed compact JWS %j (%s)", (token) => {
    expect(rejection(token).description).toBe("subject_token is not a compact JWS");
  });

  it.each([
    ['"ES256"', "a JSON string"],
    ["[1,2]", "an array"],
    ["null", "null"],
    ["{not json", "not JSON"],
  ])("refuses a header that is %s", (header) => {
    expect(rejection(`${b64(header)}.${b64(payload)}.c2ln`).description).toBe("subject_token header is not a JSON object");
  });

  it("refuses a header that is not UTF-8", () => {
    const header = Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString("base64url");
    expect(rejection(`${header}.${b64(payload)}.c2ln`).description).toBe("subject_token header is not a JSON object");
  });

  it("refuses a payload that is not a JSON object or has no string iss", () => {
    expect(rejection(withHeader({ alg: "ES256" }, "[1]")).description).toBe("subject_token payload is not a JSON object");
    expect(rejection(withHeader({ alg: "ES256" }, { sub: "x" })).description).toBe('subject_token is missing the "iss" claim');
    expect(rejection(withHeader({ alg: "ES256" }, { iss: 7 })).description).toBe('subject_token is missing the "iss" claim');
  });

  it("refuses a non-string kid", () => {
    expect(rejection(withHeader({ alg: "ES256", kid: 1 })).description).toBe('subject_token header "kid" is invalid');
  });

  it("names the actor_token when asked to", () => {
    expect(() => precheckJws("garbage", { label: "actor_token" })).toThrow("actor_token is not a compact JWS");
  });
});
