/**
 * Shared assertions and builders for the attack suites in test/attacks/ (refusals themselves are
 * asserted with refusal.ts).
 */
import { createHash, createHmac } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { CryptoKey } from "jose";
import { expect } from "vitest";
import type { BrokerLogs } from "./broker-fixture.js";

export const sha256Hex = (text: string): string => createHash("sha256").update(text).digest("hex");

/**
 * Asserts the broker's audit log holds no "allow" for any of these subject tokens, and that no
 * log line holds any of them. Waits (bounded)
 * for the deny records to be read from its stdout first, so an allow cannot be missed by lag.
 */
export async function expectNeverAllowed(fx: { readonly broker: BrokerLogs }, subjectTokens: readonly string[]): Promise<void> {
  const digests = new Set(subjectTokens.map(sha256Hex));
  const records = () =>
    fx.broker
      .logRecords()
      .filter((record) => record.channel === "audit")
      .map((record) => record.audit as Record<string, unknown>)
      .filter((audit) => digests.has(String(audit.subjectTokenSha256)));
  const deadline = Date.now() + 5_000;
  while (new Set(records().map((audit) => audit.subjectTokenSha256)).size < digests.size && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const seen = records();
  expect(seen.filter((audit) => audit.decision === "allow")).toEqual([]);
  // And none of them, nor its signature, reached any log line.
  const output = fx.broker.output.join("\n");
  for (const token of subjectTokens) {
    expect(output.includes(token), "a refused token was logged").toBe(false);
    const signature = token.split(".")[2] ?? "";
    if (signature.length >= 16) expect(output.includes(signature), "a refused token's signature was logged").toBe(false);
  }
}

/** base64url of a JSON value (or of raw text). */
export function b64url(value: unknown): string {
  return Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url");
}

/** A compact JWS built by hand: any header, any payload text, HMAC-SHA256 over it with `secret`. */
export function hs256Jws(header: Record<string, unknown>, payloadJson: string, secret: string | Buffer): string {
  const input = `${b64url(header)}.${b64url(payloadJson)}`;
  return `${input}.${createHmac("sha256", secret).update(input).digest("base64url")}`;
}

/**
 * A compact ES256 JWS built by hand (for headers jose refuses to sign, like crit or b64): the
 * signing input is exactly `header.payloadSegment`, signed with WebCrypto (raw r||s, as JWS wants).
 */
export async function es256Jws(header: Record<string, unknown>, payloadSegment: string, key: CryptoKey): Promise<string> {
  const input = `${b64url(header)}.${payloadSegment}`;
  const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(signature).toString("base64url")}`;
}

/** Standard subject-token claims for `iss`/`aud` with a five-minute life. */
export function claimsFor(iss: string, aud: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss, aud, sub: "oidc-workload", iat: now, exp: now + 300, jti: `jti-${Math.random().toString(36).slice(2)}`, ...extra };
}

/** A loopback HTTP server that counts requests: a token must never make the broker call it. */
export interface CountingServer {
  readonly url: string;
  readonly requests: () => number;
  close(): Promise<void>;
}

export async function startCountingServer(): Promise<CountingServer> {
  let count = 0;
  const server: Server = createServer((_req, res) => {
    count += 1;
    res.writeHead(200, { "content-type": "application/json" }).end('{"keys":[]}');
  });
  server.listen(0, "127.0.0.1");
  await new Promise<void>((resolve) => server.once("listening", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * How many lookups the broker's verified-token cache has answered (`hit`) or not (`miss`) so
 * far, from its /metrics: for tests that must run on the cache's hit path, which a token reaches
 * on its third presentation (the doorkeeper caches it on its second verification).
 */
export async function verifiedTokenCacheLookups(fx: { get(path: string): Promise<{ readonly text: string }> }): Promise<{ hit: number; miss: number }> {
  const { text } = await fx.get("/metrics");
  const count = (result: string): number => Number(new RegExp(`^broker_verified_token_cache_lookups_total\\{result="${result}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
  return { hit: count("hit"), miss: count("miss") };
}
