import type { AuditSink, SvidAuditEvent } from "../audit/audit-event.js";
import { knowing, withFacts, type DecisionFacts } from "../audit/decision-facts.js";
import { issuanceLog, recordDecision, type IssuanceRequestFields } from "../audit/record-decision.js";
import type { CaSet, CaSource } from "../credentials/x509/ca-set.js";
import { checkCsrAgainstGrant, parseCsr, verifyCsr, type CheckedCsr } from "../credentials/x509/csr.js";
import { pemOf } from "../credentials/x509/pem.js";
import { signSvid } from "../credentials/x509/sign-svid.js";
import { svidSigningProfile } from "../credentials/x509/svid-signing-profile.js";
import { svidTemplate } from "../credentials/x509/svid-template.js";
import { validateSvid } from "../credentials/x509/validate-svid.js";
import { certificatesPem } from "../credentials/x509/x509.js";
import { authorize, type AuthorizeDeps, type GrantCheck } from "../authorization/authorize.js";
import type { IssuanceFloor } from "../authorization/revocation-checks.js";
import type { ExternalTokenType } from "../identity/types.js";
import type { Grant } from "../policy/types.js";
import { refuseKeyBound } from "../authorization/key-bound-subject.js";
import { recordIssued } from "../authorization/issuance-record.js";
import type { RecordIssuance } from "../inventory/issuance-recorder.js";
import { epochSeconds, type Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import { merged } from "../lib/merged.js";
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
  /** The CAs in force: the active one signs (read per request; its profile is derived once per set). */
  readonly ca: CaSource;
  readonly audit: AuditSink;
  readonly clock: Clock;
  /** Global cap on SVID validity, seconds (BROKER_SVID_MAX_LIFETIME). */
  readonly maxLifetimeSeconds: number;
  /** Tells the workload inventory of each SVID issued, without waiting; undefined: no inventory. */
  readonly recordIssuance?: RecordIssuance;
}

export type IssueX509Svid = (request: X509SvidRequest) => Promise<IssuedX509Svid>;

/** The CA's material read once, not per request: issuer name, key identifier, algorithm, keys and PEMs. */
interface Issuer {
  readonly deps: IssueX509SvidDeps;
  /** authorize's dependencies with the key-bound refusal, built once (a spread per request costs a hidden class: lib/merged.ts). */
  readonly authorizeDeps: AuthorizeDeps;
  readonly profile: ReturnType<typeof svidSigningProfile>;
  readonly bundlePem: string;
  readonly intermediatesPem: string;
  /** The active CA's chain's earliest notAfter: no SVID outlives it. */
  readonly caNotAfter: number;
}

/** An issued SVID, with what its issuance established for the audit record. */
interface Issued {
  readonly svid: IssuedX509Svid;
  readonly facts: DecisionFacts;
}

/**
 * Issues an X.509-SVID: read the CSR without signature work (size, shape, key type, size and
 * exponent), verify the subject token and decide by policy as /token does, then check the CSR's
 * proof of possession and refuse a CSR asking for more than the grant, and only then claim the
 * single-use token and charge the workload's budget; build the certificate from the grant (only
 * the public key comes from the CSR), sign, re-validate what was signed, record the serial for
 * revocation, and audit the decision.
 */
export function createIssueX509Svid(deps: IssueX509SvidDeps): IssueX509Svid {
  // Recomputed when the CA set changes (a rotation step), not per request.
  let cached: { readonly set: CaSet; readonly issuer: Issuer } | undefined;
  // No DPoP here: a subject token bound to a key (cnf) cannot be proven, so it is refused.
  const authorizeDeps = merged(deps, { verifier: refuseKeyBound(deps.verifier) });
  const currentIssuer = (): Issuer => {
    const set = deps.ca.current();
    if (cached?.set !== set) cached = { set, issuer: issuerOf(deps, authorizeDeps, set) };
    return cached.issuer;
  };
  return async function issueX509Svid(request) {
    const issuer = currentIssuer();
    const issued = await recordDecision(deps.audit, issuanceLog<Issued>(requestFields(request)), () => issue(issuer, request));
    recordIssued(deps.recordIssuance, issued.facts, { tokenType: "x509_svid", nowMs: deps.clock.now(), underPolicy: true });
    return issued.svid;
  };
}

/** The active CA's signing profile and PEMs, and the bundle of every published CA's roots. */
function issuerOf(deps: IssueX509SvidDeps, authorizeDeps: AuthorizeDeps, set: CaSet): Issuer {
  const active = set.active.ca;
  return { deps, authorizeDeps, profile: svidSigningProfile(active), bundlePem: certificatesPem(set.roots), intermediatesPem: certificatesPem(active.intermediates), caNotAfter: active.notAfter };
}

