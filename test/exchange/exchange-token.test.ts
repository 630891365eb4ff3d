/**
 * The exchange use case with its real collaborators (policy set from YAML, keys, minter,
 * in-memory store); only the identity verifier is a fake implementing SubjectTokenVerifier,
 * so these tests reach the store checks without a loopback issuer.
 */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { AuditEvent, AuditSink } from "../../src/audit/audit-event.js";
import { createAccessTokenMinter } from "../../src/credentials/access-token.js";
import { createBrokerTokenVerifier } from "../../src/credentials/broker-token-verifier.js";
import { FileKeyStore } from "../../src/credentials/file-key-store.js";
import { BrokerError } from "../../src/errors/broker-error.js";
import { createExchangeToken, type ExchangeToken } from "../../src/exchange/exchange-token.js";
import { createReExchange } from "../../src/exchange/re-exchange.js";
import type { TokenExchangeRequest } from "../../src/exchange/token-request.js";
import { TOKEN_TYPE } from "../../src/protocol/token-types.js";
import type { VerifiedSubject } from "../../src/identity/types.js";
import { ManualClock } from "../../src/lib/clock.js";
import { loadPolicySet } from "../../src/policy/index.js";
import { MemoryRevocationStore } from "../../src/revocation/memory-revocation-store.js";
import { StoreUnavailableError, type RevocationStore } from "../../src/revocation/revocation-store.js";
import { NOW, subject, tempDir } from "../support/policy.js";
import { FixedVerifier } from "../support/fixed-verifier.js";
import { exchangeRequest } from "../support/exchange-request.js";

const ISSUER = "https://broker.test";
const POLICY = `id: demo
issuer: local-dev
condition: identity.subject == "demo-workload"
grant:
  workload_id: demo-workload
  audiences: [https://demo.example.com]
  scopes: [read, write]
  max_lifetime: 10m
`;

/** A verifier that accepts exactly the subjects it was given, keyed by token text. */

/** A store that is down: every call fails the way the Redis store fails when Redis is unreachable. */
class DownStore extends MemoryRevocationStore {
  override async activeBlock(): Promise<never> {
    throw new StoreUnavailableError("connection refused");
  }
  override async tokenStatus(): Promise<never> {
    throw new StoreUnavailableError("connection refused");
  }
}

const singleUse: VerifiedSubject = { ...subject(), replayKey: "local-dev:jti:abc" };

const request = (overrides: Partial<TokenExchangeRequest> = {}) => exchangeRequest("plain", overrides);

describe("exchangeToken with the revocation store", () => {
  const clock = new ManualClock(NOW * 1000);
  const audit: AuditEvent[] = [];
  const sink: AuditSink = { record: (event) => audit.push(event) };
  let keys: FileKeyStore;
  let exchangeWith: (store: RevocationStore) => ExchangeToken;

  beforeAll(async () => {
    keys = await FileKeyStore.generate(await mkdtemp(join(tmpdir(), "broker-keys-")));
    const policies = await loadPolicySet((await tempDir({ "demo.policy.yaml": POLICY })).dir, { knownIssuers: [{ id: "local-dev", profile: "oidc" }] });
    const minter = createAccessTokenMinter({ issuer: ISSUER, keys, clock });
    const brokerTokens = createBrokerTokenVerifier({ issuer: ISSUER, keys, clock });
    exchangeWith = (store) =>
      createExchangeToken({
        verifier: new FixedVerifier({ plain: subject(), "single-use": singleUse }),
        reExchange: createReExchange({ brokerTokens, minter, revocations: store, clock, issuer: ISSUER, maxLifetimeSeconds: 900 }),
        policies: () => policies,
        minter,
        audit: sink,
        revocations: store,
        clock,
        maxLifetimeSeconds: 900,
      });
  });

  const call = (exchange: ExchangeToken, overrides: Partial<TokenExchangeRequest> = {}) =>
    exchange({ request: request(overrides), requestId: "r1", clientAddress: "127.0.0.1" });

  it("refuses a blocked workload with unauthorized_client and issues again once lifted", async () => {
    const store = new MemoryRevocationStore(clock);
    const exchange = exchangeWith(store);
    await store.blockWorkload({ workloadId: "demo-workload", until: undefined, actor: "ops", reason: "compromised", at: NOW });
    await expect(call(exchange)).rejects.toMatchObject({ code: "unauthorized_client", description: "issuance to this workload is blocked" });
    expect(audit.at(-1)).toMatchObject({ decision: "deny", error: "unauthorized_client", workloadId: "demo-workload", policy: "demo" });
    await store.unblockWorkload("demo-workload");
    await expect(call(exchange)).resolves.toMatchObject({ token_type: "Bearer" });
  });

  it("accepts a single-use subject token once", async () => {
    const exchange = exchangeWith(new MemoryRevocationStore(clock));
    await expect(call(exchange, { subjectToken: "single-use" })).resolves.toMatchObject({ token_type: "Bearer" });
    await expect(call(exchange, { subjectToken: "single-use" })).rejects.toMatchObject({ code: "invalid_request", description: "subject_token was already used" });
  });

  it("lets exactly one of many concurrent uses of a single-use token through", async () => {
    const exchange = exchangeWith(new MemoryRevocationStore(clock));
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => call(exchange, { subjectToken: "single-use" })));
    expect(outcomes.filter((outcome) => outcome.status === "fulfilled")).toHaveLength(1);
  });

  it("refuses to re-exchange a revoked broker token, by jti and by workload", async () => {
    const store = new MemoryRevocationStore(clock);
    const exchange = exchangeWith(store);
    const first = await call(exchange, { audiences: ["https://demo.example.com"] });
    const reExchange = { subjectToken: first.access_token, subjectTokenType: TOKEN_TYPE.accessToken, scopes: ["read"] } as const;
    await expect(call(exchange, reExchange)).resolves.toMatchObject({ scope: "read" });

    await store.revokeWorkload({ workloadId: "demo-workload", revokedAt: NOW, expiresAt: NOW + 900, actor: "ops", reason: "retired", at: NOW });
    await expect(call(exchange, reExchange)).rejects.toMatchObject({ code: "invalid_request", description: "subject_token has been revoked" });
  });

  it("fails closed with temporarily_unavailable when the store is down", async () => {
    const exchange = exchangeWith(new DownStore(clock));
    const refusal = await call(exchange).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(BrokerError);
    expect(refusal).toMatchObject({ code: "temporarily_unavailable", retryAfterSeconds: 2 });
    expect(audit.at(-1)).toMatchObject({ decision: "deny", error: "temporarily_unavailable" });
  });
});
