/**
 * Delegation (RFC 8693 §1.1, §2.1, §4.1, §4.4) through the exchange use case with its real
 * collaborators (policies from YAML, keys, minter, broker-token verifier, in-memory store); only
 * the identity verifier is a fake, so every actor/subject identity is named by its token text.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeJwt } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent, AuditSink } from "../../src/audit/audit-event.js";
import { createAccessTokenMinter, type AccessTokenMinter } from "../../src/credentials/access-token.js";
import { createBrokerTokenVerifier } from "../../src/credentials/broker-token-verifier.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { createVerifyActor } from "../../src/authorization/verify-actor.js";
import { createExchangeToken, type ExchangeToken } from "../../src/exchange/exchange-token.js";
import { createReExchange } from "../../src/exchange/re-exchange.js";
import type { TokenExchangeRequest } from "../../src/exchange/token-request.js";
import { TOKEN_TYPE, type SubjectTokenType } from "../../src/protocol/token-types.js";
import { ManualClock } from "../../src/lib/clock.js";
import { loadPolicySet } from "../../src/policy/index.js";
import { createIntrospectToken } from "../../src/introspection/introspect-token.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { NOW, subject, tempDir } from "../support/policy.js";
import { FixedVerifier } from "../support/fixed-verifier.js";
import { exchangeRequest } from "../support/exchange-request.js";

const ISSUER = "https://broker.test";
const DEV_ISS = "http://localhost/dev";
const AUDIENCE = "https://demo.example.com";

const POLICIES = {
  "delegated.policy.yaml": `id: delegated
issuer: local-dev
condition: identity.subject == "demo-workload"
grant:
  workload_id: demo-workload
  audiences: [${AUDIENCE}]
  scopes: [read, write]
  max_lifetime: 10m
  delegation:
    actor_condition: actor.identity.subject in ["agent", "agent-2"] || actor.identity.issuer == "broker"
    max_chain_depth: 2
`,
  "plain.policy.yaml": `id: plain
issuer: local-dev
condition: identity.subject == "plain-workload"
grant:
  workload_id: plain-workload
  audiences: [${AUDIENCE}]
  max_lifetime: 10m
`,
  "agents.policy.yaml": `id: agents
issuer: local-dev
condition: identity.subject in ["agent", "agent-2", "rogue"]
grant:
  workload_id_expr: '"agents/" + identity.subject'
  audiences: [${AUDIENCE}]
  max_lifetime: 10m
`,
  "pinned.policy.yaml": `id: pinned
issuer: local-dev
condition: identity.subject == "pinned-workload"
grant:
  workload_id: pinned-workload
  audiences: [${AUDIENCE}]
  max_lifetime: 10m
  delegation:
    actor_condition: "true"
    max_chain_depth: 3
    may_act: { sub: agent, iss: "${DEV_ISS}" }
`,
};

/** Accepts exactly the identities it was given, keyed by token text; names the parameter it checked. */

const verifier = new FixedVerifier({
  demo: subject(),
  plain: subject({ subject: "plain-workload" }),
  pinned: subject({ subject: "pinned-workload" }),
  agent: subject({ subject: "agent" }),
  "agent-2": subject({ subject: "agent-2" }),
  rogue: subject({ subject: "rogue" }),
  stranger: subject({ subject: "stranger" }),
});

const request = exchangeRequest;

const actor = (token: string, type: SubjectTokenType = TOKEN_TYPE.jwt) => ({ actorToken: { token, type } });
const broker = { subjectTokenType: TOKEN_TYPE.accessToken } as const;

