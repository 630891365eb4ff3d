import type { ConditionFailure } from "../policy/types.js";
import type { ExplainReport } from "./policy-explain.js";

/** The first line of every report: whether the token's signature and times were checked. */
export function verificationLine(verified: boolean): string {
  return verified
    ? "VERIFIED: signature, audience and times checked against the issuer's keys"
    : "NOT VERIFIED: the token was only decoded; its signature, audience and times were NOT checked (--verify checks them against the issuer's keys)";
}

/** The report as text for a person: identity, request, each policy's verdict, the decision and the grant. */
export function formatReport(report: ExplainReport): string {
  const { identity, request } = report;
  const lines = [verificationLine(report.verified), ...report.warnings.map((warning) => `warning: ${warning}`), "", "identity"];
  lines.push(row("issuer", `${identity.issuer} (profile ${identity.profile}, iss ${identity.iss})`), row("subject", identity.subject));
  const attributes = Object.entries(identity.attributes);
  lines.push(row("attributes", attributes.length === 0 ? "(none)" : `${attributes[0]?.[0]}=${attributes[0]?.[1]}`));
  for (const [name, value] of attributes.slice(1)) lines.push(row("", `${name}=${value}`));
  lines.push("", "request");
  lines.push(row("audiences", list(request.audiences, "(none)")), row("resources", list(request.resources, "(none)")));
  lines.push(row("scopes", list(request.scopes, "(none: every granted scope)")), row("token type", request.tokenType));
  lines.push(row("lifetime", request.lifetimeSeconds === undefined ? "(not asked)" : `${request.lifetimeSeconds} s`), row("time", request.time));
  lines.push("", "policies (in evaluation order)");
  const width = Math.max(0, ...report.policies.map((policy) => policy.id.length));
  for (const policy of report.policies) {
    const head = `  ${policy.id.padEnd(width)}  `;
    if (!policy.applied) lines.push(`${head}not applicable (issuer ${policy.issuer})`);
    else if (policy.outcome === "not_reached") lines.push(`${head}not reached (an earlier policy granted)`);
    else if (policy.failed !== undefined) lines.push(`${head}${policy.outcome}: ${failureText(policy.failed)}`, ...disjunctLines(policy.failed, head.length));
    else lines.push(`${head}${policy.outcome}${policy.detail === undefined ? "" : `: ${policy.detail}`}`);
  }
  lines.push("");
  const { decision, grant } = report;
  if (!decision.allow) {
    lines.push(`decision: DENY ${decision.error} (${decision.reason}): "${decision.description}"`);
    return `${lines.join("\n")}\n`;
  }
  lines.push(`decision: ALLOW by policy ${decision.policy}`);
  if (grant !== undefined) {
    lines.push("grant (narrowed to the request)", row("workload id", grant.workloadId), row("spiffe id", grant.spiffeId ?? "(none)"));
    lines.push(row("audiences", list(grant.audiences, "(none)")), row("scopes", list(grant.scopes, "(none)")), row("lifetime", `${grant.lifetimeSeconds} s`));
    lines.push(row("token types", list(grant.tokenTypes, "(none)")), row("extra claims", JSON.stringify(grant.extraClaims)));
    if (grant.dnsNames.length > 0) lines.push(row("dns names", list(grant.dnsNames, "")));
    if (grant.requireDpop) lines.push(row("require dpop", "yes: only with a DPoP proof"));
    if (grant.delegation) lines.push(row("delegation", "allowed (actor_token)"));
  }
  return `${lines.join("\n")}\n`;
}

/** `expr is false`, `expr gave an error: message`, `expr is not a bool`. */
function failureText(failed: ConditionFailure): string {
  if (failed.result === "false") return `${failed.expression}  is false`;
  if (failed.result === "error") return `${failed.expression}  gave an error: ${failed.message ?? "?"}`;
  return `${failed.expression}  is not a bool`;
}

function disjunctLines(failed: ConditionFailure, indent: number): string[] {
  return (failed.disjuncts ?? []).map((part) => `${" ".repeat(indent + 2)}${part.result.padEnd(8)} ${part.expression}${part.message === undefined ? "" : ` (${part.message})`}`);
}

function row(label: string, value: string): string {
  return `  ${label.padEnd(13)}${value}`;
}

function list(values: readonly string[], empty: string): string {
  return values.length === 0 ? empty : values.join(" ");
}
