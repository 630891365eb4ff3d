import { describe, expect, it } from "vitest";
import { BrokerError } from "../../src/errors/broker-error.js";
import { parseTokenExchangeRequest } from "../../src/exchange/token-request.js";
import { parseForm } from "../../src/http/form.js";

const REPEATABLE = new Set(["audience", "resource"]);
const GRANT = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT = "urn:ietf:params:oauth:token-type:jwt";

const base = { grant_type: GRANT, subject_token: "a.b.c", subject_token_type: JWT };

function parse(fields: Record<string, string | string[]>) {
  const form = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) for (const item of [value].flat()) form.append(name, item);
  return parseTokenExchangeRequest(parseForm(form.toString(), REPEATABLE));
}

function errorOf(action: () => unknown): { code: string; description: string; reason: string | undefined } {
  try {
    action();
  } catch (error) {
    if (error instanceof BrokerError) return { code: error.code, description: error.description, reason: error.reason };
    throw error;
  }
  throw new Error("expected a BrokerError");
}

describe("parseForm", () => {
  it("refuses repeated parameters except audience and resource (RFC 6749 §3.2)", () => {
    expect(errorOf(() => parseForm("scope=a&scope=b", REPEATABLE))).toMatchObject({ code: "invalid_request" });
    expect(parseForm("audience=a&audience=b&resource=https://x", REPEATABLE).all("audience")).toEqual(["a", "b"]);
  });

  it("treats an empty value as omitted (RFC 6749 §3.1)", () => {
    const fields = parseForm("scope=&audience=x", REPEATABLE);
    expect(fields.single("scope")).toBeUndefined();
    expect(fields.single("audience")).toBe("x");
  });

  it("does not echo unprintable parameter names", () => {
    expect(errorOf(() => parseForm("%3Cscript%3E=1&%3Cscript%3E=2", REPEATABLE)).description).not.toContain("<script>");
  });
});

describe("parseTokenExchangeRequest", () => {
  it("parses a full request", () => {
    expect(
      parse({ ...base, audience: ["x", "y"], resource: "https://r.example/api", scope: "a b a", requested_lifetime: "120" }),
    ).toEqual({
      subjectToken: "a.b.c",
      subjectTokenType: JWT,
      requestedTokenType: "access_token",
      audiences: ["x", "y"],
      resources: ["https://r.example/api"],
      scopes: ["a", "b"],
      requestedLifetimeSeconds: 120,
    });
  });

  it.each([
    [{ ...base, grant_type: "client_credentials" }, "unsupported_grant_type"],
    [{ subject_token: "a.b.c", subject_token_type: JWT }, "invalid_request"],
    [{ grant_type: GRANT, subject_token_type: JWT }, "invalid_request"],
    [{ grant_type: GRANT, subject_token: "a.b.c" }, "invalid_request"],
    [{ ...base, subject_token_type: "urn:ietf:params:oauth:token-type:saml2" }, "invalid_request"],
    [{ ...base, requested_token_type: "urn:ietf:params:oauth:token-type:refresh_token" }, "invalid_request"],
    [{ ...base, actor_token: "x.y.z" }, "invalid_request"],
    [{ ...base, actor_token_type: JWT }, "invalid_request"],
    [{ ...base, resource: "not-a-uri" }, "invalid_target"],
    [{ ...base, resource: "https://r.example/#frag" }, "invalid_target"],
    [{ ...base, scope: 'bad"scope' }, "invalid_scope"],
    [{ ...base, scope: "a  b" }, "invalid_scope"],
    [{ ...base, requested_lifetime: "0" }, "invalid_request"],
    [{ ...base, requested_lifetime: "1e3" }, "invalid_request"],
    [{ ...base, requested_lifetime: "86401" }, "invalid_request"],
    [{ ...base, audience: Array.from({ length: 11 }, (_, i) => `a${i}`) }, "invalid_request"],
  ])("refuses %j with %s", (fields, code) => {
    expect(errorOf(() => parse(fields)).code).toBe(code);
  });
});
