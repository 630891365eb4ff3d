import { readFile } from "node:fs/promises";
import { parse } from "yaml";
import { z } from "zod";
import { narrowWithin } from "../authorization/attenuate.js";
import { loadPolicySet, runPolicyFixtures, type FixtureResult } from "../policy/index.js";

/**
 * Issuer ids only: offline policy tests need the names policies refer to, not the issuers'
 * keys (a static JWKS file may exist only on the servers).
 */
export async function issuerIds(issuersFile: string): Promise<string[]> {
  const doc = z.object({ issuers: z.array(z.object({ id: z.string() })) }).parse(parse(await readFile(issuersFile, "utf8")));
  return doc.issuers.map((issuer) => issuer.id);
}

/**
 * Loads the policies in `dir` and runs every fixture beside them, narrowing requests with the
 * broker's own attenuation (no global lifetime cap: fixtures check audiences and scopes).
 */
export async function testPolicies(dir: string, issuersFile: string, trustDomain?: string): Promise<FixtureResult[]> {
  const set = await loadPolicySet(dir, { knownIssuers: await issuerIds(issuersFile), trustDomain });
  return runPolicyFixtures(dir, set, narrowWithin(Number.POSITIVE_INFINITY));
}