describe("delegation (actor_token)", () => {
  const clock = new ManualClock(NOW * 1000);
  const audit: AuditEvent[] = [];
  const sink: AuditSink = { record: (event) => audit.push(event) };
  const store = new MemoryRevocationStore(clock);
  let exchange: ExchangeToken;
  let minter: AccessTokenMinter;
  let introspect: ReturnType<typeof createIntrospectToken>;

  beforeAll(async () => {
    const keys = await FileKeyStore.generate(await mkdtemp(join(tmpdir(), "broker-keys-")));
    const policySet = await loadPolicySet((await tempDir(POLICIES)).dir, { knownIssuers: [{ id: "local-dev", profile: "oidc" }] });
    const policies = () => policySet;
    minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const brokerTokens = createBrokerTokenVerifier({ issuer: ISSUER, keys, clock });
    introspect = createIntrospectToken({ brokerTokens, revocations: store });
    exchange = createExchangeToken({
      verifier,
      reExchange: createReExchange({ brokerTokens, minter, revocations: store, clock, issuer: ISSUER, maxLifetimeSeconds: 900, policies }),
      verifyActor: createVerifyActor({ verifier, brokerTokens, revocations: store, policies, issuer: ISSUER, ownTokenAudience: "actor_token" }),
      policies,
      minter,
      audit: sink,
      revocations: store,
      clock,
      maxLifetimeSeconds: 900,
    });
  });

  const call = (req: TokenExchangeRequest) => exchange({ request: req, requestId: "r1", clientAddress: "127.0.0.1" });
  const issue = async (req: TokenExchangeRequest) => (await call(req)).access_token;

  it("issues a token naming the actor in act, and records the actor", async () => {
    const token = await issue(request("demo", actor("agent")));
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ sub: "demo-workload", act: { sub: "agent", iss: DEV_ISS }, delegation_policy: "delegated" });
    expect(claims.act).not.toHaveProperty("act");
    expect(audit.at(-1)).toMatchObject({
      decision: "allow",
      policy: "delegated",
      actor: { sub: "agent", iss: DEV_ISS },
      actChainDepth: 1,
      actorTokenType: TOKEN_TYPE.jwt,
    });
  });

  it("keeps impersonation (no act) the default without an actor_token", async () => {
    const claims = decodeJwt(await issue(request("demo")));
    expect(claims).not.toHaveProperty("act");
    expect(claims.delegation_policy).toBe("delegated");
    expect(decodeJwt(await issue(request("plain")))).not.toHaveProperty("delegation_policy");
  });

  it("refuses an actor when the matched grant has no delegation", async () => {
    await expect(call(request("plain", actor("agent")))).rejects.toMatchObject({
      code: "unauthorized_client",
      description: "delegation is not allowed for this identity",
    });
    expect(audit.at(-1)).toMatchObject({ decision: "deny", actor: { sub: "agent" } });
  });

  it("refuses an actor the actor_condition does not admit", async () => {
    await expect(call(request("demo", actor("rogue")))).rejects.toMatchObject({
      code: "unauthorized_client",
      description: "the actor is not allowed to act for this identity",
    });
  });

  it("refuses an actor_token that does not verify, naming it", async () => {
    await expect(call(request("demo", actor("forged")))).rejects.toMatchObject({ code: "invalid_request", description: "actor_token is not acceptable" });
  });

  it("refuses a JWT-SVID with an actor", async () => {
    await expect(call(request("demo", { ...actor("agent"), requestedTokenType: "jwt" }))).rejects.toMatchObject({ code: "invalid_request" });
  });

  it("nests act on re-exchange (outermost = current actor) and enforces max_chain_depth", async () => {
    const first = await issue(request("demo", actor("agent")));
    const second = await issue(request(first, { ...broker, ...actor("agent-2"), scopes: ["read"] }));
    const claims = decodeJwt(second);
    expect(claims).toMatchObject({ sub: "demo-workload", scope: "read", act: { sub: "agent-2", iss: DEV_ISS, act: { sub: "agent", iss: DEV_ISS } } });
    expect(audit.at(-1)).toMatchObject({ decision: "allow", actChainDepth: 2, actor: { sub: "agent-2" }, policy: "delegated" });

    // Narrowing without an actor keeps the chain as it is.
    const narrowed = decodeJwt(await issue(request(second, broker)));
    expect(narrowed.act).toEqual(claims.act);

    // max_chain_depth 2: a third actor is one too many.
    await expect(call(request(second, { ...broker, ...actor("agent") }))).rejects.toMatchObject({
      code: "invalid_request",
      description: "delegation chain is too long",
    });
    // Delegation still only narrows.
    await expect(call(request(first, { ...broker, ...actor("agent-2"), scopes: ["admin"] }))).rejects.toMatchObject({ code: "invalid_scope" });
    // The actor_condition of the granting policy applies on re-exchange too.
    await expect(call(request(first, { ...broker, ...actor("rogue") }))).rejects.toMatchObject({ code: "unauthorized_client" });
  });

  it("refuses delegation on re-exchange of a token whose grant had no delegation", async () => {
    const plain = await issue(request("plain"));
    await expect(call(request(plain, { ...broker, ...actor("agent") }))).rejects.toMatchObject({
      code: "unauthorized_client",
      description: "delegation is not allowed for this identity",
    });
  });

  it("honours may_act in a broker subject token", async () => {
    const pinned = await issue(request("pinned"));
    expect(decodeJwt(pinned).may_act).toEqual({ sub: "agent", iss: DEV_ISS });
    await expect(call(request(pinned, { ...broker, ...actor("agent-2") }))).rejects.toMatchObject({
      code: "unauthorized_client",
      description: "the actor is not allowed to act for this subject (may_act)",
    });
    const delegated = decodeJwt(await issue(request(pinned, { ...broker, ...actor("agent") })));
    expect(delegated).toMatchObject({ act: { sub: "agent", iss: DEV_ISS }, may_act: { sub: "agent", iss: DEV_ISS } });
  });

  it("accepts a broker access token as actor, and refuses it once revoked", async () => {
    const agentToken = await minter.mint({ subject: "agent-workload", audiences: [ISSUER, "https://x"], scopes: [], lifetimeSeconds: 300, extraClaims: {} });
    const claims = decodeJwt(await issue(request("demo", actor(agentToken.token, TOKEN_TYPE.accessToken))));
    expect(claims.act).toEqual({ sub: "agent-workload" });
    await store.revokeToken({ jti: agentToken.jti, expiresAt: agentToken.expiresAt, actor: "ops", reason: "test", at: NOW });
    await expect(call(request("demo", actor(agentToken.token, TOKEN_TYPE.accessToken)))).rejects.toMatchObject({
      code: "invalid_request",
      description: "actor_token has been revoked",
    });
  });

  it("refuses an external actor that no policy maps to a workload, and a blocked actor workload", async () => {
    await expect(call(request("demo", actor("stranger")))).rejects.toMatchObject({
      code: "unauthorized_client",
      description: "the actor is not a workload any policy names",
    });
    await store.blockWorkload({ workloadId: "agents/agent-2", until: NOW + 60, actor: "ops", reason: "test", at: NOW });
    await expect(call(request("demo", actor("agent-2")))).rejects.toMatchObject({ description: "the actor's workload is blocked" });
    expect(audit.at(-1)).toMatchObject({ decision: "deny", actorWorkloadId: "agents/agent-2" });
    await store.unblockWorkload("agents/agent-2");
  });

  it("nests a delegated broker actor token's chain, bounds the new token by it and joins its family", async () => {
    // A token of demo-workload acted for by agent, meant for the broker too.
    const delegated = (
      await minter.mint({ subject: "demo-workload", audiences: [AUDIENCE, ISSUER], scopes: [], lifetimeSeconds: 300, extraClaims: {}, act: { sub: "agent", iss: DEV_ISS } })
    ).token;
    const token = await issue(request("demo", actor(delegated, TOKEN_TYPE.accessToken)));
    const claims = decodeJwt(token);
    expect(claims.act).toEqual({ sub: "demo-workload", act: { sub: "agent", iss: DEV_ISS } });
    expect(claims.lineage).toEqual([decodeJwt(delegated).jti]);
    expect(claims.exp).toBeLessThanOrEqual(decodeJwt(delegated).exp as number);
    expect(audit.at(-1)).toMatchObject({ actChainDepth: 2, actorWorkloadId: "demo-workload" });
    await store.revokeToken({ jti: decodeJwt(delegated).jti as string, expiresAt: NOW + 600, actor: "ops", reason: "test", at: NOW });
    await expect(introspect(token)).resolves.toEqual({ active: false });
  });

  it("refuses a broker actor token whose aud does not name the broker", async () => {
    const apiOnly = await issue(request("demo"));
    await expect(call(request("demo", actor(apiOnly, TOKEN_TYPE.accessToken)))).rejects.toMatchObject({
      code: "invalid_request",
      description: "actor_token is not meant for this broker (its aud does not name the broker)",
    });
  });

  it("enforces the grant's own may_act on the first delegation (RFC 8693 §4.4)", async () => {
    await expect(call(request("pinned", actor("agent-2")))).rejects.toMatchObject({
      code: "unauthorized_client",
      description: "the actor is not allowed to act for this identity",
    });
    expect(decodeJwt(await issue(request("pinned", actor("agent"))))).toMatchObject({ act: { sub: "agent" }, may_act: { sub: "agent" } });
  });

  it("shows the act chain in introspection", async () => {
    const first = await issue(request("demo", actor("agent")));
    const second = await issue(request(first, { ...broker, ...actor("agent-2") }));
    await expect(introspect(second)).resolves.toMatchObject({
      active: true,
      act: { sub: "agent-2", iss: DEV_ISS, act: { sub: "agent", iss: DEV_ISS } },
    });
    const plain = await introspect(await issue(request("plain")));
    expect(plain).not.toHaveProperty("act");
  });
});
