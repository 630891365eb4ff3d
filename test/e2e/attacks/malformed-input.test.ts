/**
 * Malformed and oversized requests to POST /token (RFC 6749 §3.2, §5.2; RFC 8693 §2.1, §2.2.2):
 * wrong media types, bodies over BROKER_MAX_BODY_BYTES (declared and chunked), repeated
 * parameters, unknown token types, missing parameters, wrong grant types, bad targets and
 * garbage tokens. Never a 5xx, never a stack trace, never a token.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectNoInternals, expectRefusal } from "../../support/refusal.js";
import { eventually, GRANT_TYPE, OIDC_SUBJECT, startBrokerFixture, TOKEN_TYPES, type BrokerFixture, type BrokerResponse } from "../../support/broker-fixture.js";

const MAX_BODY = 32_768;
let fx: BrokerFixture;
let subjectToken: string;

beforeAll(async () => {
  fx = await startBrokerFixture({ env: { BROKER_MAX_BODY_BYTES: String(MAX_BODY) } });
});
beforeAll(async () => {
  subjectToken = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT }, { kid: undefined });
});
afterAll(async () => {
  await fx?.close();
});

/** POSTs a raw body with the given headers. */
async function post(body: RequestInit["body"], headers: Record<string, string>, path = "/token", method = "POST"): Promise<BrokerResponse> {
  const res = await fetch(`${fx.url}${path}`, { method, headers, body: method === "GET" ? null : body });
  const text = await res.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, text, json };
}

const FORM = { "content-type": "application/x-www-form-urlencoded" };
const valid = () => ({ ...fx.form(subjectToken), audience: "https://a.example.com" });
const raw = (body: string) => post(body, FORM);

/** What a chunked POST got back: a response, or a reset before any response could be read. */
type ChunkedOutcome = { readonly status: number; readonly text: string; readonly connection: string | undefined } | { readonly reset: string };

/**
 * Sends a chunked body of about `size` bytes over node:http (no Content-Length) on a fresh
 * connection. A server that refuses part-way closes the connection with body bytes still in
 * flight, and TCP may then reset it before the client reads the response: that is reported as
 * `reset`, never left hanging.
 */
function postChunked(size: number, requestId: string): Promise<ChunkedOutcome> {
  return new Promise((resolve) => {
    const headers = { ...FORM, "transfer-encoding": "chunked", "x-request-id": requestId };
    const req = request(`${fx.url}/token`, { method: "POST", agent: false, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, connection: res.headers.connection }));
      res.on("error", (error: NodeJS.ErrnoException) => resolve({ reset: error.code ?? error.message }));
    });
    req.on("error", (error: NodeJS.ErrnoException) => resolve({ reset: error.code ?? error.message }));
    const chunk = `grant_type=${encodeURIComponent(GRANT_TYPE)}&padding=${"x".repeat(1024)}`;
    let sent = 0;
    const writeMore = () => {
      while (sent < size) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", writeMore);
      }
      req.end();
    };
    writeMore();
  });
}

/** The status the broker's access log recorded for a request id (polled: stdout is read asynchronously). */
async function loggedStatus(requestId: string): Promise<unknown> {
  const find = () => fx.broker.logRecords().find((record) => record.msg === "request" && record.requestId === requestId);
  await eventually(() => find() !== undefined, 5_000, `the access log line of ${requestId}`);
  return find()?.status;
}

