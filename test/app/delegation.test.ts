/**
 * Delegation (RFC 8693 §1.1, §2.1, §4.1, §4.4) through the whole broker in-process (buildBroker, app.request()): an actor_token
 * next to the subject_token, `act` in the issued token (verified independently with jose),
 * refusals (no delegation in the grant, actor_condition false, actor token invalid), a chain
 * by re-exchange with its depth limit, `may_act`, introspection and the audit record.
 */
import { createHash } from "node:crypto";
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet, type JWTPayload } from "jose";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSegment, OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker, type BrokerResponse } from "../support/in-process-broker.js";
import { replicaClient } from "../support/replica-client.js";
import { generateSigningKey } from "../support/test-issuer.js";

const API = "https://api.example.com";
const DELEGATING_SUBJECT = "delegating-workload";
const PINNED_SUBJECT = "pinned-workload";
const INTROSPECTOR_SUBJECT = "introspector";
const INTROSPECTION_SCOPE = "broker:introspect";

let fx: InProcessBroker;
let oidcIss: string;

beforeAll(async () => {
  fx = await startInProcessBroker({
    policies: (brokerUrl) => ({
      "delegation.policy.yaml": {
        id: "e2e-delegation",
        issuer: "oidc",
        condition: `identity.subject == "${DELEGATING_SUBJECT}"`,
        grant: {
          workload_id: "wl/delegating",
          audiences: [API],
          scopes: ["read", "write"],
          max_lifetime: "10m",
          delegation: {
            actor_condition: 'actor.identity.issuer == "oidc" && actor.identity.subject.startsWith("agent-")',
            max_chain_depth: 2,
          },
        },
      },
      "pinned.policy.yaml": {
        id: "e2e-pinned",
        issuer: "oidc",
        condition: `identity.subject == "${PINNED_SUBJECT}"`,
        grant: {
          workload_id: "wl/pinned",
          audiences: [API],
          max_lifetime: "10m",
          delegation: { actor_condition: "true", max_chain_depth: 3, may_act: { sub: "agent-1" } },
        },
      },
      // Actors are workloads too: an actor_token no policy maps to a workload is refused.
      "agents.policy.yaml": {
        id: "e2e-agents",
        issuer: "oidc",
        condition: 'identity.subject.startsWith("agent-") || identity.subject == "intruder"',
        grant: { workload_id_expr: '"agents/" + identity.subject', audiences: [brokerUrl], max_lifetime: "10m" },
      },
      "introspector.policy.yaml": {
        id: "e2e-introspector",
        issuer: "oidc",
        condition: `identity.subject == "${INTROSPECTOR_SUBJECT}"`,
        grant: { workload_id: "rs/introspector", audiences: [brokerUrl], scopes: [INTROSPECTION_SCOPE], max_lifetime: "15m" },
      },
    }),
  });
  oidcIss = fx.issuers.oidc.url;
}, 60_000);

afterAll(async () => {
  await fx?.close();
});

const mint = (sub: string, claims: Record<string, unknown> = {}) => fx.issuers.oidc.mint({ sub, ...claims });
const actorForm = (token: string, type: string = TOKEN_TYPES.jwt) => ({ actor_token: token, actor_token_type: type });

function issued(res: BrokerResponse): string {
  expect(res.status, res.text).toBe(200);
  expect(typeof res.json.access_token).toBe("string");
  return res.json.access_token as string;
}

function refused(res: BrokerResponse, error: string, description?: string): void {
  expect(res.status, res.text).toBe(400);
  expect(res.json.error).toBe(error);
  expect(res.json).not.toHaveProperty("access_token");
  if (description !== undefined) expect(res.json.error_description).toBe(description);
}

async function verifyIndependently(token: string): Promise<JWTPayload> {
  const jwks = (await (await fx.fetch(`${fx.url}/.well-known/jwks.json`)).json()) as JSONWebKeySet;
  const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: fx.url, audience: API, typ: "at+jwt", algorithms: ["ES256"] });
  return payload;
}

async function delegate(subjectSub = DELEGATING_SUBJECT, actorSub = "agent-1"): Promise<string> {
  return issued(await fx.exchange({ ...fx.form(await mint(subjectSub)), ...actorForm(await mint(actorSub)) }));
}

const reExchange = (token: string, extra: Record<string, string> = {}) => fx.exchange({ ...fx.form(token, TOKEN_TYPES.accessToken), ...extra });

