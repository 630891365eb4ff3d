import type { CaSource, NamedCa } from "../credentials/x509/ca-set.js";
import { signCrl } from "../credentials/x509/crl.js";
import { BrokerError } from "../errors/broker-error.js";
import type { Clock } from "../lib/clock.js";
import type { SvidRegistry } from "../revocation/revocation-store.js";
import { guard } from "../revocation/store-guard.js";

/** A signed CRL is reused for this long: a revocation reaches the CRL within it (plus a store round trip). */
export const CRL_REUSE_MS = 2_000;

/**
 * The CRL (DER) of the active CA, or with `issuerKeyId` (a subject key identifier, hex) of any
 * published CA: a previous CA's CRL is served until that CA is retired, since SVIDs it signed
 * are still in use. `all()` gives every published CA's CRL, active first.
 */
export interface PublishCrl {
  (issuerKeyId?: string): Promise<Buffer>;
  all(): Promise<readonly Buffer[]>;
}

/**
 * Each CA's CRL: exactly the revoked serials that have not expired, signed fresh at most every
 * CRL_REUSE_MS per CA (concurrent callers share one signing). Serials are 128 random bits, never
 * shared between CAs, so every CA's CRL lists every revoked serial: an entry for a serial a CA did
 * not issue matches none of its certificates, and an SVID revoked after its CA stopped signing
 * is on that CA's CRL as well. Fails closed: when the store cannot answer there is no CRL (503),
 * never one that leaves revocations out.
 */
export function createPublishCrl(deps: {
  readonly ca: CaSource;
  readonly revocations: SvidRegistry;
  readonly clock: Clock;
  readonly nextUpdateSeconds: number;
}): PublishCrl {
  // Per CA of the set in force: a reloaded set brings new objects, so nothing outlives its CA.
  const signed = new WeakMap<NamedCa, { at: number; der: Promise<Buffer> }>();

  function crlOf(ca: NamedCa): Promise<Buffer> {
    const now = deps.clock.now();
    const cached = signed.get(ca);
    if (cached !== undefined && now - cached.at < CRL_REUSE_MS && now >= cached.at) return cached.der;
    const der = build(ca, now);
    const entry = { at: now, der };
    signed.set(ca, entry);
    // A failure is not cached: the next caller tries again.
    der.catch(() => {
      if (signed.get(ca) === entry) signed.delete(ca);
    });
    return der;
  }

  async function build(ca: NamedCa, nowMs: number): Promise<Buffer> {
    const revoked = await guard(deps.revocations.revokedSvids());
    const crl = await signCrl(ca.ca, revoked, nowMs, deps.nextUpdateSeconds);
    return Buffer.from(crl.rawData);
  }

  const publishCrl = (issuerKeyId?: string): Promise<Buffer> => {
    const set = deps.ca.current();
    if (issuerKeyId === undefined) return crlOf(set.active);
    const wanted = issuerKeyId.toLowerCase().replace(/:/g, "");
    const ca = set.published.find((each) => each.keyId === wanted);
    if (ca === undefined) return Promise.reject(new BrokerError("not_found", "no published CA has that subject key identifier"));
    return crlOf(ca);
  };
  publishCrl.all = (): Promise<readonly Buffer[]> => Promise.all(deps.ca.current().published.map((ca) => crlOf(ca)));
  return publishCrl;
}
