/**
 * Delegation chains and token families under attack (issue 11), black-box: two real broker
 * processes, A and B, sharing one real redis-server, with the identity providers as real HTTP
 * servers on loopback. Each step is what an attacker (or a careless holder) would try:
 *
 *   1. a delegated broker token used as actor_token must not hide the actor behind it: its chain
 *      is nested in the new token, counted in the depth, and every actor in it must satisfy the
 *      grant's actor_condition;
 *   2. a blocked or revoked workload must not act for others with its external token;
 *   3. revoking a token (RFC 7009 or an admin jti revocation) on one replica revokes what was
 *      re-exchanged or delegated from it on the other: introspection inactive, re-exchange
 *      refused, the audit record says "family revoked";
 *   4. a grant's own may_act holds at the first delegation;
 *   5. a broker token whose aud does not name the broker cannot act (RFC 9068 §4).
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeSegment, eventually, TOKEN_TYPES, type BrokerFixture, type BrokerResponse } from "../support/broker-fixture.js";
import type { BrokerProcess } from "../support/broker-process.js";
import type { RedisServerHandle } from "../support/redis-server.js";
import { exchangeAudits, sha256Hex, type ReplicaClient } from "../support/replica-client.js";
import { standaloneRedis, startReplicaPair, type ReplicaPair } from "../support/replica-pair.js";
import { kubernetesClaims } from "../support/test-issuer.js";

const API = "https://api.example.com";
const ADMIN_SECRET = "chains-e2e-admin-secret-0123456789-abcdefghij";
/** The e2e-kubernetes grant of the fixture (namespace payments, service account api). */
const K8S_WORKLOAD = "k8s/payments/api";

let pair: ReplicaPair<RedisServerHandle>;
let redis: RedisServerHandle;
let fx: BrokerFixture;
let brokerB: BrokerProcess;
let a: ReplicaClient;
let b: ReplicaClient;
let introspector: string;
let oidcIss: string;

beforeAll(async () => {
  pair = await startReplicaPair({
    redis: standaloneRedis(),
    introspector: true,
    env: { BROKER_ADMIN_SECRET: ADMIN_SECRET },
    policies: (brokerUrl) => ({
      // The subject of most chains: any agent, any broker workload, the payments service account.
      "chain-a.policy.yaml": {
        id: "chain-a",
        issuer: "oidc",
        condition: 'identity.subject == "svc-a"',
        grant: {
          workload_id: "wl/a",
          audiences: [API, brokerUrl],
          scopes: ["read", "write"],
          max_lifetime: "10m",
          delegation: {
            actor_condition:
              'actor.identity.issuer == "broker" || actor.identity.issuer == "kubernetes" || (actor.identity.issuer == "oidc" && actor.identity.subject.startsWith("agent-"))',
            max_chain_depth: 3,
          },
        },
      },
      // X of finding 1: agents may act for it.
      "chain-b.policy.yaml": {
        id: "chain-b",
        issuer: "oidc",
        condition: 'identity.subject == "svc-b"',
        grant: {
          workload_id: "wl/b",
          audiences: [API, brokerUrl],
          max_lifetime: "10m",
          delegation: { actor_condition: 'actor.identity.issuer == "oidc" && actor.identity.subject.startsWith("agent-")', max_chain_depth: 2 },
        },
      },
      // Trusts exactly one actor: the broker workload wl/b, and nobody behind it.
      "chain-strict.policy.yaml": {
        id: "chain-strict",
        issuer: "oidc",
        condition: 'identity.subject == "svc-strict"',
        grant: {
          workload_id: "wl/strict",
          audiences: [API],
          max_lifetime: "10m",
          delegation: { actor_condition: 'actor.identity.issuer == "broker" && actor.identity.subject == "wl/b"', max_chain_depth: 5 },
        },
      },
      // Admits any actor, but names one in may_act.
      "chain-pinned.policy.yaml": {
        id: "chain-pinned",
        issuer: "oidc",
        condition: 'identity.subject == "svc-pinned"',
        grant: {
          workload_id: "wl/pinned",
          audiences: [API],
          max_lifetime: "10m",
          delegation: { actor_condition: "true", may_act: { sub: "agent-1" } },
        },
      },
      // Agents are workloads too: this is how an agent's actor_token maps to a workload.
      "chain-agents.policy.yaml": {
        id: "chain-agents",
        issuer: "oidc",
        condition: 'identity.subject.startsWith("agent-")',
        grant: { workload_id_expr: '"agents/" + identity.subject', audiences: [brokerUrl], max_lifetime: "10m" },
      },
    }),
  });
  ({ redis, fx, brokerB, a, b, introspector } = pair);
  oidcIss = fx.issuers.oidc.url;
}, 90_000);

