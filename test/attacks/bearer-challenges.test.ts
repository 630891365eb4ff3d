/**
 * The challenges of the broker's bearer-protected endpoints (/introspect, /admin/), against the whole
 * broker in-process. RFC 6750 §3.1: a request without any authentication information (no header, or
 * a scheme the endpoint does not take) gets a challenge without an error code; an invalid
 * credential gets `error="invalid_token"`. RFC 9449 §7.1: the DPoP scheme is offered beside
 * Bearer, with its algorithms, and a DPoP credential is answered with a DPoP challenge.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DPOP_ALGS_PARAMETER } from "../../src/dpop/algorithms.js";
import { encodeForm, startInProcessBroker, type InProcessBroker, type BrokerResponse } from "../support/in-process-broker.js";

const SECRET = "challenge-test-admin-secret-0123456789-abcdef";

let fx: InProcessBroker;
beforeAll(async () => {
  fx = await startInProcessBroker({ env: { BROKER_ADMIN_SECRET: SECRET } });
}, 60_000);
afterAll(async () => {
  await fx?.close();
});

const ENDPOINTS: readonly { name: string; send: (authorization?: string) => Promise<BrokerResponse> }[] = [
  {
    name: "POST /introspect",
    send: (authorization) =>
      fx.request("/introspect", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...(authorization === undefined ? {} : { authorization }) },
        body: encodeForm({ token: "x" }),
      }),
  },
  { name: "GET /admin/revocations", send: (authorization) => fx.request("/admin/revocations", { headers: authorization === undefined ? {} : { authorization } }) },
];

describe.each(ENDPOINTS)("$name", ({ send }) => {
  const realm = () => `realm="${fx.url}"`;

  it.each([
    ["no Authorization header", undefined],
    ["a scheme it does not take (Basic)", `Basic ${Buffer.from(`admin:${SECRET}`).toString("base64")}`],
  ])("%s: 401 with Bearer and DPoP challenges and no error code (RFC 6750 §3.1)", async (_name, authorization) => {
    const res = await send(authorization);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer ${realm()}, DPoP ${realm()}, algs="${DPOP_ALGS_PARAMETER}"`);
    expect(res.json.error).toBe("invalid_token");
  });

  it("an invalid bearer credential: error=\"invalid_token\"", async () => {
    const res = await send(`Bearer ${SECRET}-wrong`);
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`Bearer ${realm()}, error="invalid_token"`);
  });

  it("an invalid DPoP credential: a DPoP challenge with the error and the algorithms (RFC 9449 §7.1)", async () => {
    const res = await send("DPoP not-a-token");
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe(`DPoP ${realm()}, error="invalid_token", algs="${DPOP_ALGS_PARAMETER}"`);
  });
});
