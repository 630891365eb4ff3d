import fc from "fast-check";
import { createLocalJWKSet, jwtVerify, type CryptoKey, type JWK, type JWSHeaderParameters, type JWTVerifyOptions } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { verifyCompactJwt, type JwtRules, type ProtectedHeader } from "../../src/lib/compact-jwt.js";
import { KeyObjects } from "../../src/lib/jws-signature.js";
import {
  FORGE_ALGORITHMS,
  b64u,
  ecdsa,
  forgeCompact,
  forgeCryptoKeys,
  forgeKeys,
  forgeSignature,
  type ForgeAlgorithm,
  type ForgeCryptoKey,
  type ForgeKey,
} from "../support/jws-forge.js";

/**
 * Differential test: the node:crypto verifier (src/lib/compact-jwt.ts) against jose's
 * jwtVerify, the reference. Every token, valid, mutated or hostile, must get the same answer
 * from both: the same payload when accepted; the same error class, code, message, claim and
 * reason when refused (jose-errors.ts turns those into what callers see).
 */

const ISS = "https://issuer.example";
const AUD = "https://broker.test";
const NOW = 1_785_000_000;
const SEED = 0x14a;
const BROKER_REQUIRED = ["exp", "iss", "sub", "aud"];

/** jose's verify options as token-verifier.ts sets them, with what varies between issuers. */
interface Policy {
  readonly algorithms: readonly string[];
  /** undefined: jose's default (0), as the broker-token verifier leaves it. */
  readonly clockTolerance: number | undefined;
  readonly nowMs: number;
  readonly requireIat: boolean;
  /** false: no audience check, as the broker-token verifier (it checks `aud` itself where it matters). */
  readonly checkAudience: boolean;
  readonly typ: string | undefined;
}

/** The options both verifiers share, each optional one present only when set (as jose reads them). */
const sharedOptions = (policy: Policy) => ({
  issuer: ISS,
  ...(policy.checkAudience ? { audience: [AUD, "https://other-audience.test"] } : {}),
  ...(policy.clockTolerance === undefined ? {} : { clockTolerance: policy.clockTolerance }),
  ...(policy.typ === undefined ? {} : { typ: policy.typ }),
  requiredClaims: [...BROKER_REQUIRED, ...(policy.requireIat ? ["iat"] : [])],
  ...(policy.requireIat ? { maxTokenAge: 3600 } : {}),
});

const joseOptions = (policy: Policy): JWTVerifyOptions => ({ ...sharedOptions(policy), algorithms: [...policy.algorithms], currentDate: new Date(policy.nowMs) });

const rulesOf = (policy: Policy): JwtRules => ({ ...sharedOptions(policy), algorithms: new Set(policy.algorithms), now: Math.floor(policy.nowMs / 1000) });

const DEFAULT_POLICY: Policy = { algorithms: FORGE_ALGORITHMS, clockTolerance: 60, nowMs: NOW * 1000, requireIat: true, checkAudience: true, typ: undefined };

const policyArb: fc.Arbitrary<Policy> = fc.record({
  algorithms: fc.oneof(fc.constant(FORGE_ALGORITHMS as readonly string[]), fc.subarray([...FORGE_ALGORITHMS], { minLength: 1 })),
  clockTolerance: fc.constantFrom(0, 60, undefined),
  nowMs: fc.integer({ min: 0, max: 999 }).map((ms) => NOW * 1000 + ms),
  requireIat: fc.boolean(),
  checkAudience: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  typ: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom("JWT", "at+jwt", "application/AT+JWT") }),
});

type Outcome =
  | { readonly ok: true; readonly payload: unknown }
  | { readonly ok: false; readonly name: string; readonly code: unknown; readonly message: string; readonly claim: unknown; readonly reason: unknown };

async function outcome(run: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: true, payload: await run() };
  } catch (error) {
    const e = error as Error & { code?: unknown; claim?: unknown; reason?: unknown };
    return { ok: false, name: e.constructor.name, code: e.code, message: e.message, claim: e.claim, reason: e.reason };
  }
}

type KeyArgument = CryptoKey | ReturnType<typeof createLocalJWKSet>;

/** Both verifiers on one token; fails the test when they disagree, returns the shared outcome. */
async function agree(token: string, key: KeyArgument, policy: Policy = DEFAULT_POLICY): Promise<Outcome> {
  const reference = await outcome(async () => (await jwtVerify(token, key, joseOptions(policy))).payload);
  const ours = await outcome(() => verifyCompactJwt(token, typeof key === "function" ? (header: ProtectedHeader) => key(header as JWSHeaderParameters) : key, rulesOf(policy), keyObjects));
  expect(ours, `token ${token.slice(0, 400)}`).toEqual(reference);
  const name = reference.ok ? "accepted" : reference.name;
  tally.set(name, (tally.get(name) ?? 0) + 1);
  return reference;
}

