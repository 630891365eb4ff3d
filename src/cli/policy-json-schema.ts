import { z } from "zod";
import { fixtureFileSchema, policyFileSchema } from "../policy/policy-schema.js";

/**
 * JSON Schemas for editors (`# yaml-language-server: $schema=./policy.schema.json`), generated
 * from the zod schemas the broker loads policies with, so the two cannot drift:
 * `broker policy schema` writes them, and a test compares the committed files with a fresh
 * generation. The broker still checks more than a schema can say (CEL compiles, one of
 * workload_id/workload_id_expr, issuers exist): `broker policy lint` runs those checks.
 */

/** Descriptions for editor hover, by dotted property path; each must exist in the schema (tested). */
export const POLICY_DESCRIPTIONS: Readonly<Record<string, string>> = {
  id: "Unique policy id: lowercase letters, digits and '-', at most 63 characters. Appears in audit records.",
  description: "What this policy is for, for reviewers.",
  owner: "Who answers for this policy (a team, a person, a channel): shown by `broker inventory`.",
  issuer: "Id of a trusted issuer in issuers.yaml whose tokens this policy applies to.",
  condition: "CEL expression over `identity`, `claims`, `request` (and `actor`, null without an actor_token) that must be true. Match immutable ids (repository_id, project_id, service-account uid), not names.",
  grant: "What a matching workload may get; a request can only narrow it.",
  "grant.workload_id": "The workload id issued tokens carry as `sub` (or use workload_id_expr).",
  "grant.workload_id_expr": "CEL expression computing the workload id (instead of workload_id).",
  "grant.audiences": "Audiences/resources the caller may ask for.",
  "grant.scopes": "Scopes the caller may ask for.",
  "grant.max_lifetime": "Longest lifetime granted, e.g. 10m, 90s, 1h (at most 1h; BROKER_MAX_TOKEN_LIFETIME may lower it).",
  "grant.token_types": "Credential types the caller may ask for: access_token, jwt (JWT-SVID), x509_svid (X.509-SVID).",
  "grant.claims": "Extra claims: claim name → CEL expression. Registered claims (iss, sub, aud, exp, scope, …) are refused.",
  "grant.spiffe_id": "SPIFFE ID of issued SVIDs, inside the broker's trust domain (or use spiffe_id_expr).",
  "grant.spiffe_id_expr": "CEL expression computing the SPIFFE ID (instead of spiffe_id).",
  "grant.dns_names": "DNS SANs an X.509-SVID may carry besides its SPIFFE ID (needs x509_svid in token_types).",
  "grant.delegation":
    "RFC 8693 delegation: who may act for the subject (actor_token). Without it, a request with an actor_token is refused for this grant.",
  "grant.delegation.actor_condition": "CEL expression over `actor` (actor.identity, actor.claims) and `identity`, `claims`, `request` that must be true for the actor.",
  "grant.delegation.max_chain_depth": "Longest chain of actors (nested `act`) a token issued under this grant may carry: 1 (default) to 5.",
  "grant.delegation.may_act": "RFC 8693 §4.4 `may_act` added to issued tokens: only this actor (`sub`, and `iss` when given) may act for them.",
  "grant.require_dpop":
    "RFC 9449 DPoP: when true, access tokens are issued only bound to the key of a DPoP proof sent with the request (`cnf.jkt`, token_type DPoP); a request without a proof is refused. Not with jwt in token_types.",
};

type JsonObject = { [key: string]: unknown };

/** The files `broker policy schema` writes into the policy folder: name → content. */
export function generatePolicySchemas(): Record<string, string> {
  return {
    "policy.schema.json": render(policyFileSchema, "credential-broker policy (*.policy.yaml)", POLICY_DESCRIPTIONS),
    "policy-test.schema.json": render(fixtureFileSchema, "credential-broker policy fixtures (*.test.yaml)", {}),
  };
}

function render(schema: z.ZodType, title: string, descriptions: Readonly<Record<string, string>>): string {
  // io "input": what an author writes (before durations and CEL sources are transformed).
  const json = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as JsonObject;
  for (const [path, description] of Object.entries(descriptions)) {
    const node = propertyAt(json, path);
    if (node === undefined) throw new Error(`policy schema has no property ${path} to describe`);
    node.description = description;
  }
  const { $schema, ...rest } = json;
  return `${JSON.stringify({ $schema, title, ...rest }, null, 2)}\n`;
}

/** The schema node of a dotted property path (`grant.scopes`), or undefined. */
export function propertyAt(schema: JsonObject, path: string): JsonObject | undefined {
  let node: JsonObject | undefined = schema;
  for (const name of path.split(".")) {
    const properties = node?.properties as JsonObject | undefined;
    node = properties?.[name] as JsonObject | undefined;
  }
  return node;
}
