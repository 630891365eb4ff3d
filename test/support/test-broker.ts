/**
 * What in-process tests need to build a broker with buildBroker (the composition root main.ts
 * uses): settings from the embedded defaults and a fetch that reaches no network.
 */
import type { BrokerSettings } from "../../src/build-broker.js";
import { loadConfig } from "../../src/config.js";
import type { HttpFetch } from "../../src/lib/http-fetch.js";

/** The embedded defaults with rate limits and DPoP off, then `overrides`. */
export function testBrokerSettings(overrides: Partial<BrokerSettings> = {}): BrokerSettings {
  return { ...loadConfig({}), rateLimits: { client: undefined, workload: undefined }, dpop: undefined, ...overrides };
}

/** For brokers whose tests fetch nothing: any fetch fails. */
export const noNetwork: HttpFetch = async (url) => {
  throw new Error(`this test reaches no network (${url})`);
};
