/**
 * A stalled PKCS#11 token under a whole broker (in-process, served on a loopback port): the
 * token worker is wrapped (test/support/stalling-token-worker.ts) so that a signature blocks its
 * thread as a module stuck in C_Sign would. /token must answer 503 within BROKER_PKCS11_TIMEOUT_MS
 * (never hang), /readyz must say not ready, and the event loop must keep serving /healthz meanwhile.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { initSigningKeys } from "../../src/credentials/key-rotation.js";
import { openToken } from "../../src/pkcs11/open-token-keys.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { tokenKeyCustody } from "../../src/pkcs11/token-key-custody.js";
import { encodeForm, OIDC_SUBJECT, startInProcessBroker, type InProcessBroker } from "../support/in-process-broker.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";
import { stallingTokenGate } from "../support/stalling-token.js";

const AUDIENCE = "https://a.example.com";
const TIMEOUT_MS = 1_000;
const gate = stallingTokenGate();
let token: SoftHsmToken;
let broker: InProcessBroker;

beforeAll(async () => {
  token = createSoftHsmToken("stall-test");
  useSoftHsmEnv(token);
  broker = await startInProcessBroker({
    listen: true,
    env: { ...token.brokerEnv, BROKER_PKCS11_TIMEOUT_MS: String(TIMEOUT_MS) },
    prepareKeys: async (keysDir) => {
      const client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin });
      try {
        await initSigningKeys(join(keysDir, "signing"), { clock: { now: () => Date.now() }, custody: tokenKeyCustody(client) });
      } finally {
        await client.close();
      }
    },
    openToken: (settings, log, options) => openToken(settings, log, { ...options, ...gate.workerOptions }),
  });
}, 60_000);

afterAll(async () => {
  gate.open();
  await broker?.close();
  token?.remove();
}, 30_000);

/** Over the loopback socket, as a client would: the event loop has to be free to answer. */
async function overHttp(path: string, init?: RequestInit): Promise<{ status: number; body: Record<string, unknown>; headers: Headers; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${broker.url}${path}`, init);
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, headers: res.headers, ms: performance.now() - started };
}

async function exchange() {
  const form = { ...broker.form(await broker.issuers.oidc.mint({ sub: OIDC_SUBJECT })), audience: AUDIENCE };
  return overHttp("/token", { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: encodeForm(form) });
}

describe("a stalled PKCS#11 token", () => {
  it("answers 503 within the bound, says not ready, and keeps serving /healthz while the token is stuck", async () => {
    expect((await exchange()).status).toBe(200);
    gate.shut();
    try {
      let settled = false;
      const pending = exchange().finally(() => (settled = true));
      // While the signature is stuck in the worker, the event loop keeps answering: each /healthz
      // comes back before the stuck exchange does.
      for (let i = 0; i < 3; i += 1) {
        const health = await overHttp("/healthz");
        expect(health.status).toBe(200);
        expect(settled, `/healthz ${i + 1} answered only after the stuck exchange`).toBe(false);
      }
      const res = await pending;
      expect(res.status).toBe(503);
      expect(res.body.error).toBe("temporarily_unavailable");
      expect(res.headers.get("retry-after")).toBe("2");
      // The deadline from submission, plus the exchange's own work on a loaded machine.
      expect(res.ms).toBeLessThan(TIMEOUT_MS + 1_500);
      const ready = await overHttp("/readyz");
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: "not ready", checks: { signing_keys: { ok: false } } });
      const lines = broker.broker.logRecords().filter((record) => record.msg === "PKCS#11 token call failed: requests that need it answer 503");
      expect(lines).toContainEqual(expect.objectContaining({ pkcs11Call: "sign", reason: `no answer within ${TIMEOUT_MS} ms (BROKER_PKCS11_TIMEOUT_MS)` }));
      expect(broker.broker.output.join("\n")).not.toContain(token.pin);
      // The metrics count both: the signature answered before the stall, the one cut off.
      const metrics = await (await fetch(`${broker.url}/metrics`)).text();
      expect(metrics).toMatch(/^broker_pkcs11_calls_total\{call="sign",outcome="timeout"\} [1-9]/m);
      expect(metrics).toMatch(/^broker_pkcs11_calls_total\{call="sign",outcome="ok"\} [1-9]/m);
      expect(metrics).toMatch(/^broker_pkcs11_call_duration_seconds_count\{call="sign"\} [1-9]/m);
    } finally {
      gate.open();
    }
    // The token answers again: so does the broker.
    await expect.poll(async () => (await exchange()).status, { timeout: 10_000, interval: 300 }).toBe(200);
    await expect.poll(async () => (await overHttp("/readyz")).status, { timeout: 10_000, interval: 300 }).toBe(200);
  }, 30_000);
});