afterAll(async () => {
  await pair?.close();
});

const mint = (sub: string) => fx.issuers.oidc.mint({ sub });
const actorForm = (token: string, type: string = TOKEN_TYPES.jwt) => ({ actor_token: token, actor_token_type: type });
const asSubject = (token: string) => fx.form(token, TOKEN_TYPES.accessToken);

function issued(res: BrokerResponse): string {
  expect(res.status, res.text).toBe(200);
  return res.json.access_token as string;
}

function refused(res: BrokerResponse, error: string, description?: string): void {
  expect(res.status, res.text).toBe(400);
  expect(res.json.error).toBe(error);
  expect(res.json).not.toHaveProperty("access_token");
  if (description !== undefined) expect(res.json.error_description).toBe(description);
}

const claimsOf = (token: string) => decodeSegment(token, 1);

async function active(replica: ReplicaClient, token: string): Promise<boolean> {
  const res = await replica.introspect(token, introspector);
  expect(res.status, res.text).toBe(200);
  return res.json.active === true;
}

/** The audit record `broker` wrote for the exchange of this subject token, polled until it is there. */
async function auditOf(broker: BrokerProcess, subjectToken: string, decision: "allow" | "deny"): Promise<Record<string, unknown>> {
  let found: Record<string, unknown> | undefined;
  await eventually(() => {
    found = exchangeAudits(broker, sha256Hex(subjectToken)).find((record) => record.decision === decision);
    return found !== undefined;
  }, 5_000, "audit record");
  return found as Record<string, unknown>;
}

/** svc-b's token acted for by agent-1: X = wl/b with actor E = agent-1. */
async function delegatedB(replica = a): Promise<string> {
  return issued(await replica.exchange({ ...fx.form(await mint("svc-b")), audience: [API, fx.url], ...actorForm(await mint("agent-1")) }));
}