/** How many tokens ended in each outcome (DIFF_STATS=1 prints it): the coverage of the properties. */
const tally = new Map<string, number>();
let keys: ForgeKey[];
let cryptoKeys: ForgeCryptoKey[];
let keyObjects: KeyObjects;
/** The signing keys usable with each algorithm, and the matching verification key. */
let pairs: { alg: ForgeAlgorithm; signer: ForgeKey; verifier: CryptoKey }[];

beforeAll(async () => {
  keys = forgeKeys();
  cryptoKeys = await forgeCryptoKeys(keys);
  keyObjects = new KeyObjects();
  pairs = [];
  for (const signer of keys.filter((key) => key.name !== "rsa-1024")) {
    for (const alg of signer.algorithms) {
      const verifier = cryptoKeys.find((candidate) => candidate.label === `${signer.name} as ${alg}`)?.key;
      if (verifier !== undefined) pairs.push({ alg, signer, verifier });
    }
  }
});

/** A JSON member as raw text: `undefined` leaves it out, so hostile literals (`1e400`) survive. */
const member = (name: string, raw: string | undefined): string[] => (raw === undefined ? [] : [`${JSON.stringify(name)}:${raw}`]);
const num = (value: number) => String(value);

/** The first value most of the time (9 in 10), else one of the others: hostile variants stay frequent without drowning the valid ones. */
const mostly = <T>(usual: T, ...others: T[]): fc.Arbitrary<T> => fc.oneof({ weight: 9, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...others) });

const claimsArb = fc.record({
  iss: mostly(JSON.stringify(ISS), '"https://evil.example"', "1", "null", JSON.stringify([ISS]), undefined),
  sub: mostly<string | undefined>('"repo:org/app"', "3", undefined),
  aud: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(JSON.stringify(AUD), JSON.stringify([AUD]), JSON.stringify(["x", AUD])) },
    { weight: 1, arbitrary: fc.constantFrom('["x"]', "5", `[5,${JSON.stringify(AUD)}]`, "{}", '""', "null", undefined) },
  ),
  exp: fc.oneof(
    { weight: 4, arbitrary: fc.constant(num(NOW + 300)) },
    { weight: 2, arbitrary: fc.constantFrom(num(NOW), num(NOW - 59), num(NOW - 60), num(NOW - 61), num(NOW + 0.5)) },
    { weight: 1, arbitrary: fc.constantFrom(`"${NOW + 300}"`, "null", "1e400", "-1", undefined) },
  ),
  nbf: mostly<string | undefined>(undefined, num(NOW + 59), num(NOW + 60), num(NOW + 61), num(NOW + 1000), '"x"', "null", "-1e400"),
  iat: fc.oneof(
    { weight: 4, arbitrary: fc.constant(num(NOW - 10)) },
    { weight: 2, arbitrary: fc.constantFrom(num(NOW + 59), num(NOW + 61), num(NOW - 3660), num(NOW - 3661), num(NOW - 5000)) },
    { weight: 1, arbitrary: fc.constantFrom('"1"', "null", undefined) },
  ),
  duplicate: mostly<string | undefined>(undefined, '"exp":0', `"iss":${JSON.stringify(ISS)}`, '"aud":"x"', '"__proto__":{"exp":1}'),
});

const claimsText = fc.oneof(
  { weight: 8, arbitrary: claimsArb.map((c) => `{${[...member("iss", c.iss), ...member("sub", c.sub), ...member("aud", c.aud), ...member("exp", c.exp), ...member("nbf", c.nbf), ...member("iat", c.iat), ...(c.duplicate ? [c.duplicate] : [])].join(",")}}`) },
  { weight: 1, arbitrary: fc.constantFrom("[]", `[{"iss":"${ISS}"}]`, "1", '"claims"', "null", "true", "{", "", " {} ", `{"iss":"${ISS}"} x`) },
);

/** Payload bytes: the text as UTF-8, or with a BOM, or broken UTF-8. */
const payloadSegment = fc.tuple(claimsText, mostly("utf8", "bom", "bad-utf8")).map(([text, encoding]) => {
  if (encoding === "bom") return b64u(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]));
  if (encoding === "bad-utf8") return b64u(Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xff]), Buffer.from(text.slice(-1))]));
  return b64u(text);
});

