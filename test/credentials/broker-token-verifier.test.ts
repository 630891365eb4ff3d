import { generateKeyPairSync, type KeyObject } from "node:crypto";
import fc from "fast-check";
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JWK } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { createBrokerTokenVerifier, type BrokerTokenVerifier } from "../../src/credentials/broker-token-verifier.js";
import type { KeyStore } from "../../src/credentials/key-store.js";
import { BrokerError } from "../../src/errors/broker-error.js";
import { ManualClock } from "../../src/lib/clock.js";
import { ACCESS_TOKEN_CLAIMS, ACCESS_TOKEN_TYP, isBrokerSigningAlgorithm, MAX_BROKER_TOKEN_CHARS } from "../../src/protocol/broker-tokens.js";
import { b64u, ecdsa, forgeSignature, type ForgeAlgorithm } from "../support/jws-forge.js";

/**
 * Differential test: the broker-token verifier (node:crypto, lib/compact-jwt.ts) against the same
 * verifier as it was written over jose's jwtVerify, kept here as the reference. Every token must
 * get the same claims, or the same refusal (code, description and detail), or the same error.
 */

const ISSUER = "https://broker.test";
const NOW = 1_785_000_000;
const SEED = 0x14b;

/**
 * The verifier as it was before node:crypto: jose's jwtVerify over the published keys, allowing
 * the broker algorithms (ES256, RS256, PS256) that the published keys have. jose's key set picks
 * only a key whose `alg` is the header's; ours says so explicitly too, with the same error.
 */
function joseReference(options: { issuer: string; keys: KeyStore; clock: ManualClock }) {
  const invalid = (label: string, what: string, detail: string) => new BrokerError("invalid_request", `${label} ${what}`, { detail });
  return async (token: string, label = "subject_token") => {
    if (token.length > MAX_BROKER_TOKEN_CHARS) throw invalid(label, "is too large", "oversized broker token");
    try {
      const { payload } = await jwtVerify(token, createLocalJWKSet({ keys: options.keys.publishedKeys().map((jwk) => ({ ...jwk })) }), {
        issuer: options.issuer,
        algorithms: [...new Set(options.keys.publishedKeys().map((jwk) => jwk.alg).filter(isBrokerSigningAlgorithm))],
        typ: ACCESS_TOKEN_TYP,
        currentDate: new Date(options.clock.now()),
        requiredClaims: [...ACCESS_TOKEN_CLAIMS, "client_id"],
      });
      if (!Number.isFinite(payload.exp) || typeof payload.jti !== "string" || typeof payload.client_id !== "string") {
        throw invalid(label, "is not a valid access token of this broker", "malformed broker token claims");
      }
      if (payload.scope !== undefined && typeof payload.scope !== "string") throw invalid(label, "is not a valid access token of this broker", "scope claim is not a string");
      return payload;
    } catch (error) {
      if (error instanceof BrokerError) throw error;
      if (error instanceof joseErrors.JWTExpired) throw invalid(label, "has expired", error.message);
      if (error instanceof joseErrors.JOSEError) throw invalid(label, "is not a valid access token of this broker", `${error.code}: ${error.message}`);
      throw error;
    }
  };
}

async function outcome(run: () => Promise<unknown>): Promise<unknown> {
  try {
    return { ok: true, claims: await run() };
  } catch (error) {
    if (error instanceof BrokerError) return { ok: false, code: error.code, description: error.description, detail: error.detail };
    return { ok: false, name: (error as Error).constructor.name, message: (error as Error).message };
  }
}

interface Signer {
  readonly kid: string;
  readonly alg: ForgeAlgorithm;
  readonly privateKey: KeyObject;
  readonly publicJwk: JWK;
}

function signer(kid: string, alg: ForgeAlgorithm, generate: () => { privateKey: KeyObject; publicKey: KeyObject }): Signer {
  const { privateKey, publicKey } = generate();
  return { kid, alg, privateKey, publicJwk: { ...(publicKey.export({ format: "jwk" }) as JWK), kid, alg, use: "sig" } };
}

const member = (name: string, raw: string | undefined) => (raw === undefined ? [] : [`${JSON.stringify(name)}:${raw}`]);
const mostly = <T,>(usual: T, ...others: T[]): fc.Arbitrary<T> => fc.oneof({ weight: 8, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...others) });

const headerArb = fc.record({
  alg: mostly<string | undefined>('"ES256"', '"ES384"', '"RS256"', '"PS256"', '"HS256"', '"none"', '"es256"', undefined),
  typ: mostly<string | undefined>('"at+jwt"', '"AT+JWT"', '"application/at+jwt"', '"JWT"', "1", undefined),
  kid: mostly<string | undefined>('"k-active"', '"k-previous"', '"k-rs256"', '"k-ps256"', '"k-unknown"', "1", undefined),
  crit: mostly<string | undefined>(undefined, '["b64"]', '["exp"]', "[]"),
});

const claimsArb = fc.record({
  iss: mostly<string | undefined>(JSON.stringify(ISSUER), '"https://other.test"', "1", undefined),
  sub: mostly<string | undefined>('"w"', "3", undefined),
  aud: mostly<string | undefined>('"a"', '["a","b"]', "5", undefined),
  exp: mostly<string | undefined>(String(NOW + 60), String(NOW), String(NOW - 1), `"${NOW + 60}"`, "1e400", undefined),
  iat: mostly<string | undefined>(String(NOW), String(NOW + 1000), '"x"', undefined),
  jti: mostly<string | undefined>('"j-1"', "5", undefined),
  client_id: mostly<string | undefined>('"w"', "5", undefined),
  scope: mostly<string | undefined>(undefined, '"read"', "5", '["read"]'),
});

