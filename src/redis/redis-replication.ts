import { Redis } from "ioredis";
import type { RedisTarget } from "./redis-url.js";
import type { MasterCheck, RevocationReplication } from "./revocation-replication.js";

/**
 * The replication rule for a REDIS_URL target. Sentinel: at least one replica in "auto" (a Sentinel
 * deployment exists to fail over, and a failover loses what no replica has), and the master is
 * confirmed with the Sentinels. Standalone and Cluster: in "auto", the replicas the master reports
 * (none: nothing to wait for, as a lone Redis loses nothing in a failover it cannot have).
 */
export function replicationFor(
  target: RedisTarget,
  setting: { readonly replicas: number | "auto"; readonly waitTimeoutMs: number; readonly commandTimeoutMs: number },
): RevocationReplication {
  const base = { replicas: setting.replicas, waitTimeoutMs: setting.waitTimeoutMs };
  if (target.mode !== "sentinel") return { ...base, minimum: 0 };
  return { ...base, minimum: 1, confirmMaster: sentinelMasterCheck(target, setting.commandTimeoutMs) };
}

/**
 * Asks every configured Sentinel (`SENTINEL MASTER <name>`) in parallel, each bounded by the command
 * timeout. Confirmed when at least one answers and none names another master (`runid`) or reports a
 * failover in progress: a Sentinel that has promoted a replica no longer names the old master, so a
 * write that reached the old master after the promotion is refused rather than acknowledged.
 */
function sentinelMasterCheck(target: Extract<RedisTarget, { mode: "sentinel" }>, commandTimeoutMs: number): MasterCheck {
  const sentinels = target.sentinels.map(
    ({ host, port }) =>
      new Redis({
        host,
        port,
        lazyConnect: true,
        enableOfflineQueue: true,
        maxRetriesPerRequest: 0,
        commandTimeout: commandTimeoutMs,
        connectTimeout: commandTimeoutMs,
        retryStrategy: (attempt) => Math.min(attempt * 100, 1000),
      }),
  );
  // Connection errors surface as failed commands below; without a listener ioredis would log them.
  for (const sentinel of sentinels) sentinel.on("error", () => {});
  return {
    async confirm(runId) {
      const answers = await Promise.allSettled(sentinels.map((sentinel) => sentinel.call("SENTINEL", "MASTER", target.masterName)));
      const views = answers.flatMap((answer) => (answer.status === "fulfilled" ? [fields(answer.value)] : []));
      if (views.length === 0) throw new Error("no sentinel answered: cannot confirm the master");
      for (const view of views) {
        if (view.get("runid") !== runId) throw new Error("a sentinel names another master: the write may have reached a demoted master");
        if ((view.get("flags") ?? "").split(",").includes("failover_in_progress")) throw new Error("a sentinel reports a failover in progress");
      }
    },
    close() {
      for (const sentinel of sentinels) sentinel.disconnect();
    },
  };
}

/** A Sentinel field/value reply as a map. */
function fields(reply: unknown): Map<string, string> {
  const map = new Map<string, string>();
  if (!Array.isArray(reply)) return map;
  for (let index = 0; index + 1 < reply.length; index += 2) {
    const [name, value] = [reply[index], reply[index + 1]];
    if (typeof name === "string" && typeof value === "string") map.set(name, value);
  }
  return map;
}