/** Header members beyond `alg`, each as raw JSON or absent. */
const headerExtrasArb = fc.record({
  typ: fc.constantFrom('"JWT"', undefined, '"at+jwt"', '"AT+JWT"', '"application/at+jwt"', "1"),
  kid: fc.constantFrom(undefined, '"k1"', "1", "null", '""', "{}"),
  crit: mostly<string | undefined>(undefined, "[]", '["b64"]', '["exp"]', '["b64","b64"]', '"b64"', "[1]", '[""]', '["b64","exp"]'),
  b64: mostly<string | undefined>(undefined, "true", "false", '"false"', "0"),
  algOverride: mostly<string | undefined>(undefined, '"none"', '"HS256"', '"Ed25519"', '""', "1", "null", '"es256"', "OMIT", "OTHER"),
  duplicateAlg: mostly<string | undefined>(undefined, '"none"', "SAME"),
  shape: mostly("object", "array", "number", "bad-utf8", "bom"),
});

function headerSegment(alg: ForgeAlgorithm, extras: typeof headerExtrasArb extends fc.Arbitrary<infer T> ? T : never, otherAlg: ForgeAlgorithm): string {
  const algRaw = extras.algOverride === "OTHER" ? JSON.stringify(otherAlg) : extras.algOverride === "OMIT" ? undefined : (extras.algOverride ?? JSON.stringify(alg));
  const duplicate = extras.duplicateAlg === undefined ? [] : [`"alg":${extras.duplicateAlg === "SAME" ? JSON.stringify(alg) : extras.duplicateAlg}`];
  const members = [...duplicate, ...member("alg", algRaw), ...member("typ", extras.typ), ...member("kid", extras.kid), ...member("crit", extras.crit), ...member("b64", extras.b64)];
  const text = `{${members.join(",")}}`;
  switch (extras.shape) {
    case "array":
      return b64u(`[${text}]`);
    case "number":
      return b64u("42");
    case "bad-utf8":
      return b64u(Buffer.concat([Buffer.from(text.slice(0, -1)), Buffer.from([0xc3, 0x28]), Buffer.from("}")]));
    case "bom":
      return b64u(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)]));
    default:
      return b64u(text);
  }
}

const validClaims = () => b64u(JSON.stringify({ iss: ISS, sub: "repo:org/app", aud: AUD, iat: NOW - 10, exp: NOW + 300, jti: "j" }));
const pairArb = () => fc.integer({ min: 0, max: pairs.length - 1 }).map((index) => pairs[index] as (typeof pairs)[number]);
const validToken = (pair: (typeof pairs)[number]) => forgeCompact(b64u(JSON.stringify({ alg: pair.alg, typ: "JWT" })), validClaims(), pair.alg, pair.signer.privateKey);

afterAll(() => {
  if (process.env.DIFF_STATS) console.info(Object.fromEntries([...tally].sort(([, a], [, b]) => b - a)));
});