const mutationArb = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: "none", at: 0 }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom("malleate", "der", "zeroS", "flip", "truncate", "empty"), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constantFrom("insert=", "insert.", "insertA", "delete", "oversize"), at: fc.nat() }) },
);

function mutate(token: string, kind: string, at: number): string {
  const [header = "", payload = "", signature = ""] = token.split(".");
  const bytes = Buffer.from(signature, "base64url");
  const surgery: Record<string, () => Buffer> = {
    malleate: () => ecdsa.malleate(bytes),
    der: () => ecdsa.toDer(bytes),
    zeroS: () => ecdsa.zeroS(bytes),
    flip: () => Buffer.from(bytes.map((byte, i) => (i === at % Math.max(1, bytes.length) ? byte ^ 1 : byte))),
    truncate: () => bytes.subarray(0, bytes.length - 1),
    empty: () => Buffer.alloc(0),
  };
  const cut = surgery[kind];
  if (cut !== undefined) return `${header}.${payload}.${b64u(cut())}`;
  const index = at % (token.length + 1);
  if (kind === "delete") return token.slice(0, index) + token.slice(index + 1);
  if (kind === "oversize") return token + "A".repeat(MAX_BROKER_TOKEN_CHARS);
  if (kind.startsWith("insert")) return token.slice(0, index) + kind.slice("insert".length) + token.slice(index);
  return token;
}

describe("broker-token verifier with node:crypto, against its jose version", () => {
  let active: Signer;
  let previous: Signer;
  let signers: Signer[];
  let rs256: Signer;
  let ps256: Signer;
  const clock = new ManualClock(NOW * 1000 + 250);

  beforeAll(() => {
    active = signer("k-active", "ES256", () => generateKeyPairSync("ec", { namedCurve: "P-256" }));
    previous = signer("k-previous", "ES256", () => generateKeyPairSync("ec", { namedCurve: "P-256" }));
    const stranger = signer("k-active", "ES256", () => generateKeyPairSync("ec", { namedCurve: "P-256" }));
    const p384 = signer("k-active", "ES384", () => generateKeyPairSync("ec", { namedCurve: "P-384" }));
    const rsa = signer("k-active", "RS256", () => generateKeyPairSync("rsa", { modulusLength: 2048 }));
    rs256 = signer("k-rs256", "RS256", () => generateKeyPairSync("rsa", { modulusLength: 2048 }));
    ps256 = signer("k-ps256", "PS256", () => generateKeyPairSync("rsa", { modulusLength: 2048 }));
    // The PS256 key's own private key signing PKCS#1 v1.5 (RS256), and PSS with the RS256 key: alg confusion between the two RSA schemes.
    const ps256AsRs = { ...ps256, alg: "RS256" as const };
    const rs256AsPs = { ...rs256, alg: "PS256" as const };
    signers = [active, previous, stranger, p384, rsa, rs256, ps256, ps256AsRs, rs256AsPs];
  });

  /** The published key sets a broker may hold: one key, a rotation pair, kid-less keys, a stray type. */
  const publishedSets = (): JWK[][] => {
    const noKid = ({ kid: _kid, ...jwk }: JWK): JWK => jwk;
    return [
      [active.publicJwk],
      [active.publicJwk, previous.publicJwk],
      [noKid(active.publicJwk), noKid(previous.publicJwk)],
      [active.publicJwk, (signers[3] as Signer).publicJwk],
      // A rotation between algorithms: EC and both RSA schemes published at once.
      [active.publicJwk, rs256.publicJwk, ps256.publicJwk],
      [ps256.publicJwk],
    ];
  };
  const verifiers = (published: JWK[]): { ours: BrokerTokenVerifier; reference: ReturnType<typeof joseReference> } => {
    // The verifier reads publishedKeys() only; the signing half of the store is not needed here.
    const keys = { publishedKeys: () => published } as unknown as KeyStore;
    return { ours: createBrokerTokenVerifier({ issuer: ISSUER, keys, clock }), reference: joseReference({ issuer: ISSUER, keys, clock }) };
  };

  it("agrees on the broker's tokens with hostile headers, claims, signers, signatures and text (600 runs)", async () => {
    const sets = publishedSets().map(verifiers);
    const seen = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(headerArb, claimsArb, fc.nat({ max: 20 }), fc.nat({ max: sets.length - 1 }), mutationArb, async (h, c, signerPick, setPick, mutation) => {
        const header = b64u(`{${[...member("alg", h.alg), ...member("typ", h.typ), ...member("kid", h.kid), ...member("crit", h.crit)].join(",")}}`);
        const payload = b64u(`{${Object.entries(c).flatMap(([name, raw]) => member(name, raw)).join(",")}}`);
        // Mostly the active key; sometimes the previous one, an unpublished P-256 key, P-384 or an RSA key (right or wrong scheme).
        const by = signerPick < 12 ? active : (signers[signerPick % signers.length] as Signer);
        const signature = forgeSignature(by.alg, by.privateKey, Buffer.from(`${header}.${payload}`));
        const token = mutate(`${header}.${payload}.${b64u(signature)}`, mutation.kind, mutation.at);
        const { ours, reference } = sets[setPick] as (typeof sets)[number];
        const expected = await outcome(() => reference(token, "token"));
        expect(await outcome(() => ours.verify(token, "token")), token.slice(0, 300)).toEqual(expected);
        const key = (expected as { ok: boolean; description?: string }).ok ? "accepted" : String((expected as { description?: string }).description ?? "error");
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }),
      { seed: SEED, numRuns: 600 },
    );
    expect(seen.get("accepted") ?? 0).toBeGreaterThan(30);
    if (process.env.DIFF_STATS) console.info(Object.fromEntries(seen));
  });
});
