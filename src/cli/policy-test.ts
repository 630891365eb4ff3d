import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { narrowWithin } from "../authorization/attenuate.js";
import { PROFILE_NAMES } from "../identity/types.js";
import { loadPolicySet, runPolicyFixtures, type FixtureResult, type KnownIssuer } from "../policy/index.js";

/**
 * Issuer ids and profiles only: offline policy tests need the names policies refer to and the
 * profiles their expressions are type-checked against, not the issuers' keys (a static JWKS
 * file may exist only on the servers).
 */
export async function issuerProfiles(issuersFile: string): Promise<KnownIssuer[]> {
  const entry = z.object({ id: z.string(), profile: z.enum(PROFILE_NAMES) });
  const doc = z.object({ issuers: z.array(entry) }).parse(parse(await readFile(issuersFile, "utf8")));
  return doc.issuers.map((issuer) => ({ id: issuer.id, profile: issuer.profile }));
}

/**
 * Loads the policies in `dir` and runs every fixture beside them, narrowing requests with the
 * broker's own attenuation (no global lifetime cap: fixtures check audiences and scopes).
 */
export async function testPolicies(dir: string, issuersFile: string, trustDomain?: string): Promise<FixtureResult[]> {
  const set = await loadPolicySet(dir, { knownIssuers: await issuerProfiles(issuersFile), trustDomain });
  return runPolicyFixtures(dir, set, narrowWithin(Number.POSITIVE_INFINITY));
}