describe("compact JWT verification with node:crypto, against jose's jwtVerify", () => {
  it("agrees on every algorithm's valid tokens, with hostile headers and claims (600 runs)", async () => {
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(pairArb(), headerExtrasArb, payloadSegment, policyArb, fc.constantFrom(...FORGE_ALGORITHMS), async (pair, extras, payload, policy, otherAlg) => {
        const token = forgeCompact(headerSegment(pair.alg, extras, otherAlg), payload, pair.alg, pair.signer.privateKey);
        if ((await agree(token, pair.verifier, policy)).ok) accepted++;
      }),
      { seed: SEED, numRuns: 600 },
    );
    // The property means little unless both sides accept a fair share of what they are fed.
    expect(accepted).toBeGreaterThan(30);
  });

  it("agrees on wrong keys: another key of the type, another curve or type, a short RSA key, a private key (400 runs)", async () => {
    await fc.assert(
      fc.asyncProperty(pairArb(), fc.integer({ min: 0, max: 10_000 }), fc.boolean(), async (pair, pick, claimOtherAlg) => {
        const { key } = cryptoKeys[pick % cryptoKeys.length] as ForgeCryptoKey;
        const headerAlg = claimOtherAlg ? (FORGE_ALGORITHMS[pick % FORGE_ALGORITHMS.length] as ForgeAlgorithm) : pair.alg;
        const token = forgeCompact(b64u(JSON.stringify({ alg: headerAlg })), validClaims(), pair.alg, pair.signer.privateKey);
        await agree(token, key);
      }),
      { seed: SEED, numRuns: 400 },
    );
  });

  it("agrees on altered signatures: bit flips, truncation, padding, ECDSA malleation, DER, zero r or s, other PSS salts (500 runs)", async () => {
    const surgeries: Record<string, (signature: Buffer, pick: number) => Buffer> = {
      flip: (s, pick) => Buffer.from(s.map((byte, i) => (i === pick % Math.max(1, s.length) ? byte ^ (1 << (pick % 8)) : byte))),
      truncate: (s, pick) => s.subarray(0, Math.max(0, s.length - 1 - (pick % 3))),
      pad: (s, pick) => Buffer.concat([s, Buffer.alloc(1 + (pick % 2))]),
      prefix: (s) => Buffer.concat([Buffer.alloc(1), s]),
      malleate: (s) => ecdsa.malleate(s),
      der: (s) => ecdsa.toDer(s),
      zeroR: (s) => ecdsa.zeroR(s),
      zeroS: (s) => ecdsa.zeroS(s),
      rsEqualOrder: (s) => ecdsa.rAndSEqualOrder(s),
      allZero: (s) => Buffer.alloc(s.length),
      empty: () => Buffer.alloc(0),
      unchanged: (s) => s,
    };
    await fc.assert(
      fc.asyncProperty(pairArb(), fc.constantFrom(...Object.keys(surgeries), "pssSalt"), fc.nat(), async (pair, surgery, pick) => {
        const header = b64u(JSON.stringify({ alg: pair.alg }));
        const input = Buffer.from(`${header}.${validClaims()}`);
        const signature =
          surgery === "pssSalt"
            ? forgeSignature(pair.alg, pair.signer.privateKey, input, pick % 3 === 0 ? 0 : pick % 3 === 1 ? 20 : 64)
            : (surgeries[surgery] as (s: Buffer, p: number) => Buffer)(forgeSignature(pair.alg, pair.signer.privateKey, input), pick);
        await agree(`${header}.${validClaims()}.${b64u(signature)}`, pair.verifier);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("agrees on mangled compact text: stray characters, padding, extra or missing dots, non-canonical base64url (500 runs)", async () => {
    const hostile = fc.constantFrom("=", "==", ".", " ", "\n", "+", "/", "A", "_", "-", "é", "\u0000", "%", "*", "\ud800");
    const edit = fc.tuple(fc.constantFrom("insert", "delete", "replace", "noncanonical"), fc.nat(), hostile);
    await fc.assert(
      fc.asyncProperty(pairArb(), fc.array(edit, { minLength: 1, maxLength: 3 }), fc.boolean(), async (pair, edits, signAfter) => {
        const apply = (text: string) => edits.reduce((current, [kind, at, char]) => mangle(current, kind, at, char), text);
        const header = b64u(JSON.stringify({ alg: pair.alg, typ: "JWT" }));
        // Mangle the signed text and sign what came out, or mangle a token already signed.
        const token = signAfter ? signMangled(apply(`${header}.${validClaims()}`), pair) : apply(validToken(pair));
        await agree(token, pair.verifier);
      }),
      { seed: SEED, numRuns: 500 },
    );
  });

  it("agrees through jose's key-set selection: kid, alg, use, key_ops, several candidates, other curves (300 runs)", async () => {
    const jwkArb = fc.record({
      key: fc.integer({ min: 0, max: 9 }),
      kid: fc.constantFrom(undefined, "k1", "k2"),
      alg: fc.constantFrom(undefined, undefined, "own", "other"),
      use: fc.constantFrom(undefined, undefined, "sig", "enc"),
      keyOps: fc.constantFrom(undefined, undefined, ["verify"], ["encrypt"]),
    });
    await fc.assert(
      fc.asyncProperty(pairArb(), fc.array(jwkArb, { minLength: 1, maxLength: 4 }), fc.constantFrom(undefined, "k1", "k2", "k3"), async (pair, members, kid) => {
        const jwks = { keys: members.map((m) => jwkFor(m, pair.alg)) };
        const header = b64u(JSON.stringify({ alg: pair.alg, ...(kid === undefined ? {} : { kid }) }));
        const token = forgeCompact(header, validClaims(), pair.alg, pair.signer.privateKey);
        await agree(token, createLocalJWKSet(jwks));
      }),
      { seed: SEED, numRuns: 300 },
    );
  });

  describe("named cases, each with the outcome jose gives", () => {
    const es256 = () => pairs.find((pair) => pair.alg === "ES256" && pair.signer.name === "p256-a") as (typeof pairs)[number];
    const withSignature = (alter: (signature: Buffer) => Buffer) => {
      const token = validToken(es256());
      const [header, payload, signature] = token.split(".") as [string, string, string];
      return `${header}.${payload}.${b64u(alter(Buffer.from(signature, "base64url")))}`;
    };

    it("accepts a valid token of every algorithm", async () => {
      for (const pair of pairs) expect(await agree(validToken(pair), pair.verifier)).toMatchObject({ ok: true });
    });

    it("accepts a high-s ECDSA signature (s → n − s), as WebCrypto does", async () => {
      expect(await agree(withSignature(ecdsa.malleate), es256().verifier)).toMatchObject({ ok: true });
    });

    it.each([
      ["a DER-encoded ECDSA signature", ecdsa.toDer],
      ["r = 0", ecdsa.zeroR],
      ["s = 0", ecdsa.zeroS],
      ["r = s = n", ecdsa.rAndSEqualOrder],
      ["an all-zero signature", (s: Buffer) => Buffer.alloc(s.length)],
    ])("refuses %s as an invalid signature", async (_name, alter) => {
      expect(await agree(withSignature(alter), es256().verifier)).toMatchObject({ ok: false, name: "JWSSignatureVerificationFailed" });
    });

    it("refuses an RSA key under 2048 bits with jose's TypeError", async () => {
      const short = keys.find((key) => key.name === "rsa-1024") as ForgeKey;
      const verifier = cryptoKeys.find((candidate) => candidate.label === "rsa-1024 as RS256")?.key as CryptoKey;
      const token = forgeCompact(b64u('{"alg":"RS256"}'), validClaims(), "RS256", short.privateKey);
      expect(await agree(token, verifier)).toMatchObject({ ok: false, name: "TypeError" });
    });

    it("refuses b64: false in a JWT and an unknown crit, as jose does", async () => {
      const pair = es256();
      const sign = (header: object) => forgeCompact(b64u(JSON.stringify(header)), validClaims(), "ES256", pair.signer.privateKey);
      expect(await agree(sign({ alg: "ES256", crit: ["b64"], b64: false }), pair.verifier)).toMatchObject({ ok: false, name: "JWTInvalid" });
      expect(await agree(sign({ alg: "ES256", crit: ["exp"], exp: 1 }), pair.verifier)).toMatchObject({ ok: false, name: "JOSENotSupported" });
      expect(await agree(sign({ alg: "none" }), pair.verifier)).toMatchObject({ ok: false, name: "JOSEAlgNotAllowed" });
    });
  });
});

/** One edit of the compact text at a position chosen by `at`. */
function mangle(text: string, kind: string, at: number, char: string): string {
  const index = text.length === 0 ? 0 : at % (text.length + 1);
  if (kind === "insert") return text.slice(0, index) + char + text.slice(index);
  if (kind === "delete") return text.slice(0, index) + text.slice(index + 1);
  if (kind === "replace") return text.slice(0, index) + char + text.slice(index + 1);
  // Set a low bit of a segment's last character: the same bytes to a lenient decoder, other text.
  const segments = text.split(".");
  const which = at % segments.length;
  const segment = segments[which] ?? "";
  if (segment.length % 4 === 2 || segment.length % 4 === 3) {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const value = alphabet.indexOf(segment.at(-1) ?? "A");
    if (value >= 0) segments[which] = segment.slice(0, -1) + alphabet[value | 1];
  }
  return segments.join(".");
}

/** Signs whatever precedes the last dot of mangled text (the signature covers the text as written). */
function signMangled(text: string, pair: (typeof pairs)[number]): string {
  const input = Buffer.from(text, "utf8");
  return `${text}.${b64u(forgeSignature(pair.alg, pair.signer.privateKey, input))}`;
}

function jwkFor(member: { key: number; kid: string | undefined; alg: string | undefined; use: string | undefined; keyOps: readonly string[] | undefined }, tokenAlg: ForgeAlgorithm): JWK {
  const key = keys[member.key] as ForgeKey;
  const ownAlg = key.algorithms.includes(tokenAlg) ? tokenAlg : key.algorithms[0];
  const alg = member.alg === "own" ? ownAlg : member.alg === "other" ? (tokenAlg === "ES256" ? "ES384" : "ES256") : undefined;
  return {
    ...key.publicJwk,
    ...(member.kid === undefined ? {} : { kid: member.kid }),
    ...(alg === undefined ? {} : { alg }),
    ...(member.use === undefined ? {} : { use: member.use }),
    ...(member.keyOps === undefined ? {} : { key_ops: [...member.keyOps] }),
  };
}
