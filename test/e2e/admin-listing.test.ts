/**
 * GET /admin/revocations in pages, against a real broker process on a real redis-server: at most
 * `limit` entries a page (default 100, at most 1000), `next_cursor` until the listing is complete,
 * and `broker revocations list` following it to the end.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { expectRefusal } from "../support/refusal.js";
import { requestBroker, startBrokerFixture, type BrokerFixture, type BrokerResponse } from "../support/broker-fixture.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { ROOT } from "../support/repo-root.js";

const SECRET = "listing-test-admin-secret-0123456789-abcdef";
const TOKENS = 230;
const WORKLOADS = 25;
const run = promisify(execFile);

let redis: RedisServerHandle;
let fx: BrokerFixture;

const jtis = Array.from({ length: TOKENS }, (_unused, index) => `listed-jti-${index}`);
const workloadIds = Array.from({ length: WORKLOADS }, (_unused, index) => `listed/workload/${index}`);

function admin(method: "GET" | "POST", path: string, body?: unknown): Promise<BrokerResponse> {
  return requestBroker(fx.url, path, {
    method,
    headers: { authorization: `Bearer ${SECRET}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

beforeAll(async () => {
  redis = await startRedisServer();
  fx = await startBrokerFixture({ env: { REDIS_URL: redis.url, BROKER_ADMIN_SECRET: SECRET } });
  const writes = [
    ...jtis.map((jti) => () => admin("POST", "/admin/revocations/tokens", { jti, reason: "listing test" })),
    ...workloadIds.map((workload_id) => () => admin("POST", "/admin/revocations/workloads", { workload_id, reason: "listing test" })),
  ];
  // A few at a time: the admin API is not what this test measures.
  for (let start = 0; start < writes.length; start += 16) {
    const answers = await Promise.all(writes.slice(start, start + 16).map((write) => write()));
    for (const answer of answers) expect(answer.status, answer.text).toBe(201);
  }
}, 60_000);
afterAll(async () => {
  await fx?.close();
  await redis?.stop();
});

interface Page {
  readonly tokens: { jti: string }[];
  readonly workloads: { workload_id: string }[];
  readonly blocks: unknown[];
  readonly next_cursor: string | null;
}

const sizeOf = (page: Page) => page.tokens.length + page.workloads.length + page.blocks.length;

async function listAll(limit?: number): Promise<{ jtis: Set<string>; workloads: Set<string>; pages: number; largest: number }> {
  const found = { jtis: new Set<string>(), workloads: new Set<string>(), pages: 0, largest: 0 };
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ ...(limit === undefined ? {} : { limit: String(limit) }), ...(cursor === null ? {} : { cursor }) }).toString();
    const res = await admin("GET", `/admin/revocations${query ? `?${query}` : ""}`);
    expect(res.status, res.text).toBe(200);
    const page = res.json as unknown as Page;
    for (const entry of page.tokens) found.jtis.add(entry.jti);
    for (const entry of page.workloads) found.workloads.add(entry.workload_id);
    found.pages += 1;
    found.largest = Math.max(found.largest, sizeOf(page));
    expect(found.pages).toBeLessThan(200);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return found;
}

describe("GET /admin/revocations, paginated", () => {
  it("answers at most 100 entries by default, with a next_cursor", async () => {
    const res = await admin("GET", "/admin/revocations");
    expect(res.status, res.text).toBe(200);
    const page = res.json as unknown as Page;
    expect(sizeOf(page)).toBeLessThanOrEqual(100);
    expect(typeof page.next_cursor).toBe("string");
    expect(res.text.length).toBeLessThan(64 * 1024);
  });

  it.each([undefined, 37, 1000])("following next_cursor with limit %s lists every entry, no page larger than the limit", async (limit) => {
    const all = await listAll(limit);
    expect(all.jtis).toEqual(new Set(jtis));
    expect(all.workloads).toEqual(new Set(workloadIds));
    expect(all.largest).toBeLessThanOrEqual(limit ?? 100);
    if (limit === 37) expect(all.pages).toBeGreaterThanOrEqual(Math.ceil((TOKENS + WORKLOADS) / 37));
  });

  it.each(["0", "1001", "abc", "1.5", "-1", "10&limit=20"])("refuses limit=%s with 400 invalid_request", async (limit) => {
    expectRefusal(await admin("GET", `/admin/revocations?limit=${limit}`), { status: 400, error: "invalid_request", description: /limit must be whole numbers from 1 to 1000/ });
  });

  it("refuses a cursor it did not make with 400 invalid_request", async () => {
    for (const cursor of ["garbage!", Buffer.from('{"v":1}').toString("base64url"), "A".repeat(9000)]) {
      const res = await admin("GET", `/admin/revocations?cursor=${encodeURIComponent(cursor)}`);
      expect(res.status, res.text).toBe(400);
      expect(res.json.error).toBe("invalid_request");
    }
  });
});

describe("broker revocations list", () => {
  // One CLI process: seconds on a loaded machine.
  it("follows every page and prints the whole listing once", { timeout: 60_000 }, async () => {
    const { stdout } = await run(process.execPath, [...CLI_ARGS, "revocations", "list", "--page-size", "40", "--url", fx.url], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", BROKER_ADMIN_TOKEN: SECRET },
      timeout: 30_000,
    });
    const listing = JSON.parse(stdout) as Page;
    expect(listing.tokens.map((entry) => entry.jti).sort()).toEqual([...jtis].sort());
    expect(listing.workloads.map((entry) => entry.workload_id).sort()).toEqual([...workloadIds].sort());
    expect(listing).not.toHaveProperty("next_cursor");
  });
});
