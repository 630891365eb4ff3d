/**
 * The exchange and the workload inventory: each credential is recorded after it is minted, and
 * an inventory that fails or hangs never delays or fails an exchange (it is statistics).
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { createAccessTokenMinter } from "../../src/credentials/access-token.js";
import { createBrokerTokenVerifier } from "../../src/credentials/broker-token-verifier.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { createExchangeToken, type ExchangeToken } from "../../src/exchange/exchange-token.js";
import { createReExchange } from "../../src/exchange/re-exchange.js";
import type { TokenExchangeRequest } from "../../src/exchange/token-request.js";
import type { InventoryStore, IssuanceRecord } from "../../src/inventory/inventory-store.js";
import { createIssuanceRecorder, type InventoryWriteOutcome } from "../../src/inventory/issuance-recorder.js";
import { MemoryInventoryStore } from "../../src/inventory/memory-inventory-store.js";
import { ManualClock } from "../../src/lib/clock.js";
import { loadPolicySet } from "../../src/policy/index.js";
import { TOKEN_TYPE } from "../../src/protocol/token-types.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { exchangeRequest } from "../support/exchange-request.js";
import { FixedVerifier } from "../support/fixed-verifier.js";
import { NOW, subject, tempDir } from "../support/policy.js";
import { within } from "../support/redis-store.js";

const ISSUER = "https://broker.test";
const POLICY = `id: demo
issuer: local-dev
condition: identity.subject == "demo-workload"
grant:
  workload_id: demo-workload
  audiences: [https://demo.example.com, https://other.example.com]
  scopes: [read, write]
  max_lifetime: 10m
`;

describe("exchangeToken and the workload inventory", () => {
  const clock = new ManualClock(NOW * 1000);
  let exchangeWith: (inventory: InventoryStore, outcomes?: InventoryWriteOutcome[]) => ExchangeToken;

  beforeAll(async () => {
    const keys = await FileKeyStore.generate(await mkdtemp(join(tmpdir(), "broker-keys-")));
    const policies = await loadPolicySet((await tempDir({ "demo.policy.yaml": POLICY })).dir, { knownIssuers: [{ id: "local-dev", profile: "oidc" }] });
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const brokerTokens = createBrokerTokenVerifier({ issuer: ISSUER, keys, clock });
    exchangeWith = (inventory, outcomes = []) => {
      const store = new MemoryRevocationStore(clock);
      return createExchangeToken({
        verifier: new FixedVerifier({ plain: subject() }),
        reExchange: createReExchange({ brokerTokens, minter, revocations: store, clock, issuer: ISSUER, maxLifetimeSeconds: 900 }),
        policies: () => policies,
        minter,
        audit: { record: () => undefined },
        revocations: store,
        clock,
        maxLifetimeSeconds: 900,
        recordIssuance: createIssuanceRecorder(inventory, { maxInFlight: 4, onOutcome: (outcome) => outcomes.push(outcome) }),
      });
    };
  });

  const call = (exchange: ExchangeToken, overrides: Partial<TokenExchangeRequest> = {}) =>
    exchange({ request: exchangeRequest("plain", { audiences: ["https://demo.example.com"], scopes: ["read"], ...overrides }), requestId: "r1", clientAddress: "127.0.0.1" });

  it("records the workload, its policy and issuer, and what the policy granted; a re-exchange counts but credits no policy", async () => {
    const inventory = new MemoryInventoryStore(clock);
    const exchange = exchangeWith(inventory);
    const first = await call(exchange);
    await call(exchange, { subjectToken: first.access_token, subjectTokenType: TOKEN_TYPE.accessToken, scopes: [] });
    await new Promise((resolve) => setImmediate(resolve));
    expect(await inventory.usage(["demo-workload"])).toEqual([
      expect.objectContaining({ workloadId: "demo-workload", policies: ["demo"], issuer: "local-dev", issuedLast24h: 2, liveNow: 2 }),
    ]);
    expect(await inventory.policyUsage(["demo"])).toEqual([expect.objectContaining({ audiences: ["https://demo.example.com"], scopes: ["read"], tokenTypes: ["access_token"] })]);
  });

  it("reaches the store only after the answer: not in the exchange's own turn of the event loop", async () => {
    const calls: IssuanceRecord[] = [];
    const watching: InventoryStore = { kind: "memory", record: async (issuance) => void calls.push(issuance), workloadIds: async () => [], usage: async () => [], policyUsage: async () => [] };
    await expect(call(exchangeWith(watching))).resolves.toMatchObject({ token_type: "Bearer" });
    expect(calls).toHaveLength(0);
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls).toEqual([expect.objectContaining({ workloadId: "demo-workload", policyId: "demo", scopes: ["read"] })]);
  });

  it("answers while the inventory throws, rejects or never answers; the lost writes are counted", async () => {
    const outcomes: InventoryWriteOutcome[] = [];
    const failing = (record: InventoryStore["record"]): InventoryStore => ({ kind: "memory", record, workloadIds: async () => [], usage: async () => [], policyUsage: async () => [] });
    const thrown = failing(() => {
      throw new Error("inventory broken");
    });
    const rejected = failing(() => Promise.reject(new Error("redis down")));
    const hanging = failing(() => new Promise<void>(() => undefined));
    for (const inventory of [thrown, rejected]) {
      await expect(within(2_000, call(exchangeWith(inventory, outcomes)))).resolves.toMatchObject({ token_type: "Bearer" });
    }
    const stalled = exchangeWith(hanging, outcomes);
    // Each write starts (and hangs) before the next exchange: four take the places, two are dropped.
    for (let index = 0; index < 6; index++) {
      await expect(within(2_000, call(stalled))).resolves.toMatchObject({ token_type: "Bearer" });
      await new Promise((resolve) => setImmediate(resolve));
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(outcomes.sort()).toEqual(["dropped", "dropped", "failed", "failed"]);
  });
});
