/**
 * GET /admin/workloads through the whole broker in-process (the memory inventory the broker opens
 * without REDIS_URL): pages that cover every workload once, X.509-SVIDs counted like tokens, the
 * refusals of a bad query, and a broker with the inventory off.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeForm, eventually, GRANTS, OIDC_SUBJECT, startInProcessBroker, TOKEN_TYPES, type InProcessBroker } from "../support/in-process-broker.js";
import { expectRefusal } from "../support/refusal.js";
import { makeCsr, scratch } from "../support/svid-harness.js";
import { githubActionsClaims, kubernetesClaims } from "../support/test-issuer.js";

const ADMIN_SECRET = "inventory-app-admin-secret-0123456789abcdefgh";
const admin = { authorization: `Bearer ${ADMIN_SECRET}` };

let fx: InProcessBroker;
let tmp: Awaited<ReturnType<typeof scratch>>;

beforeAll(async () => {
  tmp = await scratch();
  fx = await startInProcessBroker({
    env: { BROKER_ADMIN_SECRET: ADMIN_SECRET },
    policies: {
      "kubernetes-svid.policy.yaml": {
        id: "e2e-kubernetes-svid",
        owner: "team-payments",
        issuer: "kubernetes",
        condition: 'identity.attributes.namespace == "payments" && identity.attributes.service_account == "ledger"',
        grant: {
          workload_id_expr: '"k8s/payments/" + identity.attributes.service_account',
          spiffe_id: "spiffe://broker.local/ns/payments/sa/ledger",
          audiences: ["https://ledger-db.example.com"],
          max_lifetime: "1h",
          token_types: ["access_token", "x509_svid"],
        },
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await tmp?.close();
});

const list = (query = "") => fx.request(`/admin/workloads${query}`, { headers: admin });

describe("GET /admin/workloads", () => {
  it("counts an X.509-SVID like a token, under the policy that granted it", async () => {
    const token = await fx.issuers.kubernetes.mint(kubernetesClaims({ serviceAccount: "ledger" }));
    const csr = (await makeCsr(tmp.dir)).pem;
    const res = await fx.request("/svid/x509", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: encodeForm({ subject_token: token, subject_token_type: TOKEN_TYPES.jwt, csr }),
    });
    expect(res.status, res.text).toBe(200);
    const rowOf = async () => ((await list()).json.workloads as Record<string, unknown>[]).find((entry) => entry.workload_id === "k8s/payments/ledger");
    // The broker sums a second of issuances into one write (issuance-recorder.ts): poll, with a deadline.
    await eventually(async () => (await rowOf()) !== undefined, 5_000, "the SVID in the inventory");
    const row = await rowOf();
    expect(row).toMatchObject({ policies: ["e2e-kubernetes-svid"], owners: ["team-payments"], issued_last_24h: 1, live_credentials: 1 });
    const stale = await list("?stale=1h");
    const unused = (stale.json.unused_grants as Record<string, unknown>[]).find((entry) => entry.policy_id === "e2e-kubernetes-svid");
    // The SVID asked for no audience: only the access token type was never used.
    expect(unused).toMatchObject({ owner: "team-payments", never_requested: { audiences: ["https://ledger-db.example.com"], scopes: [], token_types: ["access_token"] } });
  });

  it("pages through every workload once: the issued ones, most recent first, then the literal ids never issued", async () => {
    const github = await fx.issuers.github.mint(githubActionsClaims(), { alg: "RS256" });
    expect((await fx.exchange({ ...fx.form(github), audience: GRANTS.github.audiences[0] })).status).toBe(200);
    const oidc = await fx.issuers.oidc.mint({ sub: OIDC_SUBJECT });
    expect((await fx.exchange({ ...fx.form(oidc), audience: "https://a.example.com" })).status).toBe(200);
    const issued = (page: { json: Record<string, unknown> }) => (page.json.workloads as { workload_id: string; last_issued_at: number | null }[]).filter((row) => row.last_issued_at !== null).length;
    await eventually(async () => issued(await list()) === 3, 5_000, "three issued workloads");
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await list(`?limit=2${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`);
      expect(page.status, page.text).toBe(200);
      const rows = page.json.workloads as { workload_id: string }[];
      expect(rows.length).toBeLessThanOrEqual(2);
      seen.push(...rows.map((row) => row.workload_id));
      cursor = page.json.next_cursor as string | null;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(cursor).toBeNull();
    expect(seen.slice(0, 3)).toEqual([GRANTS.oidc.workloadId, GRANTS.github.workloadId, "k8s/payments/ledger"]);
    expect([...seen].sort()).toEqual([GRANTS.oidc.workloadId, GRANTS.github.workloadId, "k8s/payments/ledger", GRANTS.kubernetes.workloadId].sort());
  });

  it("refuses a bad limit, cursor or stale duration with 400 invalid_request", async () => {
    for (const query of ["?limit=0", "?limit=abc", "?limit=1001", "?limit=1&limit=2", "?stale=soon", "?stale=", "?cursor=x9", "?cursor=i-1"]) {
      const answer = await list(query);
      expect(answer.status, query).toBe(400);
      expectRefusal(answer, { status: 400, error: "invalid_request" });
    }
  });
});

describe("GET /admin/workloads with BROKER_INVENTORY=off", () => {
  it("answers 404 not_found saying the inventory is off; exchanges go on", async () => {
    const off = await startInProcessBroker({ env: { BROKER_ADMIN_SECRET: ADMIN_SECRET, BROKER_INVENTORY: "off" } });
    try {
      const oidc = await off.issuers.oidc.mint({ sub: OIDC_SUBJECT });
      expect((await off.exchange({ ...off.form(oidc), audience: "https://a.example.com" })).status).toBe(200);
      expectRefusal(await off.request("/admin/workloads", { headers: admin }), { status: 404, error: "not_found", description: "the workload inventory is off on this broker (BROKER_INVENTORY=off)" });
    } finally {
      await off.close();
    }
  });
});
