/**
 * Property-based fuzzing (fast-check) of every route in ROUTE_TABLE against the whole broker
 * in-process (issue 7, abuse resistance). For every response: no 5xx, a JSON `error` on every 4xx,
 * no stack trace or source path, and no token for a request the oracle knows is malformed; after
 * each property the broker still answers /healthz, and at the end its output holds no unhandled
 * rejection, uncaught exception or TypeError.
 *
 * CI runs a fixed seed and a small run count; for a release, run longer (docs/security.md):
 *   FUZZ_RUNS=5000 npx vitest run test/attacks/endpoints.fuzz.test.ts
 * A failure prints the seed and the shrunk counterexample; FUZZ_SEED=<seed> replays it.
 */
import fc from "fast-check";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ROUTE_TABLE } from "../../src/app.js";
import { GRANT_TYPE, GRANTS, OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker, type BrokerResponse } from "../support/in-process-broker.js";

const SEED = Number(process.env.FUZZ_SEED ?? 20_260_707);
const RUNS = Number(process.env.FUZZ_RUNS ?? 100);
/** Long runs need more time per property; the default keeps the file well under 30 s. */
const PROPERTY_TIMEOUT_MS = Math.max(60_000, RUNS * 200);
const MAX_BODY = 16_384;
const ADMIN_SECRET = "fuzz-admin-secret-0123456789abcdefghijklmnop";

let fx: InProcessBroker;
let subjectToken: string;

beforeAll(async () => {
  fx = await startInProcessBroker({ env: { BROKER_ADMIN_SECRET: ADMIN_SECRET, BROKER_MAX_BODY_BYTES: String(MAX_BODY) } });
});
/** A fresh valid subject token per test (it lives 5 minutes; long release runs outlast one). */
beforeEach(async () => {
  subjectToken = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT }, { kid: undefined });
});
afterAll(async () => {
  await fx?.close();
});

const OAUTH_PATHS = new Set(["/token", "/svid/x509", "/introspect", "/revoke"]);
const LEAK_PATTERNS = [/\n\s*at\s/, /\bat .+:\d+:\d+/, /\/work\//, /node_modules/, /\.ts:\d+/, /\bsrc\//, /Error: /];

// ---------------------------------------------------------------------------------------------
// Generators

/** Text of every kind: ASCII, full unicode (lone surrogates included), control characters. */
const anyText = (maxLength = 64) =>
  fc.oneof(
    fc.string({ maxLength }),
    fc.string({ unit: "binary", maxLength }),
    fc.string({ unit: fc.constantFrom(..."\u0000\r\n\t %&=+;.\"'\\/<>{}[]#?"), maxLength }),
    fc.constantFrom("", " ", "null", "undefined", "[]", "{}", "0", "-1", "1e400", "NaN", "__proto__", "constructor"),
  );

/** Percent-encoding junk: truncated escapes, non-UTF-8 bytes, overlongs, surrogates. */
const percentJunk = fc.oneof(
  fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 8 }).map((bytes) => bytes.map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")),
  fc.constantFrom("%", "%Z", "%zz", "%4", "%C0%AF", "%ED%A0%80", "%F4%90%80%80", "%E2%82", "%FF%FE", "%00", "%%32%30", "%25", "+%2B+"),
);

const b64urlOf = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