describe("delegation through a real broker", () => {
  it("issues a token whose act names the actor, verifiable from the broker's keys alone", async () => {
    const payload = await verifyIndependently(await delegate());
    expect(payload).toMatchObject({ sub: "wl/delegating", act: { sub: "agent-1", iss: oidcIss } });
    expect((payload.act as Record<string, unknown>).act).toBeUndefined();
  });

  it("issues no act without an actor_token (impersonation stays the default)", async () => {
    const payload = await verifyIndependently(issued(await fx.exchange(fx.form(await mint(DELEGATING_SUBJECT)))));
    expect(payload).not.toHaveProperty("act");
  });

  it("refuses an actor when the matched grant has no delegation", async () => {
    const res = await fx.exchange({ ...fx.form(await mint(OIDC_SUBJECT)), audience: "https://a.example.com", ...actorForm(await mint("agent-1")) });
    refused(res, "unauthorized_client", "delegation is not allowed for this identity");
  });

  it("refuses an actor the actor_condition does not admit", async () => {
    const res = await fx.exchange({ ...fx.form(await mint(DELEGATING_SUBJECT)), ...actorForm(await mint("intruder")) });
    refused(res, "unauthorized_client", "the actor is not allowed to act for this identity");
  });

  it("refuses an actor_token with a bad signature or that has expired, with invalid_request", async () => {
    const stranger = await generateSigningKey("ES256");
    const forged = await fx.issuers.oidc.mint({ sub: "agent-1" }, { key: stranger });
    refused(await fx.exchange({ ...fx.form(await mint(DELEGATING_SUBJECT)), ...actorForm(forged) }), "invalid_request");
    const now = Math.floor(Date.now() / 1000);
    const expired = await mint("agent-1", { iat: now - 400, nbf: now - 400, exp: now - 120 });
    const res = await fx.exchange({ ...fx.form(await mint(DELEGATING_SUBJECT)), ...actorForm(expired) });
    refused(res, "invalid_request");
    expect(String(res.json.error_description)).toMatch(/^actor_token/);
  });

  it("refuses actor_token without actor_token_type", async () => {
    refused(await fx.exchange({ ...fx.form(await mint(DELEGATING_SUBJECT)), actor_token: await mint("agent-1") }), "invalid_request");
  });

  it("chains by re-exchange: the new actor outermost, the earlier one nested; the depth limit holds", async () => {
    const first = await delegate();
    const second = issued(await reExchange(first, { ...actorForm(await mint("agent-2")), scope: "read" }));
    const payload = await verifyIndependently(second);
    expect(payload).toMatchObject({ scope: "read", act: { sub: "agent-2", iss: oidcIss, act: { sub: "agent-1", iss: oidcIss } } });
    // max_chain_depth 2: a third actor is refused.
    refused(await reExchange(second, actorForm(await mint("agent-3"))), "invalid_request", "delegation chain is too long");
    // A broker token as actor is verified as one: this one's aud does not name the broker (RFC 9068 §4).
    refused(
      await reExchange(first, actorForm(second, TOKEN_TYPES.accessToken)),
      "invalid_request",
      "actor_token is not meant for this broker (its aud does not name the broker)",
    );
  });

  it("refuses an actor that the subject token's may_act does not name", async () => {
    const pinned = issued(await fx.exchange(fx.form(await mint(PINNED_SUBJECT))));
    expect(decodeSegment(pinned, 1).may_act).toEqual({ sub: "agent-1" });
    refused(await reExchange(pinned, actorForm(await mint("agent-2"))), "unauthorized_client", "the actor is not allowed to act for this subject (may_act)");
    const allowed = await verifyIndependently(issued(await reExchange(pinned, actorForm(await mint("agent-1")))));
    expect(allowed.act).toEqual({ sub: "agent-1", iss: oidcIss });
  });

  it("shows the whole chain in introspection and in the audit record", async () => {
    const first = await delegate();
    const actorToken = await mint("agent-2");
    const second = issued(await reExchange(first, actorForm(actorToken)));
    const introspector = issued(
      await fx.exchange({ ...fx.form(await mint(INTROSPECTOR_SUBJECT)), audience: fx.url, scope: INTROSPECTION_SCOPE }),
    );
    const res = await replicaClient("A", fx).introspect(second, introspector);
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({ active: true, act: { sub: "agent-2", iss: oidcIss, act: { sub: "agent-1", iss: oidcIss } } });

    const sha = createHash("sha256").update(actorToken).digest("hex");
    let record: Record<string, unknown> | undefined;
    const deadline = Date.now() + 5_000;
    while (record === undefined && Date.now() < deadline) {
      record = fx.broker
        .logRecords()
        .filter((line) => line.channel === "audit")
        .map((line) => line.audit as Record<string, unknown>)
        .find((audit) => audit.actorTokenSha256 === sha);
      if (record === undefined) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(record).toMatchObject({
      event: "token_exchange",
      decision: "allow",
      policy: "e2e-delegation",
      actor: { sub: "agent-2", iss: oidcIss },
      actChainDepth: 2,
      act: { sub: "agent-2", act: { sub: "agent-1" } },
    });
    // Neither token appears in the log.
    const output = fx.broker.output.join("\n");
    expect(output.includes(actorToken)).toBe(false);
    expect(output.includes(second)).toBe(false);
  });
});
