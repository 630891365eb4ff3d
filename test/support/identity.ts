import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock } from "../../src/lib/clock.js";
import { globalHttpFetch } from "../../src/lib/http-fetch.js";
import { silentLog, type Log } from "../../src/lib/log.js";
import { parseIssuerConfigs, type IssuerConfig } from "../../src/identity/issuer-config.js";
import { createTokenVerifier, type TokenVerifier, type TokenVerifierOptions } from "../../src/identity/token-verifier.js";
import { BrokerError } from "../../src/errors/broker-error.js";

/** The broker's own issuer URL in identity tests; also the default audience. */
export const BROKER = "https://broker.test";
/** A fixed "now" for every identity test: 2026-08-01T00:00:00Z. */
export const T0 = Date.UTC(2026, 7, 1);

export function manualClock(): ManualClock {
  return new ManualClock(T0);
}

/** One issuer entry as issuers.yaml would have it, parsed with defaults applied. */
export async function issuerConfig(entry: Record<string, unknown>, baseDir = tmpdir()): Promise<IssuerConfig> {
  const [config] = await parseIssuerConfigs({ issuers: [{ id: "test", profile: "oidc", ...entry }] }, { source: "test.yaml", brokerIssuer: BROKER, baseDir });
  if (config === undefined) throw new Error("no config");
  return config;
}

/** A verifier over the given issuers with real fetch, a silent log and small test-friendly defaults. */
export function verifierFor(issuers: IssuerConfig[], clock: ManualClock, extra: Partial<TokenVerifierOptions> = {}): TokenVerifier {
  // The test issuers serve http on loopback, which only development allows.
  return createTokenVerifier({ issuers, brokerIssuer: BROKER, clock, fetch: globalHttpFetch, log: silentLog, allowLoopbackHttpJwksUri: true, ...extra });
}

/** Writes JSON to a fresh temporary directory; returns the directory and the file path. */
export async function writeTempJson(name: string, value: unknown): Promise<{ dir: string; file: string }> {
  const dir = await mkdtemp(join(tmpdir(), "identity-test-"));
  const file = join(dir, name);
  await writeFile(file, typeof value === "string" ? value : JSON.stringify(value));
  return { dir, file };
}

/** Awaits a promise expected to reject with a BrokerError and returns it. */
export async function brokerError(promise: Promise<unknown>): Promise<BrokerError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof BrokerError) return error;
    throw error;
  }
  throw new Error("expected a BrokerError, but the promise resolved");
}

/** A Log that records warnings, for asserting that failures were logged. */
export function recordingLog(): Log & { readonly warnings: string[] } {
  const warnings: string[] = [];
  return { ...silentLog, warnings, warn: (_fields: object, message: string) => void warnings.push(message) };
}