describe("finding 1: a delegated broker token as actor_token carries its chain", () => {
  it("nests the actor token's own chain under it, in the token, introspection (on the other replica) and the audit record", async () => {
    const actorToken = await delegatedB();
    expect(claimsOf(actorToken).act).toEqual({ sub: "agent-1", iss: oidcIss });
    const subjectToken = await mint("svc-a");
    const token = issued(await a.exchange({ ...fx.form(subjectToken), audience: API, ...actorForm(actorToken, TOKEN_TYPES.accessToken) }));
    const chain = { sub: "wl/b", act: { sub: "agent-1", iss: oidcIss } };
    expect(claimsOf(token).act).toEqual(chain);
    const introspection = await b.introspect(token, introspector);
    expect(introspection.json).toMatchObject({ active: true, act: chain });
    expect(await auditOf(fx.broker, subjectToken, "allow")).toMatchObject({ act: chain, actChainDepth: 2, actor: { sub: "wl/b" }, actorWorkloadId: "wl/b" });
  });

  it("checks the grant's actor_condition against every actor in the chain: E cannot hide behind X", async () => {
    // chain-strict trusts wl/b alone. Before the fix, wl/b's delegated token passed as {sub: wl/b}.
    const res = await a.exchange({ ...fx.form(await mint("svc-strict")), ...actorForm(await delegatedB(), TOKEN_TYPES.accessToken) });
    refused(res, "unauthorized_client", "the actor is not allowed to act for this identity");
    // wl/b's own, undelegated token is admitted.
    const plainB = issued(await a.exchange({ ...fx.form(await mint("svc-b")), audience: [API, fx.url] }));
    const token = issued(await b.exchange({ ...fx.form(await mint("svc-strict")), ...actorForm(plainB, TOKEN_TYPES.accessToken) }));
    expect(claimsOf(token).act).toEqual({ sub: "wl/b" });
  });

  it("counts the depth over the whole chain, and refuses to merge two chains", async () => {
    // 3 hops: svc-a's token re-exchanged with agent-1, then with agent-2 (depth 2, within chain-a's 3).
    const t0 = issued(await a.exchange({ ...fx.form(await mint("svc-a")), audience: [API, fx.url] }));
    const both = { audience: [API, fx.url] };
    const t1 = issued(await b.exchange({ ...asSubject(t0), ...both, ...actorForm(await mint("agent-1")) }));
    const t2 = issued(await a.exchange({ ...asSubject(t1), ...both, ...actorForm(await mint("agent-2")) }));
    expect(claimsOf(t2).act).toEqual({ sub: "agent-2", iss: oidcIss, act: { sub: "agent-1", iss: oidcIss } });
    // A delegated actor (depth 2 of its own) on a subject with a chain: no single true order, refused.
    refused(await b.exchange({ ...asSubject(t1), ...both, ...actorForm(await delegatedB(), TOKEN_TYPES.accessToken) }), "invalid_request");
    // A token whose chain is already 3 deep, as actor for a fresh subject: 1 + 3 > 3.
    const t3 = issued(await b.exchange({ ...asSubject(t2), ...both, ...actorForm(await mint("agent-3")) }));
    expect(claimsOf(t3).act).toMatchObject({ sub: "agent-3", act: { sub: "agent-2", act: { sub: "agent-1" } } });
    const res = await a.exchange({ ...fx.form(await mint("svc-a")), audience: API, ...actorForm(t3, TOKEN_TYPES.accessToken) });
    refused(res, "invalid_request", "delegation chain is too long");
  });
});

describe("finding 2: an actor is a workload, checked like a subject", () => {
  it("refuses an external actor no policy maps to a workload", async () => {
    const res = await a.exchange({ ...fx.form(await mint("svc-a")), audience: API, ...actorForm(await mint("stranger")) });
    refused(res, "unauthorized_client", "the actor is not a workload any policy names");
  });

  it("a blocked workload's Kubernetes token can no longer act for others, on either replica", async () => {
    const k8sToken = () => fx.issuers.kubernetes.mint(kubernetesClaims());
    const before = issued(await a.exchange({ ...fx.form(await mint("svc-a")), audience: API, ...actorForm(await k8sToken()) }));
    expect(claimsOf(before).act).toMatchObject({ sub: "system:serviceaccount:payments:api" });
    const block = await a.admin("POST", "/admin/revocations/workloads", ADMIN_SECRET, { workload_id: K8S_WORKLOAD, reason: "compromised", block: true });
    expect(block.status, block.text).toBe(201);
    const subjectToken = await mint("svc-a");
    refused(await b.exchange({ ...fx.form(subjectToken), audience: API, ...actorForm(await k8sToken()) }), "unauthorized_client", "the actor's workload is blocked");
    expect(await auditOf(brokerB, subjectToken, "deny")).toMatchObject({ actorWorkloadId: K8S_WORKLOAD });
    // A known limit (docs/security.md): `act` names the external identity, not its workload, so
    // the workload revocation that came with the block does not reach what it helped mint before.
    expect(await active(b, before)).toBe(true);
  });

  it("an agent whose workload was revoked cannot act with a token issued before the revocation", async () => {
    const agentToken = await mint("agent-9");
    const revoke = await b.admin("POST", "/admin/revocations/workloads", ADMIN_SECRET, { workload_id: "agents/agent-9", reason: "leaked" });
    expect(revoke.status, revoke.text).toBe(201);
    refused(await a.exchange({ ...fx.form(await mint("svc-a")), audience: API, ...actorForm(agentToken) }), "invalid_request", "actor_token has been revoked");
  });
});

