import type { CertificateAuthority } from "../credentials/x509/ca-store.js";
import { signCrl } from "../credentials/x509/crl.js";
import type { Clock } from "../lib/clock.js";
import type { SvidRegistry } from "../revocation/revocation-store.js";
import { guard } from "../revocation/store-guard.js";

/** A signed CRL is reused for this long: a revocation reaches the CRL within it (plus a store round trip). */
export const CRL_REUSE_MS = 2_000;

export type PublishCrl = () => Promise<Buffer>;

/**
 * The CRL of the SVID CA (DER): exactly the revoked serials that have not expired, signed fresh at
 * most every CRL_REUSE_MS (concurrent callers share one signing). Fails closed: when the store
 * cannot answer there is no CRL (503), never one that leaves revocations out.
 */
export function createPublishCrl(deps: {
  readonly ca: CertificateAuthority;
  readonly revocations: SvidRegistry;
  readonly clock: Clock;
  readonly nextUpdateSeconds: number;
}): PublishCrl {
  let cached: { at: number; der: Promise<Buffer> } | undefined;
  return function publishCrl() {
    const now = deps.clock.now();
    if (cached === undefined || now - cached.at >= CRL_REUSE_MS || now < cached.at) {
      const der = build(now);
      cached = { at: now, der };
      // A failure is not cached: the next caller tries again.
      der.catch(() => {
        if (cached?.der === der) cached = undefined;
      });
    }
    return cached.der;
  };

  async function build(nowMs: number): Promise<Buffer> {
    const revoked = await guard(deps.revocations.revokedSvids());
    const crl = await signCrl(deps.ca, revoked, nowMs, deps.nextUpdateSeconds);
    return Buffer.from(crl.rawData);
  }
}
