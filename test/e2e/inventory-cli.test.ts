/**
 * The workload inventory through a real broker process on a real redis-server, asked with the
 * `broker` CLI (a real process per command): exchange a few tokens, then `broker inventory` shows
 * every workload the policies can mint with its counts, last use, blast radius and owner; a
 * revocation with a block shows in its state; `--stale` lists what was never issued and the
 * grants never asked for; a wrong credential is refused; nothing prints the credential.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBrokerFixture, type BrokerFixture } from "../support/broker-fixture.js";
import { GRANTS, OIDC_SUBJECT } from "../support/broker-folder.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { eventually, rawClient } from "../support/redis-store.js";
import { runAdminCli } from "../support/admin-cli.js";
import { gitlabCiClaims } from "../support/test-issuer.js";

const SECRET = "inventory-e2e-admin-secret-0123456789-abcdefghij";

let redis: RedisServerHandle;
let fx: BrokerFixture;

beforeAll(async () => {
  redis = await startRedisServer();
  fx = await startBrokerFixture({
    env: { BROKER_ADMIN_SECRET: SECRET, REDIS_URL: redis.url },
    policies: {
      "owned.policy.yaml": {
        id: "e2e-owned",
        owner: "team-ledger",
        issuer: "oidc",
        condition: 'identity.subject == "owned-workload"',
        grant: { workload_id: "oidc/owned", audiences: ["https://owned.example.com"], scopes: ["r", "w"], max_lifetime: "5m", delegation: { actor_condition: "true", max_chain_depth: 2 } },
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await fx?.close();
  await redis?.stop();
});

const broker = (args: string[], token = SECRET) => runAdminCli(fx.url, args, token);

type Row = Record<string, unknown> & { workload_id: string };

/** POST /token on a connection of its own that the broker closes after the answer (no keep-alive). */
function exchangeClosing(url: string, form: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = new URLSearchParams(form).toString();
    const call = request(`${url}/token`, { method: "POST", agent: false, headers: { "content-type": "application/x-www-form-urlencoded", connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    call.on("error", reject);
    call.end(body);
  });
}

describe("broker inventory against a broker process on Redis", { timeout: 120_000 }, () => {
  it("shows issued workloads with counts and last use, never-issued ones, owners, blast radius and revocation state", async () => {
    const oidc = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT });
    for (const scope of ["s1", "s1 s2"]) {
      expect((await fx.exchange({ ...fx.form(oidc), audience: "https://a.example.com", scope })).status).toBe(200);
    }
    const gitlab = await fx.issuers.gitlab.mint(gitlabCiClaims());
    expect((await fx.exchange({ ...fx.form(gitlab), audience: "https://registry.example.com" })).status).toBe(200);
    // The writes follow the answers without being awaited: wait until the index holds both.
    const raw = rawClient(redis.url);
    try {
      await eventually(async () => expect(await raw.zcard("broker:inv:index")).toBe(2), 5_000);
    } finally {
      await raw.quit();
    }

    const listed = await broker(["inventory", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = (JSON.parse(listed.stdout) as { workloads: Row[] }).workloads;
    const byId = new Map(rows.map((row) => [row.workload_id, row]));
    expect(byId.get(GRANTS.oidc.workloadId)).toMatchObject({ policies: ["e2e-oidc"], issuers: ["oidc"], issued_last_24h: 2, live_credentials: 2, revoked_at: null, blocked: false });
    expect(byId.get(GRANTS.oidc.workloadId)?.blast_radius).toMatchObject({ size: 3 * 4 * 1, max_lifetime_seconds: 1200 });
    // A workload_id_expr policy's workload appears once seen; a literal one never issued appears too.
    expect(byId.get("gitlab/7/42")).toMatchObject({ policies: ["e2e-gitlab"], issued_last_24h: 1 });
    expect(byId.get("oidc/owned")).toMatchObject({ owners: ["team-ledger"], last_issued_at: null, issued_last_24h: 0, blast_radius: expect.objectContaining({ size: 2, delegation: { allowed: true, max_chain_depth: 2 } }) });
    expect(typeof byId.get(GRANTS.oidc.workloadId)?.last_issued_at).toBe("number");
    // Issued first: most recently issued first, then the literal ids never issued.
    expect(rows.slice(0, 2).map((row) => row.workload_id).sort()).toEqual([GRANTS.oidc.workloadId, "gitlab/7/42"].sort());

    expect((await broker(["revoke", "--workload", GRANTS.oidc.workloadId, "--block", "--reason", "inventory test"])).code).toBe(0);
    const table = await broker(["inventory"]);
    expect(table.code).toBe(0);
    const line = table.stdout.split("\n").find((text) => text.startsWith(GRANTS.oidc.workloadId)) ?? "";
    expect(line).toMatch(/e2e-oidc\s+-\s+oidc\s+\d+s ago\s+2\s+2\s+12\s+1200s\s+no\s+revoked\+blocked$/);
    for (const output of [listed, table]) expect(output.stdout + output.stderr).not.toContain(SECRET);
  });

  it("--stale lists what a policy grants but was not issued for that long, and the grants never requested", async () => {
    const stale = await broker(["inventory", "--stale", "1h", "--json"]);
    expect(stale.code, stale.stderr).toBe(0);
    const body = JSON.parse(stale.stdout) as { workloads: Row[]; unused_grants: Row[] };
    const ids = body.workloads.map((row) => row.workload_id);
    expect(ids).toContain("oidc/owned");
    expect(ids).toContain(GRANTS.kubernetes.workloadId);
    expect(ids).not.toContain(GRANTS.oidc.workloadId);
    expect(ids).not.toContain("gitlab/7/42");
    const oidcGrants = body.unused_grants.find((grant) => grant.policy_id === "e2e-oidc");
    expect(oidcGrants).toMatchObject({ never_requested: { audiences: ["https://b.example.com", "https://c.example.com"], scopes: ["s3", "s4"], token_types: [] } });
    const table = await broker(["inventory", "--stale", "30d"]);
    expect(table.stdout).toContain("Policies granting more than was ever requested:");
    expect(table.stdout).toMatch(/e2e-owned \(owner team-ledger, never used\): never requested audiences https:\/\/owned\.example\.com; scopes r w; token types access_token/);
  });

  it("is refused without the admin credential, and the refusal prints nothing of it; writes are counted", async () => {
    const wrong = `${SECRET.slice(0, -1)}X`;
    const refused = await broker(["inventory"], wrong);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("401 invalid_token");
    expect(refused.stdout + refused.stderr).not.toContain(wrong);
    const bad = await broker(["inventory", "--stale", "soon"]);
    expect(bad.code).not.toBe(0);
    const metrics = await fx.get("/metrics");
    expect(metrics.text).toMatch(/broker_inventory_writes_total\{outcome="ok"\} 3/);
    const audit = fx.broker.logRecords().filter((record) => record.channel === "audit");
    expect(audit.map((record) => (record.audit as Record<string, unknown>).action)).toContain("list_workloads");
  });

  it("a replica stopped with SIGTERM writes the issuances it was still summing before it closes Redis", async () => {
    const raw = rawClient(redis.url);
    try {
      const issuedBefore = async () => Object.entries(await raw.hgetall("broker:inv:wl:gitlab/7/42")).filter(([field]) => field.startsWith("h:")).reduce((sum, [, count]) => sum + Number(count), 0);
      const before = await issuedBefore();
      const gitlab = await fx.issuers.gitlab.mint(gitlabCiClaims());
      // A replica nothing else has talked to, asked without keep-alive: it has no connection to
      // wait for and closes at once, well within the second it sums issuances for (its timer
      // would otherwise write them).
      const replica = await fx.startReplica();
      expect(await exchangeClosing(replica.url, { ...fx.form(gitlab), audience: "https://registry.example.com" })).toBe(200);
      expect(await replica.stop()).toBe(0);
      expect(await issuedBefore()).toBe(before + 1);
    } finally {
      await raw.quit();
    }
  });
});
