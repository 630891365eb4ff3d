/**
 * A planned Sentinel failover under a stream of revocations (issue 12, item 3), black-box: two
 * real broker processes, A and B, with REDIS_URL=redis+sentinel://; a real master, one real
 * replica and one real Sentinel, all on 127.0.0.1; no `min-replicas-to-write`.
 *
 *   1. revocations by jti stream through A and B in turn, one at a time each;
 *   2. `SENTINEL FAILOVER` while they stream; the stream goes on until the old master has become a
 *      replica of the new one and has caught up (the moment a lost write would be gone);
 *   3. every revocation that got 201 is in force on both replicas (listing and re-exchange);
 *      every other one got 503 temporarily_unavailable (none got anything else).
 *
 * Printed (never asserted on): acknowledged / refused counts, the time from the failover command
 * to the first 503 and from the first 503 to the stream's last 503.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/broker-fixture.js";
import type { RedisServerHandle } from "../support/redis-server.js";
import type { ReplicaClient } from "../support/replica-client.js";
import { redisSentinel, startReplicaPair, type ReplicaPair, type RedisSentinelDeployment } from "../support/replica-pair.js";

const ADMIN_SECRET = "sentinel-e2e-admin-secret-0123456789-abcdefghij";
const MASTER_NAME = "brokerfail";
/** How long the stream may run after the failover command before the test gives up waiting for the old master's demotion. */
const DEMOTION_DEADLINE_MS = 20_000;

let pair: ReplicaPair<RedisSentinelDeployment>;
let master: RedisServerHandle;
let replica: RedisServerHandle;
let sentinelCli: Redis;
let a: ReplicaClient;
let b: ReplicaClient;

beforeAll(async () => {
  pair = await startReplicaPair({ redis: redisSentinel(MASTER_NAME), env: { BROKER_ADMIN_SECRET: ADMIN_SECRET } });
  ({ a, b } = pair);
  ({ master, replica, sentinelCli } = pair.redis);
}, 90_000);

afterAll(async () => {
  await pair?.close();
}, 30_000);

interface Outcome {
  readonly jti: string;
  readonly status: number;
  readonly error: unknown;
  readonly at: number;
}

/** True once the old master reports itself a replica of the new one, linked and caught up. */
async function oldMasterDemoted(): Promise<boolean> {
  const cli = new Redis(master.url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: true, retryStrategy: () => null });
  try {
    const info = await cli.info("replication");
    return info.includes("role:slave") && info.includes("master_link_status:up") && info.includes(`master_port:${replica.port}`);
  } catch {
    return false;
  } finally {
    cli.disconnect();
  }
}

describe("Sentinel: SENTINEL FAILOVER under a stream of revocations, two broker replicas", () => {
  it("every revocation acknowledged (201) is in force on both replicas afterwards; the others got 503", async () => {
    const outcomes: Outcome[] = [];
    let stop = false;
    let counter = 0;
    const stream = async (replica: ReplicaClient): Promise<void> => {
      while (!stop) {
        const jti = `failover-${replica.name}-${counter++}`;
        const res = await replica.admin("POST", "/admin/revocations/tokens", ADMIN_SECRET, { jti, reason: "failover test" }, AbortSignal.timeout(10_000));
        outcomes.push({ jti, status: res.status, error: res.json.error, at: performance.now() });
      }
    };
    const streams = [stream(a), stream(b)];
    try {
      // Some acknowledged revocations before the failover.
      await eventually(() => outcomes.filter((outcome) => outcome.status === 201).length >= 20, 10_000, "revocations before the failover");
      // NOGOODSLAVE until the Sentinel has fresh INFO from the replica: retry within a bound.
      await eventually(async () => (await sentinelCli.call("SENTINEL", "FAILOVER", MASTER_NAME).then(() => true, () => false)), 15_000, "failover started");
      const failoverAt = performance.now();
      await eventually(oldMasterDemoted, DEMOTION_DEADLINE_MS, "old master demoted and caught up with the new one");
      // And the stream must succeed again on the new master.
      const demotedAt = outcomes.length;
      await eventually(() => outcomes.slice(demotedAt).filter((outcome) => outcome.status === 201).length >= 10, 15_000, "revocations acknowledged after the failover");
      stop = true;
      await Promise.all(streams);

      const acknowledged = outcomes.filter((outcome) => outcome.status === 201);
      const refused = outcomes.filter((outcome) => outcome.status !== 201);
      for (const outcome of refused) expect({ status: outcome.status, error: outcome.error }).toEqual({ status: 503, error: "temporarily_unavailable" });
      for (const replica of [a, b]) {
        // Every page: the listing is paginated (at most 1000 entries a page).
        const listing = await replica.listRevocations(ADMIN_SECRET);
        const listed = new Set((listing.tokens as { jti: string }[]).map((entry) => entry.jti));
        const lost = acknowledged.filter((outcome) => !listed.has(outcome.jti)).map((outcome) => outcome.jti);
        expect(lost, `acknowledged revocations missing on ${replica.name}`).toEqual([]);
      }
      const firstRefusal = refused[0]?.at;
      const lastRefusal = refused.at(-1)?.at;
      console.log(
        `[sentinel-failover] ${acknowledged.length} acknowledged, ${refused.length} refused (503), 0 lost; ` +
          `failover command → first 503: ${firstRefusal === undefined ? "-" : Math.round(firstRefusal - failoverAt)} ms; ` +
          `first → last 503: ${firstRefusal === undefined || lastRefusal === undefined ? "-" : Math.round(lastRefusal - firstRefusal)} ms`,
      );
    } finally {
      stop = true;
      await Promise.allSettled(streams);
    }
  }, 90_000);
});
