/**
 * A small HTTP client for one broker replica (token exchange, introspection, RFC 7009 revocation,
 * the admin API, health), plus what the replica tests read from audit logs and Redis.
 */
import { createHash } from "node:crypto";
import { encodeForm, GRANT_TYPE, requestBroker as requestOverHttp, TOKEN_TYPES, type BrokerResponse } from "./broker-fixture.js";
import type { BrokerProcess } from "./broker-process.js";

export interface ReplicaClient {
  readonly name: string;
  readonly url: string;
  /** POST /token; `signal` bounds the wait (an AbortSignal deadline). */
  exchange(form: Readonly<Record<string, string | readonly string[]>>, signal?: AbortSignal): Promise<BrokerResponse>;
  /** Re-exchange of a broker access token for `audience`. */
  reExchange(token: string, audience: string, signal?: AbortSignal): Promise<BrokerResponse>;
  /** POST /introspect authenticated with `bearer` (a broker token with the introspection scope). */
  introspect(token: string, bearer: string, signal?: AbortSignal): Promise<BrokerResponse>;
  /** POST /revoke (RFC 7009) by the holder. */
  revoke(token: string, signal?: AbortSignal): Promise<BrokerResponse>;
  /** An admin API call with `Authorization: Bearer <credential>`. */
  admin(method: "GET" | "POST" | "DELETE", path: string, credential: string, body?: unknown, signal?: AbortSignal): Promise<BrokerResponse>;
  get(path: string, signal?: AbortSignal): Promise<BrokerResponse>;
  /**
   * The whole GET /admin/revocations listing: every page (limit 1000), following `next_cursor`
   * to the end, merged. Throws with the answer when a page is not 200.
   */
  listRevocations(credential: string): Promise<Record<string, unknown[]>>;
}

/** A client of the replica at `url`, or of an in-process broker through its `request`. */
export function replicaClient(name: string, target: string | { readonly url: string; request(path: string, init?: RequestInit): Promise<BrokerResponse> }): ReplicaClient {
  const url = typeof target === "string" ? target : target.url;
  const requestBroker = (_url: string, path: string, init?: RequestInit) => (typeof target === "string" ? requestOverHttp(target, path, init) : target.request(path, init));
  const form = (path: string, fields: Readonly<Record<string, string | readonly string[]>>, headers: Record<string, string> = {}, signal?: AbortSignal) =>
    requestBroker(url, path, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      body: encodeForm(fields),
      signal,
    });
  return {
    name,
    url,
    exchange: (fields, signal) => form("/token", fields, {}, signal),
    reExchange: (token, audience, signal) =>
      form("/token", { grant_type: GRANT_TYPE, subject_token: token, subject_token_type: TOKEN_TYPES.accessToken, audience }, {}, signal),
    introspect: (token, bearer, signal) => form("/introspect", { token }, { authorization: `Bearer ${bearer}` }, signal),
    revoke: (token, signal) => form("/revoke", { token, token_type_hint: "access_token" }, {}, signal),
    admin: (method, path, credential, body, signal) =>
      requestBroker(url, path, {
        method,
        headers: { authorization: `Bearer ${credential}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      }),
    get: (path, signal) => requestBroker(url, path, { signal }),
    listRevocations: async (credential) => {
      const merged: Record<string, unknown[]> = { tokens: [], workloads: [], blocks: [] };
      let cursor: string | null = null;
      do {
        const query: string = `?limit=1000${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`;
        const res = await requestBroker(url, `/admin/revocations${query}`, { headers: { authorization: `Bearer ${credential}` } });
        if (res.status !== 200) throw new Error(`${name}: GET /admin/revocations answered ${res.status}: ${res.text}`);
        for (const kind of ["tokens", "workloads", "blocks"]) merged[kind]?.push(...((res.json[kind] as unknown[] | undefined) ?? []));
        cursor = typeof res.json.next_cursor === "string" ? res.json.next_cursor : null;
      } while (cursor !== null);
      return merged;
    },
  };
}

export const sha256Hex = (text: string): string => createHash("sha256").update(text).digest("hex");

/** The token_exchange audit records a broker wrote so far for the subject token with this digest. */
export function exchangeAudits(broker: BrokerProcess, subjectTokenSha256: string): Record<string, unknown>[] {
  return broker
    .logRecords()
    .filter((record) => record.channel === "audit")
    .map((record) => record.audit as Record<string, unknown>)
    .filter((audit) => audit.event === "token_exchange" && audit.subjectTokenSha256 === subjectTokenSha256);
}

/** A listing from GET /admin/revocations in a fixed order, to compare two replicas' answers. */
export function sortedListing(json: Record<string, unknown>): Record<string, unknown[]> {
  const byKey = (key: string) => (entries: unknown) =>
    [...(entries as Record<string, unknown>[])].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
  return {
    tokens: byKey("jti")(json.tokens),
    workloads: byKey("workload_id")(json.workloads),
    blocks: byKey("workload_id")(json.blocks),
  };
}

/** Milliseconds since `start` (performance.now()), rounded to 0.1 ms. */
export const elapsedMs = (start: number): number => Math.round((performance.now() - start) * 10) / 10;