describe("finding 3: token families across replicas", () => {
  it("RFC 7009 revocation of T on A: T′ and T″ re-exchanged from it are inactive on B and cannot be re-exchanged", async () => {
    const t = issued(await a.exchange({ ...fx.form(await mint("svc-a")), audience: [API, fx.url], scope: "read write" }));
    const tPrime = issued(await b.exchange({ ...asSubject(t), audience: [API, fx.url], scope: "read" }));
    const tSecond = issued(await a.exchange({ ...asSubject(tPrime), audience: API, scope: "read" }));
    expect(claimsOf(tSecond).lineage).toEqual([claimsOf(t).jti, claimsOf(tPrime).jti]);
    expect(await active(b, tSecond)).toBe(true);

    expect((await a.revoke(t)).status).toBe(200);
    expect(await active(b, t)).toBe(false);
    expect(await active(b, tPrime)).toBe(false);
    expect(await active(b, tSecond)).toBe(false);
    refused(await b.exchange({ ...asSubject(tPrime), audience: API }), "invalid_request", "subject_token has been revoked");
    const audit = await auditOf(brokerB, tPrime, "deny");
    expect(String(audit.reason)).toContain("family revoked");
  });

  it("an admin revocation of a middle member by jti on B revokes its descendants on A, not its ancestor", async () => {
    const root = issued(await a.exchange({ ...fx.form(await mint("svc-a")), audience: [API, fx.url] }));
    const middle = issued(await a.exchange({ ...asSubject(root), audience: [API, fx.url] }));
    const leaf = issued(await a.exchange({ ...asSubject(middle), audience: API }));
    const res = await b.admin("POST", "/admin/revocations/tokens", ADMIN_SECRET, { jti: claimsOf(middle).jti, reason: "leaked" });
    expect(res.status, res.text).toBe(201);
    expect(await active(a, leaf)).toBe(false);
    expect(await active(a, middle)).toBe(false);
    expect(await active(a, root)).toBe(true);
  });

  it("a token minted with a broker actor token joins the actor's family and never outlives it", async () => {
    const actorToken = issued(await a.exchange({ ...fx.form(await mint("svc-b")), audience: [API, fx.url] }));
    const minted = issued(await b.exchange({ ...fx.form(await mint("svc-a")), audience: API, ...actorForm(actorToken, TOKEN_TYPES.accessToken) }));
    expect(claimsOf(minted).lineage).toEqual([claimsOf(actorToken).jti]);
    expect(claimsOf(minted).exp as number).toBeLessThanOrEqual(claimsOf(actorToken).exp as number);
    expect((await b.revoke(actorToken)).status).toBe(200);
    expect(await active(a, minted)).toBe(false);
  });

  it("the family mark lives in Redis at least as long as any member can", async () => {
    const t = issued(await a.exchange({ ...fx.form(await mint("svc-a")), audience: [API, fx.url] }));
    const child = issued(await a.exchange({ ...asSubject(t), audience: API }));
    expect((await b.revoke(t)).status).toBe(200);
    const client = new Redis(redis.url);
    try {
      const expiry = Number(await client.expiretime(`broker:rev:jti:${String(claimsOf(t).jti)}`));
      expect(expiry).toBeGreaterThanOrEqual(claimsOf(child).exp as number);
    } finally {
      client.disconnect();
    }
  });
});

describe("finding 5 and the audience rule", () => {
  it("refuses the first delegation when the grant's may_act names another actor", async () => {
    const res = await a.exchange({ ...fx.form(await mint("svc-pinned")), ...actorForm(await mint("agent-2")) });
    refused(res, "unauthorized_client", "the actor is not allowed to act for this identity");
    const token = issued(await a.exchange({ ...fx.form(await mint("svc-pinned")), ...actorForm(await mint("agent-1")) }));
    expect(claimsOf(token)).toMatchObject({ act: { sub: "agent-1" }, may_act: { sub: "agent-1" } });
  });

  it("a broker token whose aud does not name the broker cannot act, but can still be narrowed", async () => {
    const apiOnly = issued(await a.exchange({ ...fx.form(await mint("svc-b")), audience: API }));
    const res = await b.exchange({ ...fx.form(await mint("svc-a")), audience: API, ...actorForm(apiOnly, TOKEN_TYPES.accessToken) });
    refused(res, "invalid_request", "actor_token is not meant for this broker (its aud does not name the broker)");
    issued(await b.exchange({ ...asSubject(apiOnly), audience: API }));
  });
});