/** A JWT-shaped string: random header JSON (alg, crit, jku, ...), random payload, random signature. */
const jwtGarbage = fc
  .record({
    header: fc.record(
      {
        alg: fc.oneof(fc.constantFrom("none", "HS256", "RS256", "ES256", "EdDSA", "PS512", "ES256K", ""), anyText(12)),
        typ: fc.constantFrom("JWT", "at+jwt", "dpop+jwt", "", "JOSE"),
        kid: anyText(24),
        crit: fc.array(anyText(8), { maxLength: 3 }),
        jku: fc.constantFrom("http://127.0.0.1:1/jwks", "https://evil.example/jwks", "file:///etc/passwd"),
        x5u: fc.constant("https://evil.example/cert"),
        jwk: fc.record({ kty: fc.constantFrom("EC", "RSA", "oct", "OKP"), k: anyText(16) }),
        b64: fc.boolean(),
        zip: fc.constant("DEF"),
        enc: fc.constant("A128GCM"),
      },
      { requiredKeys: [] },
    ),
    payload: fc.oneof(
      fc.json({ maxDepth: 2 }),
      fc
        .record(
          {
            iss: fc.oneof(anyText(24), fc.constant("http://127.0.0.1")),
            aud: fc.oneof(anyText(24), fc.array(anyText(12), { maxLength: 3 })),
            sub: fc.oneof(anyText(16), fc.constant(OIDC_SUBJECT)),
            exp: fc.oneof(fc.integer(), fc.double(), fc.constant(Number.POSITIVE_INFINITY)),
            iat: fc.oneof(fc.integer(), fc.constant(-1)),
            nbf: fc.integer(),
          },
          { requiredKeys: [] },
        )
        .map((claims) => JSON.stringify(claims)),
    ),
    signature: fc.uint8Array({ maxLength: 96 }),
    extra: fc.constantFrom(0, 0, 0, 1, 2),
  })
  .map(({ header, payload, signature, extra }) =>
    [b64urlOf(JSON.stringify(header)), b64urlOf(payload), b64urlOf(signature), ...Array.from({ length: extra }, () => "x")].join("."),
  );

/** A value for a form field: random, unicode, huge (within the body limit), junk, JWT-shaped. */
const fieldValue = fc.oneof(
  { weight: 3, arbitrary: anyText() },
  { weight: 2, arbitrary: jwtGarbage },
  { weight: 1, arbitrary: fc.integer({ min: 1_000, max: MAX_BODY - 2_000 }).map((n) => "A".repeat(n)) },
  { weight: 1, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.webUrl() },
);

/** One form field as raw `name=value` text: encoded normally, or with raw junk spliced in. */
type RawField = { readonly name: string; readonly value: string; readonly raw?: string };

const encode = (fields: readonly RawField[]) =>
  fields.map((field) => field.raw ?? `${encodeURIComponent(field.name)}=${encodeURIComponent(field.value)}`).join("&");

/** A mutation of one field of a form: replace, drop, repeat, empty, or splice raw junk. */
const mutation = (names: readonly string[]) =>
  fc.record({
    target: fc.oneof(fc.constantFrom(...names), anyText(12)),
    kind: fc.constantFrom("replace", "replace", "replace", "drop", "repeat", "empty", "junk", "junk-name"),
    value: fieldValue,
    junk: percentJunk,
  });

function mutate(fields: readonly RawField[], m: { target: string; kind: string; value: string; junk: string }): RawField[] {
  const present = fields.some((field) => field.name === m.target);
  const others = fields.filter((field) => field.name !== m.target);
  const original = fields.find((field) => field.name === m.target);
  switch (m.kind) {
    case "drop":
      return others;
    case "repeat":
      return present && original ? [...fields, { name: m.target, value: m.value }] : [...fields, { name: m.target, value: m.value }, { name: m.target, value: m.value }];
    case "empty":
      return [...others, { name: m.target, value: "" }];
    case "junk":
      return [...others, { name: m.target, value: "", raw: `${encodeURIComponent(m.target)}=${encodeURIComponent(m.value.slice(0, 32))}${m.junk}` }];
    case "junk-name":
      return [...fields, { name: "", value: "", raw: `${m.junk}=${encodeURIComponent(m.value.slice(0, 32))}` }];
    default:
      return [...others, { name: m.target, value: m.value }];
  }
}

const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constant("application/x-www-form-urlencoded") },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      "application/x-www-form-urlencoded; charset=UTF-8",
      "APPLICATION/X-WWW-FORM-URLENCODED",
      "application/x-www-form-urlencoded-evil",
      "application/json",
      "text/plain",
      "multipart/form-data; boundary=x",
      "",
      ";",
      "application/x-www-form-urlencoded; charset=latin1",
    ),
  },
  { weight: 1, arbitrary: anyText(40).map((text) => text.replace(/[^\x20-\x7e]/g, "")) },
);

const METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] as const;

/** An Authorization header: no header, random schemes, random or near-miss bearer credentials. */
const authorization = fc.oneof(
  fc.constant(undefined),
  fc.constantFrom("Bearer", "bearer", "Basic", "DPoP", "Negotiate", "", "Bearer  ", "Bearer\t").chain((scheme) =>
    fc.oneof(jwtGarbage, anyText(48), fc.constant(ADMIN_SECRET.slice(0, -1)), fc.constant(`${ADMIN_SECRET}x`)).map((credential) => `${scheme} ${credential}`),
  ),
  fc.string({ unit: fc.constantFrom(..."ABCxyz012+/=-._~ "), maxLength: 9000 }).map((text) => `Bearer ${text}`),
);

/** Header values a client may send (printable, no CR/LF: fetch refuses the rest). */
const headerText = fc.string({ unit: fc.constantFrom(..."abcXYZ019 -_.,;:=/+*!?\"'()[]{}<>@"), maxLength: 64 });
const extraHeaders = fc.dictionary(
  fc.constantFrom("x-request-id", "x-forwarded-for", "forwarded", "accept", "accept-encoding", "dpop", "origin", "cookie", "x-http-method-override", "range", "if-none-match"),
  headerText,
  { maxKeys: 3 },
);

/** A path suffix and query string: nothing, junk segments, traversal, encoded junk. */
const pathSuffix = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  { weight: 1, arbitrary: fc.constantFrom("/", "//", "/..", "/%2e%2e", "/x", ";x", "%00", "/%ff", "/.json") },
);
const queryString = fc.oneof(
  { weight: 3, arbitrary: fc.constant("") },
  { weight: 2, arbitrary: fc.dictionary(anyText(8), anyText(16), { maxKeys: 3 }).map((q) => `?${new URLSearchParams(q).toString()}`) },
  { weight: 1, arbitrary: percentJunk.map((junk) => `?${junk}=${junk}`) },
  { weight: 1, arbitrary: fc.constantFrom("?format=pem", "?format=der", "?format=x", "?reason=", "?subject_token=abc", "?a&a&a") },
);

// ---------------------------------------------------------------------------------------------
// Sending and checking

interface FuzzRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

async function send(req: FuzzRequest): Promise<BrokerResponse> {
  const withBody = req.body !== undefined && req.method !== "GET" && req.method !== "HEAD";
  // fetch refuses control characters and surrounding whitespace in header values; raw bytes in
  // headers are test/attacks/server-limits.test.ts's business.
  const headers = Object.fromEntries(Object.entries(req.headers).map(([name, value]) => [name, value.replace(/[^\x20-\x7e]/g, "").trim()]));
  return fx.request(req.path, {
    method: req.method,
    headers,
    body: withBody ? req.body : undefined,
    signal: AbortSignal.timeout(10_000),
  });
}

/**
 * The assertions every response must meet. `refused`: the request is malformed or unauthorized,
 * so it must get a 4xx and no credential (no access token, no JWT, no certificate).
 */
function checkResponse(req: FuzzRequest, res: BrokerResponse, refused: boolean): void {
  const what = `${req.method} ${req.path} → ${res.status} ${res.text.slice(0, 300)}`;
  expect(res.status, what).toBeLessThan(500);
  const oauth = OAUTH_PATHS.has(req.path.split("?")[0] ?? "") || req.path.startsWith("/admin/");
  if (res.status >= 400 && req.method !== "HEAD") {
    // A 4xx is RFC 6749 §5.2 error JSON everywhere (404 and 405 included).
    expect(typeof res.json.error, what).toBe("string");
  }
  if (res.status >= 400 || oauth) {
    for (const pattern of LEAK_PATTERNS) expect(res.text, `${what}: leaks ${pattern}`).not.toMatch(pattern);
  }
  // No route but a successful /token answer ever carries an access token or a JWT.
  if (refused || !req.path.startsWith("/token")) {
    expect(res.text, what).not.toMatch(/"access_token"\s*:/);
    expect(res.text, what).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  }
  if (refused) {
    expect(res.status, what).toBeGreaterThanOrEqual(400);
    expect(res.text, what).not.toContain("BEGIN CERTIFICATE");
  }
}

