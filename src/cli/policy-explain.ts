import { narrowWithin } from "../authorization/attenuate.js";
import { DENIAL_CODES, DENIAL_DESCRIPTIONS } from "../authorization/authorize.js";
import { loadIssuerConfigs } from "../identity/issuer-config.js";
import type { WorkloadIdentity } from "../identity/types.js";
import type { Log } from "../lib/log.js";
import { loadPolicySet } from "../policy/index.js";
import type { ClaimValue, ConditionFailure, GrantedTokenType, PolicyExplanation, RequestContext } from "../policy/types.js";
import { subjectOf } from "./explain-token.js";

/** What to explain: a request as `broker exchange` would send it, against a policy folder. */
export interface ExplainOptions {
  readonly policyDir: string;
  readonly issuersFile: string;
  readonly trustDomain: string | undefined;
  /** BROKER_ISSUER_URL: the default audience issuers expect, and the issuer whose tokens are not judged by policy. */
  readonly brokerIssuer: string;
  /** Decision time, milliseconds since the epoch. */
  readonly nowMs: number;
  readonly verify: boolean;
  readonly audiences: readonly string[];
  readonly resources: readonly string[];
  readonly scopes: readonly string[];
  readonly tokenType: GrantedTokenType;
  readonly lifetimeSeconds: number | undefined;
  readonly clientAddress: string;
  /** BROKER_MAX_TOKEN_LIFETIME, seconds: the cap the broker narrows every lifetime within. */
  readonly maxTokenLifetimeSeconds: number;
}

/** The grant that would be issued: the winner's, narrowed to the request as the broker narrows it. */
export interface ExplainedGrant {
  readonly policy: string;
  readonly workloadId: string;
  readonly spiffeId: string | undefined;
  /** What the credential would carry; for an X.509-SVID (no audience or scope) the grant's own. */
  readonly audiences: readonly string[];
  readonly scopes: readonly string[];
  readonly lifetimeSeconds: number;
  readonly tokenTypes: readonly GrantedTokenType[];
  readonly dnsNames: readonly string[];
  readonly extraClaims: Readonly<Record<string, ClaimValue>>;
  readonly requireDpop: boolean;
  readonly delegation: boolean;
}

/** Everything `broker policy explain` prints; never the token. */
export interface ExplainReport {
  readonly verified: boolean;
  readonly warnings: readonly string[];
  readonly identity: WorkloadIdentity;
  readonly request: {
    readonly audiences: readonly string[];
    readonly resources: readonly string[];
    readonly scopes: readonly string[];
    readonly tokenType: GrantedTokenType;
    readonly lifetimeSeconds: number | undefined;
    readonly clientAddress: string;
    readonly time: string;
  };
  readonly policies: readonly {
    readonly id: string;
    readonly issuer: string;
    readonly applied: boolean;
    readonly outcome: PolicyExplanation["outcome"];
    readonly failed?: ConditionFailure;
    readonly detail?: string;
  }[];
  readonly decision:
    | { readonly allow: true; readonly policy: string }
    | { readonly allow: false; readonly reason: string; readonly error: string; readonly description: string };
  readonly grant?: ExplainedGrant;
}

/**
 * Explains what the broker would decide for `token` and the request: the normalised identity,
 * every policy's verdict (with the first failing part of each false condition), the decision and
 * the grant. Loads the issuers and policies as the broker does and decides with the same
 * functions (PolicySet.explain over evaluate, the broker's narrowing). Throws TokenRefused when
 * the broker would refuse the token itself, any other Error when it cannot explain.
 */
export async function explainToken(token: string, options: ExplainOptions, log: Log): Promise<ExplainReport> {
  const issuers = await loadIssuerConfigs(options.issuersFile, options.brokerIssuer);
  const policies = await loadPolicySet(options.policyDir, { knownIssuers: issuers.map((issuer) => ({ id: issuer.id, profile: issuer.profile })), trustDomain: options.trustDomain });
  const clock = { now: () => options.nowMs };
  const { subject, verified, warnings } = await subjectOf(token, { issuers, brokerIssuer: options.brokerIssuer, clock, verify: options.verify, log });
  const request: RequestContext = {
    audiences: options.audiences,
    resources: options.resources,
    scopes: options.scopes,
    requestedTokenType: options.tokenType,
    requestedLifetimeSeconds: options.lifetimeSeconds,
    clientAddress: options.clientAddress,
    now: Math.floor(options.nowMs / 1000),
  };
  const { decision, policies: verdicts } = policies.explain(subject, request, narrowWithin(options.maxTokenLifetimeSeconds));
  const winner = decision.allow ? verdicts.find((verdict) => verdict.outcome === "granted") : undefined;
  return {
    verified,
    warnings,
    identity: subject.identity,
    request: {
      audiences: request.audiences,
      resources: request.resources,
      scopes: request.scopes,
      tokenType: request.requestedTokenType,
      lifetimeSeconds: request.requestedLifetimeSeconds,
      clientAddress: request.clientAddress,
      time: new Date(options.nowMs).toISOString(),
    },
    policies: verdicts.map(({ id, issuer, applied, outcome, failed, detail }) => ({ id, issuer, applied, outcome, ...(failed && { failed }), ...(detail !== undefined && { detail }) })),
    decision: decision.allow
      ? { allow: true, policy: decision.grant.policyId }
      : { allow: false, reason: decision.reason, error: DENIAL_CODES[decision.reason], description: DENIAL_DESCRIPTIONS[decision.reason] },
    ...(winner === undefined ? {} : { grant: grantOf(winner) }),
  };
}

function grantOf(winner: PolicyExplanation): ExplainedGrant | undefined {
  const { grant, narrowed } = winner;
  if (grant === undefined) return undefined;
  return {
    policy: grant.policyId,
    workloadId: grant.workloadId,
    spiffeId: grant.spiffeId,
    audiences: narrowed?.audiences ?? grant.audiences,
    scopes: narrowed?.scopes ?? grant.scopes,
    // An X.509-SVID is not narrowed like a token: the grant's max_lifetime, under BROKER_SVID_MAX_LIFETIME at issue.
    lifetimeSeconds: narrowed?.lifetimeSeconds ?? grant.maxLifetimeSeconds,
    tokenTypes: grant.tokenTypes,
    dnsNames: grant.dnsNames,
    extraClaims: grant.extraClaims,
    requireDpop: grant.requireDpop,
    delegation: grant.delegation !== undefined,
  };
}