/** What the audit record takes from the request itself: the token and the CSR as digests only. */
function requestFields(request: X509SvidRequest): IssuanceRequestFields<SvidAuditEvent> {
  // The CSR first: sha256Hex remembers the last value hashed, and the verified-token cache asks
  // for the subject token's digest next, so the token is hashed once per request, not twice.
  const csrSha256 = sha256Hex(request.csrPem);
  return {
    event: "svid_issuance",
    requestId: request.requestId,
    subjectTokenSha256: sha256Hex(request.subjectToken),
    csrSha256,
    clientAddress: request.clientAddress,
  };
}

/** The steps of one issuance: read the CSR, authorize (checking the CSR against the grant), sign, record. */
async function issue(issuer: Issuer, request: X509SvidRequest): Promise<Issued> {
  const { deps, authorizeDeps } = issuer;
  // The CSR's cheap checks first; its signature only once the subject token is verified, so an
  // unauthenticated caller cannot make the broker do signature work for it. The single-use
  // claim comes after both: a bad CSR does not use up the token.
  const parsed = parseCsr(request.csrPem);
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
  const authorization = await authorize(authorizeDeps, subjectToken, context, {
    checkGrant: (granted) => checkCsr(parsed, granted),
  });
  const { grant, checked: csr, facts } = authorization;
  const { spiffeId } = grant;
  if (csr === undefined || spiffeId === undefined) throw new Error("authorize returned without checking the CSR");
  return knowing(facts, () => signAndRecord(issuer, { grant, spiffeId, csr, floor: authorization.floor, now }, facts));
}

/** The CSR's proof of possession, and no more asked than the grant gives (its SPIFFE ID and DNS names). */
function checkCsr(parsed: ReturnType<typeof parseCsr>, granted: Grant): GrantCheck<CheckedCsr> {
  // The grant schema requires a SPIFFE ID wherever x509_svid is granted.
  if (granted.spiffeId === undefined) throw new Error(`policy ${granted.policyId} granted x509_svid without a SPIFFE ID`);
  const spiffeId = granted.spiffeId;
  const facts = { spiffeId };
  // Synchronous work: a refusal carries the facts through withFacts, without knowing's promise.
  try {
    const csr = verifyCsr(parsed);
    checkCsrAgainstGrant(csr.asks, { spiffeId, dnsNames: granted.dnsNames });
    return { checked: csr, facts };
  } catch (error) {
    throw withFacts(error, facts);
  }
}

/** Builds the certificate from the grant, signs it, re-validates it, and records its serial before handing it out. */
async function signAndRecord(
  issuer: Issuer,
  granted: { readonly grant: Grant; readonly spiffeId: string; readonly csr: CheckedCsr; readonly floor: IssuanceFloor; readonly now: number },
  facts: DecisionFacts,
): Promise<Issued> {
  const { deps, profile } = issuer;
  const { grant, spiffeId, csr, now } = granted;
  const template = svidTemplate({
    spiffeId,
    dnsNames: grant.dnsNames,
    keyType: csr.keyType,
    now,
    lifetimeSeconds: Math.min(grant.maxLifetimeSeconds, deps.maxLifetimeSeconds),
    caNotAfter: issuer.caNotAfter,
  });
  const certificate = await signSvid(profile, template, csr.spki);
  // The independent check every certificate gets before it leaves (validate-svid.ts).
  validateSvid(certificate, profile, { spiffeId, dnsNames: grant.dnsNames, spki: csr.spki, serial: template.serial, notBefore: template.notBefore, notAfter: template.notAfter, subject: template.subject });
  const expiresAt = Math.floor(template.notAfter.getTime() / 1000);
  const issued = merged(facts, { serial: template.serial, exp: expiresAt });
  // Recorded before it is handed out: an SVID the CRL could not cover is never returned.
  // Stamped after the workload revocation the issuance read, as access tokens are (revocation-store.ts).
  const issuedAtMs = nextIssuanceStampMs(deps.clock.now(), granted.floor.issueAfterMs);
  await knowing(issued, () => guard(deps.revocations.recordSvid({ serial: template.serial, workloadId: grant.workloadId, issuedAt: now, issuedAtMs, expiresAt })));
  const chainPem = `${pemOf("CERTIFICATE", certificate)}\n${issuer.intermediatesPem}`;
  return { svid: { spiffeId, chainPem, bundlePem: issuer.bundlePem, expiresAt, serial: template.serial }, facts: issued };
}