async function expectAlive(): Promise<void> {
  const health = await fx.request("/healthz", { signal: AbortSignal.timeout(5_000) });
  expect(health.status).toBe(200);
}

const params = { seed: SEED, numRuns: RUNS, interruptAfterTimeLimit: PROPERTY_TIMEOUT_MS - 5_000, markInterruptAsFailure: false };

// ---------------------------------------------------------------------------------------------
// The oracle for POST /token: when is a form certainly not one the broker may answer with a token?

const GOOD_TYPES: readonly string[] = [TOKEN_TYPES.jwt, TOKEN_TYPES.idToken, TOKEN_TYPES.accessToken];
const SCOPES = new Set<string>(GRANTS.oidc.scopes);
const AUDIENCES = new Set<string>(GRANTS.oidc.audiences);

/** True when the raw form body must be refused, whatever else the broker decides. */
function tokenFormMustBeRefused(body: string): boolean {
  // Percent runs that are not whole UTF-8 characters: refused (docs/security.md).
  for (const run of body.match(/(?:%[0-9A-Fa-f]{2})+/g) ?? []) {
    try {
      decodeURIComponent(run);
    } catch {
      return true;
    }
  }
  const values = new Map<string, string[]>();
  for (const [name, value] of new URLSearchParams(body)) {
    if (value === "") continue;
    values.set(name, [...(values.get(name) ?? []), value]);
  }
  const one = (name: string) => {
    const all = values.get(name) ?? [];
    return all.length === 1 ? all[0] : undefined;
  };
  if (one("grant_type") !== GRANT_TYPE) return true;
  if (one("subject_token") !== subjectToken) return true;
  if (one("subject_token_type") !== TOKEN_TYPES.jwt) return true;
  if (values.has("actor_token") || values.has("actor_token_type")) return true;
  // Client credentials in the body: refused with invalid_client (public clients only).
  if (["client_secret", "client_assertion", "client_assertion_type"].some((name) => values.has(name))) return true;
  for (const name of ["scope", "requested_lifetime", "requested_token_type"]) if ((values.get(name)?.length ?? 0) > 1) return true;
  const requested = one("requested_token_type");
  if (requested !== undefined && !GOOD_TYPES.includes(requested)) return true;
  const scope = one("scope");
  if (scope !== undefined && !scope.split(" ").every((s) => SCOPES.has(s))) return true;
  const lifetime = one("requested_lifetime");
  if (lifetime !== undefined && !/^[1-9][0-9]{0,8}$/.test(lifetime)) return true;
  for (const target of [...(values.get("audience") ?? []), ...(values.get("resource") ?? [])]) if (!AUDIENCES.has(target)) return true;
  return false;
}

const TOKEN_FIELDS = ["grant_type", "subject_token", "subject_token_type", "audience", "resource", "scope", "requested_lifetime", "requested_token_type", "actor_token", "actor_token_type"];

// ---------------------------------------------------------------------------------------------

