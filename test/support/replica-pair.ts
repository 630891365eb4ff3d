/**
 * Two real broker processes, A and B, sharing one Redis deployment: the same folder, keys and
 * issuer URL (A's), so a token from either verifies on both. The Redis side is a topology:
 * {@link standaloneRedis} (one redis-server), {@link redisCluster} (three masters) or
 * {@link redisSentinel} (a master, its replica and one Sentinel).
 *
 * ```ts
 * const pair = await startReplicaPair({ redis: standaloneRedis(), env: { BROKER_ADMIN_SECRET: SECRET }, introspector: true });
 * await pair.b.introspect(token, pair.introspector);
 * await pair.close();
 * ```
 */
import { Redis } from "ioredis";
import { eventually, startBrokerFixture, type BrokerFixture, type BrokerFixtureOptions } from "./broker-fixture.js";
import type { BrokerProcess } from "./broker-process.js";
import { startRedisCluster, startRedisServer, type RedisClusterHandle, type RedisServerHandle, type RedisServerOptions } from "./redis-server.js";
import { replicaClient, type ReplicaClient } from "./replica-client.js";

/** The subject of the introspection token {@link ReplicaPair.introspector}. */
export const INTROSPECTOR_SUBJECT = "resource-server";
export const INTROSPECTION_SCOPE = "broker:introspect";

/** A running Redis deployment: the REDIS_URL the brokers get, and how to stop it. */
export interface RedisDeployment {
  readonly url: string;
  stop(): Promise<void>;
}

/** One redis-server (AOF on, noeviction unless `options` say otherwise). */
export const standaloneRedis =
  (options: RedisServerOptions = {}): (() => Promise<RedisServerHandle>) =>
  () =>
    startRedisServer(options);

/** A three-master Redis Cluster. */
export const redisCluster = (): (() => Promise<RedisClusterHandle>) => startRedisCluster;

/** A master, one replica of it and one Sentinel monitoring it (quorum 1). */
export interface RedisSentinelDeployment extends RedisDeployment {
  readonly master: RedisServerHandle;
  readonly replica: RedisServerHandle;
  readonly sentinel: RedisServerHandle;
  /** A client of the Sentinel (SENTINEL commands). */
  readonly sentinelCli: Redis;
}

/**
 * A Sentinel deployment, ready for a failover: the replica linked (the master counts it in WAIT)
 * and known to the Sentinel. REDIS_URL is redis+sentinel://…/`masterName`.
 */
export const redisSentinel =
  (masterName: string): (() => Promise<RedisSentinelDeployment>) =>
  async () => {
    // No 5 s wait before the first (diskless) sync: the replica is linked at once.
    const master = await startRedisServer({ args: ["--repl-diskless-sync-delay", "0"] });
    const replica = await startRedisServer({ args: ["--replicaof", "127.0.0.1", String(master.port)] });
    const sentinel = await startRedisServer({ sentinelFor: { masterName, masterPort: master.port } });
    const sentinelCli = new Redis(sentinel.url);
    // The master counts the replica in WAIT from the replica's first acknowledgement after its sync.
    const masterCli = new Redis(master.url);
    await eventually(async () => (await masterCli.set("linked-probe", "1"), (await masterCli.wait(1, 100)) === 1), 15_000, "replica linked");
    await masterCli.del("linked-probe");
    masterCli.disconnect();
    // The Sentinel must know the replica before it can fail over to it.
    await eventually(async () => ((await sentinelCli.call("SENTINEL", "REPLICAS", masterName)) as unknown[]).length === 1, 20_000, "sentinel sees the replica");
    return {
      url: `redis+sentinel://127.0.0.1:${sentinel.port}/${masterName}`,
      master,
      replica,
      sentinel,
      sentinelCli,
      stop: async () => {
        sentinelCli.disconnect();
        await sentinel.stop();
        await replica.stop();
        await master.stop();
      },
    };
  };

export interface ReplicaPairOptions<R extends RedisDeployment> extends BrokerFixtureOptions {
  /** Starts the Redis deployment both replicas use (its URL becomes REDIS_URL). */
  readonly redis: () => Promise<R>;
  /** Wait until both replicas answer /readyz 200 (default true; every request counts against a client rate limit). */
  readonly waitReady?: boolean;
  /**
   * Add a policy granting {@link INTROSPECTOR_SUBJECT} (oidc issuer) the introspection scope on the
   * broker, and exchange its token on A once both are up: {@link ReplicaPair.introspector}.
   */
  readonly introspector?: boolean;
}

export interface ReplicaPair<R extends RedisDeployment> {
  readonly redis: R;
  /** The fixture of A: its folder, issuers and logs. */
  readonly fx: BrokerFixture;
  readonly brokerA: BrokerProcess;
  readonly brokerB: BrokerProcess;
  readonly a: ReplicaClient;
  readonly b: ReplicaClient;
  /** A broker token with the introspection scope and aud = the broker ("" without `introspector`). */
  readonly introspector: string;
  /** Stops both replicas, the issuers and Redis. */
  close(): Promise<void>;
}

/** Starts the Redis deployment, then replica A (the fixture) and replica B on it. */
export async function startReplicaPair<R extends RedisDeployment>(options: ReplicaPairOptions<R>): Promise<ReplicaPair<R>> {
  const { redis: startRedis, waitReady = true, introspector: wantIntrospector = false, ...fixture } = options;
  const redis = await startRedis();
  let fx: BrokerFixture | undefined;
  const close = async () => {
    await fx?.close();
    await redis.stop();
  };
  try {
    fx = await startBrokerFixture({
      ...fixture,
      env: { REDIS_URL: redis.url, ...fixture.env },
      policies: (brokerUrl) => ({
        ...(wantIntrospector ? { "introspector.policy.yaml": introspectorPolicy(brokerUrl) } : {}),
        ...(typeof fixture.policies === "function" ? fixture.policies(brokerUrl) : fixture.policies),
      }),
    });
    const started = fx;
    const brokerB = await started.startReplica();
    const a = replicaClient("A", started.url);
    const b = replicaClient("B", brokerB.url);
    if (waitReady) await eventually(async () => (await a.get("/readyz")).status === 200 && (await b.get("/readyz")).status === 200, 15_000, "both replicas ready");
    const introspector = wantIntrospector ? await introspectionToken(started, a) : "";
    return { redis, fx: started, brokerA: started.broker, brokerB, a, b, introspector, close };
  } catch (error) {
    await close();
    throw error;
  }
}

function introspectorPolicy(brokerUrl: string): Record<string, unknown> {
  return {
    id: "e2e-introspector",
    issuer: "oidc",
    condition: `identity.subject == "${INTROSPECTOR_SUBJECT}"`,
    grant: { workload_id: "rs/introspector", audiences: [brokerUrl], scopes: [INTROSPECTION_SCOPE], max_lifetime: "15m" },
  };
}

async function introspectionToken(fx: BrokerFixture, a: ReplicaClient): Promise<string> {
  const res = await a.exchange({ ...fx.form(await fx.issuers.oidc.mint({ sub: INTROSPECTOR_SUBJECT })), audience: fx.url, scope: INTROSPECTION_SCOPE });
  if (res.status !== 200 || typeof res.json.access_token !== "string") throw new Error(`introspector token refused: ${res.status} ${res.text}`);
  return res.json.access_token;
}