describe("media type and size", () => {
  it("control: the same request as a form is accepted", async () => {
    const res = await fx.exchange(valid());
    expect(res.status, res.text).toBe(200);
  });

  it("JSON body → 415 invalid_request", async () => {
    expectRefusal(await post(JSON.stringify(valid()), { "content-type": "application/json" }), { status: 415, error: "invalid_request" });
  });

  it("multipart/form-data → 415 invalid_request", async () => {
    const form = new FormData();
    for (const [name, value] of Object.entries(valid())) form.append(name, value);
    expectRefusal(await post(form, {}), { status: 415, error: "invalid_request" });
  });

  it("no content type, text/plain, and a form type with a lookalike prefix → 415", async () => {
    const body = new URLSearchParams(valid()).toString();
    expectRefusal(await post(new Blob([body]), {}), { status: 415, error: "invalid_request" });
    expectRefusal(await post(body, { "content-type": "text/plain" }), { status: 415, error: "invalid_request" });
    expectRefusal(await post(body, { "content-type": "application/x-www-form-urlencoded-evil" }), { status: 415, error: "invalid_request" });
  });

  it("content type parameters and case are tolerated", async () => {
    const body = new URLSearchParams(valid()).toString();
    const res = await post(body, { "content-type": "Application/X-WWW-Form-URLEncoded; charset=UTF-8" });
    expect(res.status, res.text).toBe(200);
  });

  it("a body over BROKER_MAX_BODY_BYTES with Content-Length → 413 invalid_request", async () => {
    const body = `${new URLSearchParams(valid()).toString()}&padding=${"x".repeat(MAX_BODY)}`;
    expectRefusal(await raw(body), { status: 413, error: "invalid_request" });
  });

  it("a chunked body over BROKER_MAX_BODY_BYTES (no Content-Length) → 413 invalid_request, connection closed", async () => {
    const res = await postChunked(MAX_BODY * 4, "chunked-oversized");
    expect(await loggedStatus("chunked-oversized")).toBe(413);
    if ("reset" in res) {
      // The broker answered 413 and closed while the client was still sending: TCP reset the
      // connection before the response was read. Refused either way; only the code may be seen.
      expect(["ECONNRESET", "EPIPE"]).toContain(res.reset);
      return;
    }
    expect(res.status, res.text).toBe(413);
    expect(JSON.parse(res.text)).toMatchObject({ error: "invalid_request" });
    expect(res.text).not.toMatch(/\bat\s|\/work\//);
    // The rest of the body is never read: the client must not reuse this connection.
    expect(res.connection).toBe("close");
  });

  it("a chunked body under the limit is read normally", async () => {
    const res = await postChunked(1, "chunked-small");
    if ("reset" in res) throw new Error(`connection reset: ${res.reset}`);
    // One chunk of grant_type + padding: a well-formed but incomplete request.
    expect(res.status, res.text).toBe(400);
    expect(JSON.parse(res.text)).toMatchObject({ error: "invalid_request" });
  });

  it("after a 413, a keep-alive client's next request on the same pool succeeds", async () => {
    const big = `${new URLSearchParams(valid()).toString()}&padding=${"x".repeat(MAX_BODY)}`;
    for (let i = 0; i < 3; i += 1) {
      expectRefusal(await raw(big), { status: 413, error: "invalid_request" });
      const res = await fx.exchange(valid());
      expect(res.status, res.text).toBe(200);
    }
  });

  it("a 20 KB garbage subject token (inside the body limit) → 400 invalid_request, refused by size before parsing", async () => {
    const garbage = Buffer.from(Array.from({ length: 15_000 }, (_, i) => (i * 7919) % 256)).toString("base64url");
    expect(garbage.length).toBeGreaterThanOrEqual(20_000);
    expectRefusal(await fx.exchange({ ...valid(), subject_token: garbage }), { status: 400, error: "invalid_request", description: /too large/ });
    const dotted = `${garbage.slice(0, 7000)}.${garbage.slice(7000, 14000)}.${garbage.slice(14000)}`;
    expectRefusal(await fx.exchange({ ...valid(), subject_token: dotted }), { status: 400, error: "invalid_request", description: /too large/ });
    // A garbage token under the token size limit is refused as a token problem.
    expectRefusal(await fx.exchange({ ...valid(), subject_token: garbage.slice(0, 3000) }), { status: 400, error: "invalid_request", description: /compact JWS/ });
  });

  it("the subject token in the URL query is neither used nor logged", async () => {
    const fresh = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT });
    const query = new URLSearchParams({ subject_token: fresh, subject_token_type: TOKEN_TYPES.jwt }).toString();
    const body = new URLSearchParams({ grant_type: GRANT_TYPE, audience: "https://a.example.com" }).toString();
    expectRefusal(await post(body, FORM, `/token?${query}`), { status: 400, error: "invalid_request", description: /missing subject_token/ });
    await eventually(() => fx.broker.output.some((line) => line.includes('"path":"/token"')), 5_000);
    expect(fx.broker.output.some((line) => line.includes(fresh) || line.includes(fresh.split(".")[2] ?? "-"))).toBe(false);
  });
});