describe("fuzz: every public endpoint", () => {
  it("ROUTE_TABLE is covered by the groups below", () => {
    const covered = new Set(["/token", "/svid/x509", "/introspect", "/revoke", ...ROUTE_TABLE.filter((r) => r.method === "GET" || r.path.startsWith("/admin/")).map((r) => r.path)]);
    for (const route of ROUTE_TABLE) expect(covered.has(route.path), route.path).toBe(true);
  });

  it("control: the unmutated form is issued a token (the oracle's reference is live)", async () => {
    const body = encode([
      { name: "grant_type", value: GRANT_TYPE },
      { name: "subject_token", value: subjectToken },
      { name: "subject_token_type", value: TOKEN_TYPES.jwt },
      { name: "audience", value: "https://a.example.com" },
    ]);
    expect(tokenFormMustBeRefused(body)).toBe(false);
    const res = await send({ method: "POST", path: "/token", headers: { "content-type": "application/x-www-form-urlencoded" }, body });
    expect(res.status, res.text).toBe(200);
  });

  it(
    "POST /token: a valid form with one field mutated, random content types, methods, headers, paths",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(mutation(TOKEN_FIELDS), { minLength: 1, maxLength: 2 }),
          fc.oneof({ weight: 8, arbitrary: fc.constant("POST") }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
          contentType,
          fc.oneof({ weight: 8, arbitrary: fc.constant("") }, { weight: 1, arbitrary: pathSuffix }),
          fc.oneof({ weight: 8, arbitrary: fc.constant("") }, { weight: 1, arbitrary: queryString }),
          authorization,
          extraHeaders,
          // A DPoP header (RFC 9449): JWT-shaped garbage, typ dpop+jwt and a jwk included; never a valid proof.
          fc.option(jwtGarbage, { freq: 3 }),
          async (mutations, method, type, suffix, query, auth, headers, dpop) => {
            let fields: RawField[] = [
              { name: "grant_type", value: GRANT_TYPE },
              { name: "subject_token", value: subjectToken },
              { name: "subject_token_type", value: TOKEN_TYPES.jwt },
              { name: "audience", value: "https://a.example.com" },
            ];
            for (const m of mutations) fields = mutate(fields, m);
            const body = encode(fields);
            const req: FuzzRequest = {
              method,
              path: `/token${suffix}${query}`,
              headers: { ...headers, "content-type": type, ...(auth === undefined ? {} : { authorization: auth }), ...(dpop === null ? {} : { dpop }) },
              body,
            };
            const form = type.split(";")[0]?.trim().toLowerCase() === "application/x-www-form-urlencoded";
            // Any Authorization header is client authentication the broker does not do (RFC 6749 §5.2).
            const mustRefuse = method !== "POST" || suffix !== "" || !form || tokenFormMustBeRefused(body) || dpop !== null || auth !== undefined;
            checkResponse(req, await send(req), mustRefuse);
          },
        ),
        params,
      );
      await expectAlive();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    "POST /svid/x509: random and PEM-shaped CSRs with valid and garbage subject tokens — never an SVID for garbage",
    async () => {
      const pemGarbage = fc
        .tuple(fc.constantFrom("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST", "CERTIFICATE", "PRIVATE KEY", ""), fc.uint8Array({ maxLength: 600 }))
        .map(([label, bytes]) => `-----BEGIN ${label}-----\n${Buffer.from(bytes).toString("base64")}\n-----END ${label}-----\n`);
      await fc.assert(
        fc.asyncProperty(
          fc.oneof(pemGarbage, fieldValue),
          fc.oneof(fc.constant(subjectToken), jwtGarbage, anyText()),
          fc.array(mutation(["subject_token_type", "csr", "subject_token"]), { maxLength: 1 }),
          contentType,
          extraHeaders,
          async (csr, token, mutations, type, headers) => {
            let fields: RawField[] = [
              { name: "subject_token", value: token },
              { name: "subject_token_type", value: TOKEN_TYPES.jwt },
              { name: "csr", value: csr },
            ];
            for (const m of mutations) fields = mutate(fields, m);
            const req: FuzzRequest = { method: "POST", path: "/svid/x509", headers: { ...headers, "content-type": type }, body: encode(fields) };
            // No generated CSR is a valid signed PKCS#10 request: nothing may be issued.
            checkResponse(req, await send(req), true);
          },
        ),
        params,
      );
      await expectAlive();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    "POST /introspect and /revoke: random bearer credentials and token forms",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom("/introspect", "/revoke"),
          fc.oneof({ weight: 6, arbitrary: fc.constant("POST") }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
          authorization,
          fc.array(mutation(["token", "token_type_hint"]), { minLength: 1, maxLength: 3 }),
          fc.oneof(jwtGarbage, fc.constant(subjectToken), anyText()),
          contentType,
          queryString,
          async (path, method, auth, mutations, token, type, query) => {
            let fields: RawField[] = [
              { name: "token", value: token },
              { name: "token_type_hint", value: "access_token" },
            ];
            for (const m of mutations) fields = mutate(fields, m);
            const req: FuzzRequest = {
              method,
              path: `${path}${query}`,
              headers: { "content-type": type, ...(auth === undefined ? {} : { authorization: auth }) },
              body: encode(fields),
            };
            const res = await send(req);
            // Introspection needs a broker token with the introspection scope: no generated header is one.
            checkResponse(req, res, path === "/introspect");
            if (path === "/introspect") expect(res.json).not.toHaveProperty("active");
          },
        ),
        params,
      );
      await expectAlive();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    "admin routes: random JSON bodies, with the admin secret and with random credentials",
    async () => {
      const adminRoutes = ROUTE_TABLE.filter((route) => route.auth === "bearer-admin");
      const jsonBody = fc.oneof(
        fc.json({ maxDepth: 3 }),
        fc
          .record(
            {
              jti: fieldValue,
              serial: fc.oneof(fieldValue, fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), maxLength: 40 })),
              workload_id: fc.oneof(fieldValue, fc.constant(GRANTS.oidc.workloadId)),
              reason: anyText(),
              expires_at: fc.oneof(fc.integer(), fc.double(), fc.constant("soon"), fc.constant(253_402_300_800)),
              block: fc.oneof(fc.boolean(), anyText(4)),
              block_until: fc.oneof(fc.integer(), fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), anyText(24)),
              extra: fc.anything({ maxDepth: 2 }),
            },
            { requiredKeys: [] },
          )
          .map((value) => JSON.stringify(value)),
        anyText(),
        percentJunk,
      );
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...adminRoutes),
          fc.oneof({ weight: 5, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
          fc.oneof({ weight: 2, arbitrary: fc.constant(`Bearer ${ADMIN_SECRET}`) }, { weight: 1, arbitrary: authorization }),
          jsonBody,
          fc.oneof({ weight: 4, arbitrary: fc.constant("application/json") }, { weight: 1, arbitrary: contentType }),
          fc.oneof(anyText(40), percentJunk, fc.constant(GRANTS.oidc.workloadId)),
          queryString,
          async (route, method, auth, body, type, segment, query) => {
            const path = route.path.replace(":workloadId", encodeURIComponent(segment).slice(0, 600));
            const req: FuzzRequest = {
              method: method ?? route.method,
              path: `${path}${query}`,
              headers: { "content-type": type, ...(auth === undefined ? {} : { authorization: auth }) },
              body,
            };
            checkResponse(req, await send(req), auth !== `Bearer ${ADMIN_SECRET}`);
          },
        ),
        params,
      );
      await expectAlive();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it(
    "public GET routes: random methods, path suffixes, query strings and headers",
    async () => {
      const publicRoutes = ROUTE_TABLE.filter((route) => route.auth === "public");
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...publicRoutes),
          fc.oneof({ weight: 4, arbitrary: fc.constant("GET") }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
          pathSuffix,
          queryString,
          authorization,
          extraHeaders,
          fc.option(anyText(), { nil: undefined }),
          async (route, method, suffix, query, auth, headers, body) => {
            const req: FuzzRequest = {
              method,
              path: `${route.path}${suffix}${query}`,
              headers: { ...headers, ...(auth === undefined ? {} : { authorization: auth }) },
              body,
            };
            checkResponse(req, await send(req), false);
          },
        ),
        params,
      );
      await expectAlive();
    },
    PROPERTY_TIMEOUT_MS,
  );

  it("the broker's output holds no unhandled rejection, uncaught exception, TypeError or 5xx", async () => {
    await expectAlive();
    // Give the last log lines time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(fx.broker.output.filter((line) => /Unhandled|uncaught|TypeError|unexpected error/i.test(line))).toEqual([]);
    expect(fx.broker.logRecords().filter((record) => typeof record.status === "number" && record.status >= 500)).toEqual([]);
  });
});
