import { denialOf, type AuditSink, type SvidAuditEvent } from "../audit/audit-event.js";
import type { CertificateAuthority } from "../credentials/x509/ca-store.js";
import { checkCsrAgainstGrant, parseCsr, verifyCsr, type CheckedCsr } from "../credentials/x509/csr.js";
import { pemOf } from "../credentials/x509/pem.js";
import { signSvid } from "../credentials/x509/sign-svid.js";
import { svidSigningProfile } from "../credentials/x509/svid-signing-profile.js";
import { svidTemplate } from "../credentials/x509/svid-template.js";
import { validateSvid } from "../credentials/x509/validate-svid.js";
import { certificatesPem } from "../credentials/x509/x509.js";
import { authorize, type AuthorizationTrace, type AuthorizeDeps } from "../authorization/authorize.js";
import type { ExternalTokenType } from "../identity/types.js";
import { refuseKeyBound } from "../authorization/key-bound-subject.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import { nextIssuanceStampMs, type IssuanceChecks, type SvidRegistry } from "../revocation/revocation-store.js";
import { guard } from "../revocation/store-guard.js";

/** A well-formed POST /svid/x509 request; nothing in it is verified yet. */
export interface X509SvidRequest {
  readonly subjectToken: string;
  /** As declared (default jwt): an id_token must be shaped as an OIDC ID token. */
  readonly subjectTokenType?: ExternalTokenType;
  readonly csrPem: string;
  readonly requestId: string;
  readonly clientAddress: string;
}

/** What the workload gets back. */
export interface IssuedX509Svid {
  readonly spiffeId: string;
  /** The SVID first, then the intermediates up to (not including) the root. */
  readonly chainPem: string;
  /** The trust bundle's roots. */
  readonly bundlePem: string;
  readonly expiresAt: number;
  readonly serial: string;
}

export interface IssueX509SvidDeps extends AuthorizeDeps {
  readonly revocations: IssuanceChecks & SvidRegistry;
  readonly ca: CertificateAuthority;
  readonly audit: AuditSink;
  readonly clock: Clock;
  /** Global cap on SVID validity, seconds (BROKER_SVID_MAX_LIFETIME). */
  readonly maxLifetimeSeconds: number;
}

export type IssueX509Svid = (request: X509SvidRequest) => Promise<IssuedX509Svid>;

/**
 * Issues an X.509-SVID: read the CSR without signature work (size, shape, key type, size and
 * exponent), verify the subject token and decide by policy as /token does, then check the CSR's
 * proof of possession and refuse a CSR asking for more than the grant, and only then claim the
 * single-use token and charge the workload's budget; build the certificate from the grant (only
 * the public key comes from the CSR), sign, re-validate what was signed, record the serial for
 * revocation, and audit the decision.
 */
export function createIssueX509Svid(deps: IssueX509SvidDeps): IssueX509Svid {
  const bundlePem = certificatesPem(deps.ca.roots);
  const intermediatesPem = certificatesPem(deps.ca.intermediates);
  // Issuer name, key identifier, algorithm and keys: from the CA once, not per request.
  const profile = svidSigningProfile(deps.ca);
  return async function issueX509Svid(request) {
    const base = {
      event: "svid_issuance",
      requestId: request.requestId,
      subjectTokenSha256: sha256Hex(request.subjectToken),
      csrSha256: sha256Hex(request.csrPem),
      clientAddress: request.clientAddress,
    } as const;
    const known: AuthorizationTrace & { -readonly [K in "spiffeId" | "serial" | "exp"]?: SvidAuditEvent[K] } = {};
    try {
      // The CSR's cheap checks first; its signature only once the subject token is verified, so an
      // unauthenticated caller cannot make the broker do signature work for it. The single-use
      // claim comes after both: a bad CSR does not use up the token.
      const parsed = parseCsr(request.csrPem);
      let csr: CheckedCsr | undefined;
      const now = epochSeconds(deps.clock);
      const context = {
        audiences: [],
        resources: [],
        scopes: [],
        requestedTokenType: "x509_svid",
        requestedLifetimeSeconds: undefined,
        clientAddress: request.clientAddress,
        now,
      } as const;
      const subjectToken = request.subjectTokenType === undefined ? request.subjectToken : { token: request.subjectToken, type: request.subjectTokenType };
      // No DPoP here: a subject token bound to a key (cnf) cannot be proven, so it is refused.
      const { grant, floor } = await authorize({ ...deps, verifier: refuseKeyBound(deps.verifier) }, subjectToken, context, known, undefined, (granted) => {
        // The grant schema requires a SPIFFE ID wherever x509_svid is granted.
        if (granted.spiffeId === undefined) throw new Error(`policy ${granted.policyId} granted x509_svid without a SPIFFE ID`);
        known.spiffeId = granted.spiffeId;
        csr = verifyCsr(parsed);
        checkCsrAgainstGrant(csr.asks, { spiffeId: granted.spiffeId, dnsNames: granted.dnsNames });
      });
      if (csr === undefined || grant.spiffeId === undefined) throw new Error("authorize returned without checking the CSR");

      const template = svidTemplate({
        spiffeId: grant.spiffeId,
        dnsNames: grant.dnsNames,
        keyType: csr.keyType,
        now,
        lifetimeSeconds: Math.min(grant.maxLifetimeSeconds, deps.maxLifetimeSeconds),
        caNotAfter: deps.ca.notAfter,
      });
      const certificate = await signSvid(profile, template, csr.spki);
      validateSvid(certificate, profile.issuer, { spiffeId: grant.spiffeId, dnsNames: grant.dnsNames, publicKey: csr.publicKey, serial: template.serial, notAfter: template.notAfter });
      const expiresAt = Math.floor(template.notAfter.getTime() / 1000);
      known.serial = template.serial;
      known.exp = expiresAt;
      // Recorded before it is handed out: an SVID the CRL could not cover is never returned.
      // Stamped after the workload revocation the issuance read, as access tokens are (revocation-store.ts).
      const issuedAtMs = nextIssuanceStampMs(deps.clock.now(), floor.issueAfterMs);
      await guard(deps.revocations.recordSvid({ serial: template.serial, workloadId: grant.workloadId, issuedAt: now, issuedAtMs, expiresAt }));

      deps.audit.record({ ...base, ...known, decision: "allow" });
      return {
        spiffeId: grant.spiffeId,
        chainPem: `${pemOf("CERTIFICATE", certificate)}\n${intermediatesPem}`,
        bundlePem,
        expiresAt,
        serial: template.serial,
      };
    } catch (error) {
      deps.audit.record({
        ...base,
        ...known,
        decision: "deny",
        ...denialOf(error),
      });
      throw error;
    }
  };
}