describe("parameters", () => {
  const refusedForm = async (form: Record<string, string | string[]>, status: number, error: string, description?: RegExp) =>
    expectRefusal(await fx.exchange(form), { status, error, description });

  it("subject_token twice → 400 invalid_request", async () => {
    await refusedForm({ ...valid(), subject_token: [subjectToken, subjectToken] }, 400, "invalid_request", /subject_token must not be repeated/);
  });

  it("scope twice → 400 invalid_request", async () => {
    await refusedForm({ ...valid(), scope: ["s1", "s2"] }, 400, "invalid_request", /scope must not be repeated/);
  });

  it("grant_type twice (even identical) → 400 invalid_request", async () => {
    await refusedForm({ ...valid(), grant_type: [GRANT_TYPE, GRANT_TYPE] }, 400, "invalid_request", /grant_type must not be repeated/);
  });

  it("subject_token_type, requested_token_type, requested_lifetime twice → 400 invalid_request", async () => {
    await refusedForm({ ...valid(), subject_token_type: [TOKEN_TYPES.jwt, TOKEN_TYPES.idToken] }, 400, "invalid_request");
    await refusedForm({ ...valid(), requested_token_type: [TOKEN_TYPES.accessToken, TOKEN_TYPES.accessToken] }, 400, "invalid_request");
    await refusedForm({ ...valid(), requested_lifetime: ["60", "6000"] }, 400, "invalid_request");
  });

  it("audience and resource may repeat", async () => {
    const res = await fx.exchange({ ...valid(), audience: ["https://a.example.com", "https://b.example.com"], resource: ["https://c.example.com"] });
    expect(res.status, res.text).toBe(200);
  });

  it("unknown subject_token_type → 400 invalid_request", async () => {
    await refusedForm({ ...valid(), subject_token_type: "urn:ietf:params:oauth:token-type:saml2" }, 400, "invalid_request", /subject_token_type/);
    await refusedForm({ ...valid(), subject_token_type: "jwt" }, 400, "invalid_request", /subject_token_type/);
  });

  it("unknown requested_token_type → 400 invalid_request", async () => {
    await refusedForm({ ...valid(), requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token" }, 400, "invalid_request", /requested_token_type/);
  });

  for (const name of ["grant_type", "subject_token", "subject_token_type"]) {
    it(`missing ${name} → 400 invalid_request`, async () => {
      const form: Record<string, string> = valid();
      delete form[name];
      await refusedForm(form, 400, "invalid_request", new RegExp(`missing ${name}`));
    });
    it(`empty ${name} counts as missing → 400 invalid_request`, async () => {
      await refusedForm({ ...valid(), [name]: "" }, 400, "invalid_request", new RegExp(`missing ${name}`));
    });
  }

  it("an empty body → 400 invalid_request", async () => {
    expectRefusal(await raw(""), { status: 400, error: "invalid_request" });
  });

  for (const grantType of ["client_credentials", "authorization_code", "urn:ietf:params:oauth:grant-type:jwt-bearer", `${GRANT_TYPE} `]) {
    it(`grant_type ${JSON.stringify(grantType)} → 400 unsupported_grant_type`, async () => {
      await refusedForm({ ...valid(), grant_type: grantType }, 400, "unsupported_grant_type");
    });
  }

  it("actor_token without actor_token_type, and the reverse → 400 invalid_request", async () => {
    await refusedForm({ ...valid(), actor_token: subjectToken }, 400, "invalid_request", /actor_token/);
    await refusedForm({ ...valid(), actor_token_type: TOKEN_TYPES.jwt }, 400, "invalid_request", /actor_token/);
  });

  for (const resource of ["not a uri", "/relative/path", "a.example.com", "https://a.example.com#fragment"]) {
    it(`resource ${JSON.stringify(resource)} → 400 invalid_target`, async () => {
      await refusedForm({ ...valid(), audience: [], resource }, 400, "invalid_target", /resource/);
    });
  }

  it("malformed scope → 400 invalid_scope; malformed requested_lifetime → 400 invalid_request", async () => {
    await refusedForm({ ...valid(), scope: 's1 "s2"' }, 400, "invalid_scope");
    await refusedForm({ ...valid(), scope: "s1  s2" }, 400, "invalid_scope");
    for (const lifetime of ["0", "-5", "1e3", "60s", "999999999"]) {
      await refusedForm({ ...valid(), requested_lifetime: lifetime }, 400, "invalid_request", /requested_lifetime/);
    }
  });

  it("too many or too long audiences, control characters → 400 invalid_request", async () => {
    const many = Array.from({ length: 11 }, (_, i) => `https://t${i}.example.com`);
    await refusedForm({ ...valid(), audience: many }, 400, "invalid_request");
    await refusedForm({ ...valid(), audience: `https://a.example.com/${"x".repeat(600)}` }, 400, "invalid_request");
    await refusedForm({ ...valid(), audience: "https://a.example.com\n" }, 400, "invalid_request");
  });
});

describe("encoding and garbage", () => {
  it("non-UTF-8 percent-encoding in the subject token → 400 invalid_request", async () => {
    const body = `grant_type=${encodeURIComponent(GRANT_TYPE)}&subject_token_type=${encodeURIComponent(TOKEN_TYPES.jwt)}&subject_token=%FF%FE%C3%28&audience=https%3A%2F%2Fa.example.com`;
    expectRefusal(await raw(body), { status: 400, error: "invalid_request" });
  });

  it("non-UTF-8 percent-encoding anywhere in the form (names, values, overlong, surrogates) → 400 invalid_request", async () => {
    const base = new URLSearchParams(valid()).toString();
    for (const extra of ["%FF=1", "scope=%C0%AF", "audience=%ED%A0%80", "resource=https%3A%2F%2Fa.example.com%2F%E2%82", "x=%F4%90%80%80"]) {
      expectRefusal(await raw(`${base}&${extra}`), { status: 400, error: "invalid_request", description: /UTF-8/ });
    }
  });

  it("raw non-UTF-8 bytes in the body → 400 invalid_request", async () => {
    const body = Buffer.concat([Buffer.from(`${new URLSearchParams(valid()).toString()}&scope=`), Buffer.from([0xff, 0xfe])]);
    expectRefusal(await post(new Uint8Array(body), FORM), { status: 400, error: "invalid_request", description: /UTF-8/ });
  });

  it("unknown but well-encoded parameters are ignored (RFC 6749 §3.2), valid multi-byte UTF-8 is fine", async () => {
    const base = new URLSearchParams(valid()).toString();
    for (const extra of ["%zz=%zz", "grant_type%00=x", "foo=bar", "note=%E6%97%A5%E6%9C%AC"]) {
      const res = await raw(`${base}&${extra}`);
      expect(res.status, `${extra}: ${res.text}`).toBe(200);
    }
  });

  it("a subject token that is a JWT with a non-UTF-8 payload → 400 invalid_request", async () => {
    const bad = `${Buffer.from('{"alg":"ES256"}').toString("base64url")}.${Buffer.from([0xff, 0xfe, 0x7b]).toString("base64url")}.c2ln`;
    expectRefusal(await fx.exchange({ ...valid(), subject_token: bad }), { status: 400, error: "invalid_request" });
  });

  it("garbage shapes of subject token → 400 invalid_request", async () => {
    for (const token of ["a", "a.b", "a.b.c.d", "....", "eyJ.eyJ.", "=.=.=", "a.b.c.d.e.f", "\u0000", "日本.語.x"]) {
      expectRefusal(await fx.exchange({ ...valid(), subject_token: token }), { status: 400, error: "invalid_request" });
    }
  });
});

describe("methods and paths", () => {
  it("GET /token → 405 with Allow: POST", async () => {
    const res = await post("", {}, "/token", "GET");
    expectRefusal(res, { status: 405, error: "invalid_request" });
    expect(res.headers.get("allow")).toBe("POST");
  });

  it("PUT and DELETE /token → 405", async () => {
    for (const method of ["PUT", "DELETE"]) {
      const res = await post(new URLSearchParams(valid()).toString(), FORM, "/token", method);
      expectRefusal(res, { status: 405, error: "invalid_request" });
    }
  });

  it("unknown paths → 404 without internals", async () => {
    for (const path of ["/token/", "/../../etc/passwd", "/%2e%2e/", "/admin", "/.well-known/jwks.json/x"]) {
      const res = await post("", {}, path, "GET");
      expect(res.status).toBe(404);
      expectNoInternals(res);
    }
  });
});

describe("the broker survived it all", () => {
  it("is still healthy and no response above was a 5xx (no unexpected-error log line)", async () => {
    const health = await fx.get("/healthz");
    expect(health.status).toBe(200);
    expect(fx.broker.output.filter((line) => line.includes('"msg":"unexpected error"'))).toEqual([]);
    expect(fx.broker.logRecords().filter((record) => typeof record.status === "number" && record.status >= 500)).toEqual([]);
  });
});
