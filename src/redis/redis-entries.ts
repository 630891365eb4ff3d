import type { RevocationMeta, SvidRecord, TokenRevocation, WorkloadBlock, WorkloadRevocation } from "../revocation/revocation-store.js";

/**
 * The JSON stored in each Redis value. Only the entry's own fields are written (never whatever
 * else an object passed in carries); parsing checks every field and answers undefined for
 * anything else, so a foreign or damaged value is never mistaken for an entry.
 */

export function serializeTokenRevocation(entry: TokenRevocation): string {
  return JSON.stringify({ jti: entry.jti, expiresAt: entry.expiresAt, ...meta(entry) });
}

export function serializeWorkloadRevocation(entry: WorkloadRevocation): string {
  return JSON.stringify({
    workloadId: entry.workloadId,
    revokedAt: entry.revokedAt,
    ...(entry.cutoffMs === undefined ? {} : { cutoffMs: entry.cutoffMs }),
    expiresAt: entry.expiresAt,
    ...meta(entry),
  });
}

export function serializeBlock(block: WorkloadBlock): string {
  return JSON.stringify({ workloadId: block.workloadId, until: block.until ?? null, ...meta(block) });
}

export function parseTokenRevocation(text: string): TokenRevocation | undefined {
  const value = parseObject(text);
  if (!value || !isMeta(value) || typeof value.jti !== "string" || !isInstant(value.expiresAt)) return undefined;
  return { jti: value.jti, expiresAt: value.expiresAt, ...meta(value) };
}

export function parseWorkloadRevocation(text: string): WorkloadRevocation | undefined {
  const value = parseObject(text);
  if (!value || !isMeta(value) || typeof value.workloadId !== "string") return undefined;
  if (!isInstant(value.revokedAt) || !isInstant(value.expiresAt) || !isOptionalInstant(value.cutoffMs)) return undefined;
  return {
    workloadId: value.workloadId,
    revokedAt: value.revokedAt,
    // Entries written before the precise cutoff existed have none: the whole-second rule applies.
    ...(value.cutoffMs === undefined ? {} : { cutoffMs: value.cutoffMs }),
    expiresAt: value.expiresAt,
    ...meta(value),
  };
}

export function parseBlock(text: string): WorkloadBlock | undefined {
  const value = parseObject(text);
  if (!value || !isMeta(value) || typeof value.workloadId !== "string") return undefined;
  if (value.until !== null && value.until !== undefined && !isInstant(value.until)) return undefined;
  return { workloadId: value.workloadId, until: value.until ?? undefined, ...meta(value) };
}

export function serializeSvidRecord(entry: SvidRecord): string {
  return JSON.stringify({
    serial: entry.serial,
    workloadId: entry.workloadId,
    issuedAt: entry.issuedAt,
    ...(entry.issuedAtMs === undefined ? {} : { issuedAtMs: entry.issuedAtMs }),
    expiresAt: entry.expiresAt,
    ...(entry.revoked ? { revoked: meta(entry.revoked) } : {}),
  });
}

export function serializeMeta(entry: RevocationMeta): string {
  return JSON.stringify(meta(entry));
}

export function parseSvidRecord(text: string): SvidRecord | undefined {
  const value = parseObject(text);
  if (!value || typeof value.serial !== "string" || typeof value.workloadId !== "string") return undefined;
  if (!isInstant(value.issuedAt) || !isInstant(value.expiresAt) || !isOptionalInstant(value.issuedAtMs)) return undefined;
  const record = {
    serial: value.serial,
    workloadId: value.workloadId,
    issuedAt: value.issuedAt,
    ...(value.issuedAtMs === undefined ? {} : { issuedAtMs: value.issuedAtMs }),
    expiresAt: value.expiresAt,
  };
  if (value.revoked === undefined) return record;
  const revoked = typeof value.revoked === "object" && value.revoked !== null ? (value.revoked as Record<string, unknown>) : undefined;
  if (!revoked || !isMeta(revoked)) return undefined;
  return { ...record, revoked: meta(revoked) };
}

function meta(entry: RevocationMeta): RevocationMeta {
  const base = { actor: entry.actor, reason: entry.reason, at: entry.at };
  // atMs came later: entries without it (or with a damaged one) keep the whole-second `at`.
  return isInstant(entry.atMs) ? { ...base, atMs: entry.atMs } : base;
}

function isMeta(value: Record<string, unknown>): value is Record<string, unknown> & RevocationMeta {
  return typeof value.actor === "string" && typeof value.reason === "string" && isInstant(value.at);
}

function isInstant(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value);
}

function isOptionalInstant(value: unknown): value is number | undefined {
  return value === undefined || isInstant(value);
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
