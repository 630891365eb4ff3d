import { describe, expect, it } from "vitest";
import type { AuditEvent, AuditSink } from "../../src/audit/audit-event.js";
import { factsOf, knowing, withFacts } from "../../src/audit/decision-facts.js";
import { issuanceLog, recordDecision, type IssuanceRequestFields } from "../../src/audit/record-decision.js";
import type { ExchangeAuditEvent } from "../../src/audit/audit-event.js";
import { audited } from "../../src/admin/admin-call.js";
import { BrokerError } from "../../src/errors/broker-error.js";

function collector(): { sink: AuditSink; records: AuditEvent[] } {
  const records: AuditEvent[] = [];
  return { sink: { record: (event) => void records.push(event) }, records };
}

const REQUEST: IssuanceRequestFields<ExchangeAuditEvent> = {
  event: "token_exchange",
  requestId: "req-1",
  subjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
  subjectTokenSha256: "ab".repeat(32),
  requestedTokenType: "access_token",
  clientAddress: "127.0.0.1",
};

describe("recordDecision", () => {
  it("writes one allow record: the request's fields, then every fact the decision established", async () => {
    const { sink, records } = collector();
    const decided = { value: "token", facts: { issuer: "local-dev", subject: "wl", workloadId: "wl", policy: "demo", jti: "j1", exp: 100 } };
    const result = await recordDecision(sink, issuanceLog<typeof decided>(REQUEST), async () => decided);
    expect(result).toBe(decided);
    expect(records).toEqual([{ ...REQUEST, issuer: "local-dev", subject: "wl", workloadId: "wl", policy: "demo", jti: "j1", exp: 100, decision: "allow" }]);
  });

  it("writes one deny record with the facts known when the refusal happened, and no later ones", async () => {
    const { sink, records } = collector();
    const refusal = new BrokerError("unauthorized_client", "no policy grants a credential to this identity", { detail: "no_matching_policy: demo: condition_false" });
    const decide = () =>
      knowing({ dpopJkt: "jkt" }, async () => {
        const verified = { issuer: "local-dev", subject: "wl" };
        await knowing(verified, async () => {
          throw withFacts(refusal, { ...verified, evaluated: ["demo"] });
        });
        return { facts: { ...verified, jti: "never issued" } };
      });
    await expect(recordDecision(sink, issuanceLog(REQUEST), decide)).rejects.toBe(refusal);
    expect(records).toEqual([
      {
        ...REQUEST,
        dpopJkt: "jkt",
        issuer: "local-dev",
        subject: "wl",
        evaluated: ["demo"],
        decision: "deny",
        error: "unauthorized_client",
        reason: "no_matching_policy: demo: condition_false",
      },
    ]);
  });

  it("a fact attached nearer the refusal wins over the same fact known earlier", async () => {
    const refusal = new BrokerError("invalid_request", "delegation chain is too long");
    await expect(knowing({ actChainDepth: 1, policy: "outer" }, () => knowing({ actChainDepth: 3 }, () => Promise.reject(refusal)))).rejects.toBe(refusal);
    expect(factsOf(refusal)).toEqual({ actChainDepth: 3, policy: "outer" });
  });

  it("rethrows the refusal unchanged: the same object, the same own properties, nothing written onto it", async () => {
    const refusal = new BrokerError("temporarily_unavailable", "rate limit exceeded", { detail: "rate_limited: workload limit 1/s", retryAfterSeconds: 2 });
    const before = Reflect.ownKeys(refusal).map((key) => [key, Reflect.get(refusal, key)]);
    const { sink } = collector();
    const thrown = await recordDecision(sink, issuanceLog(REQUEST), () => knowing({ workloadId: "wl" }, () => Promise.reject(refusal))).catch((error: unknown) => error);
    expect(thrown).toBe(refusal);
    expect(Reflect.ownKeys(refusal).map((key) => [key, Reflect.get(refusal, key)])).toEqual(before);
  });

  it("records an unexpected error as a bare server_error, and rethrows it as it was", async () => {
    const { sink, records } = collector();
    const bug = new TypeError("undefined is not a function");
    await expect(recordDecision(sink, issuanceLog(REQUEST), () => knowing({ issuer: "local-dev" }, () => Promise.reject(bug)))).rejects.toBe(bug);
    expect(records).toEqual([{ ...REQUEST, issuer: "local-dev", decision: "deny", error: "server_error", reason: "unexpected error" }]);
  });

  it("a refusal that is not an object carries no facts", async () => {
    expect(withFacts("plain string", { issuer: "x" })).toBe("plain string");
    expect(factsOf("plain string")).toEqual({});
    expect(factsOf(undefined)).toEqual({});
  });

  it("writes the admin record, done or failed, through the same wrapper", async () => {
    const { sink, records } = collector();
    const call = { actor: "ops", requestId: "req-2", clientAddress: "10.0.0.1" };
    await audited(sink, call, { action: "revoke_token", target: "jti-1", reason: "leaked" }, async () => "ok");
    const missing = new BrokerError("not_found", "this workload is not blocked", { detail: "no block on wl" });
    await expect(audited(sink, call, { action: "unblock_workload", target: "wl" }, () => Promise.reject(missing))).rejects.toBe(missing);
    expect(records).toEqual([
      { event: "admin", requestId: "req-2", actor: "ops", clientAddress: "10.0.0.1", action: "revoke_token", target: "jti-1", reason: "leaked", outcome: "done" },
      { event: "admin", requestId: "req-2", actor: "ops", clientAddress: "10.0.0.1", action: "unblock_workload", target: "wl", outcome: "failed", error: "not_found", detail: "no block on wl" },
    ]);
  });
});
