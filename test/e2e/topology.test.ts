/**
 * The docker-compose topology without Docker: three broker processes sharing one redis-server,
 * policies and keys, behind a small round-robin HTTP proxy (standing in for deploy/haproxy.cfg;
 * the brokers' issuer URL is the proxy's, as it is the load balancer's in production).
 *
 * 1. requests through the proxy reach every replica, in turn (each replica logs the X-Request-Id
 *    the proxy set);
 * 2. a token revoked through the proxy is refused by every replica, asked directly;
 * 3. a workload blocked through the proxy gets nothing from any replica.
 */
import { createServer, request, Agent, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, GRANTS, OIDC_SUBJECT, requestBroker, startBrokerFixture, type BrokerFixture, type BrokerResponse } from "../support/broker-fixture.js";
import type { BrokerProcess } from "../support/broker-process.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { replicaClient, type ReplicaClient } from "../support/replica-client.js";
import { expectRefusal } from "../support/refusal.js";

const ADMIN_SECRET = "topology-test-admin-secret-0123456789abcdef";
const AUDIENCE = GRANTS.oidc.audiences[0];

/** A round-robin reverse proxy on 127.0.0.1 that tags each request with X-Request-Id `lb-<n>`. */
interface RoundRobinProxy {
  readonly url: string;
  targets: string[];
  close(): Promise<void>;
}

async function startProxy(): Promise<RoundRobinProxy> {
  const agent = new Agent({ keepAlive: true, maxSockets: 16 });
  let sequence = 0;
  const proxy: RoundRobinProxy = { url: "", targets: [], close: async () => undefined };
  const server: Server = createServer((incoming, outgoing) => {
    const n = sequence++;
    const target = new URL(incoming.url ?? "/", proxy.targets[n % proxy.targets.length]);
    const upstream = request(
      target,
      { method: incoming.method, agent, headers: { ...incoming.headers, host: target.host, "x-request-id": `lb-${n}` } },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on("error", () => {
      if (!outgoing.headersSent) outgoing.writeHead(502);
      outgoing.end();
    });
    incoming.pipe(upstream);
  });
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(proxy, {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  });
}

let proxy: RoundRobinProxy;
let redis: RedisServerHandle;
let fx: BrokerFixture;
let brokers: BrokerProcess[];
let replicas: ReplicaClient[];
let lb: ReplicaClient;

beforeAll(async () => {
  proxy = await startProxy();
  redis = await startRedisServer();
  fx = await startBrokerFixture({ env: { REDIS_URL: redis.url, BROKER_ADMIN_SECRET: ADMIN_SECRET, BROKER_ISSUER_URL: proxy.url } });
  brokers = [fx.broker, await fx.startReplica(), await fx.startReplica()];
  replicas = brokers.map((broker, index) => replicaClient(`broker-${index + 1}`, broker.url));
  proxy.targets = brokers.map((broker) => broker.url);
  lb = replicaClient("lb", proxy.url);
  for (const replica of replicas) await eventually(async () => (await replica.get("/readyz")).status === 200, 15_000, `${replica.name} ready`);
}, 90_000);
afterAll(async () => {
  await fx?.close();
  await proxy?.close();
  await redis?.stop();
});

/** A subject token for the proxy's (the load balancer's) audience, exchanged at `via`. */
async function exchange(via: ReplicaClient): Promise<BrokerResponse> {
  const subject = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT, aud: proxy.url });
  return via.exchange({ ...fx.form(subject), audience: AUDIENCE });
}

describe("three replicas behind a round-robin load balancer, one Redis", () => {
  it("1. spreads requests over every replica", async () => {
    const answers: BrokerResponse[] = [];
    for (let i = 0; i < 12; i += 1) answers.push(await exchange(lb));
    for (const answer of answers) expect(answer.status, answer.text).toBe(200);
    const ids = answers.map((answer) => answer.headers.get("x-request-id"));
    expect(new Set(ids).size).toBe(12);
    // Each replica's line for the request (with the id the proxy set) arrives over its stdout pipe:
    // an exchange is audited, so its access facts (path, requestId) are on its one audit line.
    const served = () =>
      brokers.map(
        (broker) =>
          broker
            .logRecords()
            .filter((record) => record.channel === "audit" && record.path === "/token" && ids.includes(record.requestId as string)).length,
      );
    await eventually(() => served().reduce((sum, count) => sum + count, 0) === 12, 5_000, "request log lines of every replica");
    expect(served()).toEqual([4, 4, 4]);
  });

  it("2. a token revoked through the load balancer is refused by every replica", async () => {
    const issued = await exchange(lb);
    const token = issued.json.access_token as string;
    for (const replica of replicas) expect((await replica.reExchange(token, AUDIENCE)).status).toBe(200);
    const jti = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")).jti as string;
    const revoked = await lb.admin("POST", "/admin/revocations/tokens", ADMIN_SECRET, { jti, reason: "topology test" });
    expect(revoked.status, revoked.text).toBe(201);
    for (const replica of replicas) {
      const res = await replica.reExchange(token, AUDIENCE);
      expectRefusal(res, { status: 400, error: "invalid_request", description: "subject_token has been revoked" });
    }
  });

  it("3. a workload blocked through the load balancer gets nothing from any replica", async () => {
    const blocked = await lb.admin("POST", "/admin/revocations/workloads", ADMIN_SECRET, { workload_id: GRANTS.oidc.workloadId, reason: "topology test", block: true });
    expect(blocked.status, blocked.text).toBe(201);
    for (const replica of replicas) {
      const res = await exchange(replica);
      expect(res.status, `${replica.name}: ${res.text}`).toBe(400);
      expect(res.json.error).toBe("unauthorized_client");
    }
    const listed = await Promise.all(replicas.map((replica) => replica.admin("GET", "/admin/revocations", ADMIN_SECRET)));
    for (const listing of listed) expect((listing.json.blocks as unknown[]).length).toBe(1);
    const lifted = await requestBroker(proxy.url, `/admin/blocks/${encodeURIComponent(GRANTS.oidc.workloadId)}`, {
      method: "DELETE",
      headers: { authorization: `Bearer ${ADMIN_SECRET}` },
    });
    expect(lifted.status, lifted.text).toBeLessThan(300);
  });
});
