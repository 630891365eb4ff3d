/** A hot reload with a type error (a misspelt attribute) keeps the previous set: it never "reloads" into deny-all. */
import { afterEach, describe, expect, it } from "vitest";
import type { Log } from "../../src/lib/log.js";
import { PolicyStore } from "../../src/policy/policy-store.js";
import { KNOWN_ISSUERS, narrow, policyYaml, request, subject, tempDir } from "../support/policy.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe("PolicyStore reload with a typo", () => {
  it("keeps the previous set, logs the located error and says nothing of 'policies reloaded'", async () => {
    const messages: { message: string; fields: object }[] = [];
    const record = (fields: object, message: string) => void messages.push({ fields, message });
    const log: Log = { debug: record, info: record, warn: record, error: record };
    const good = policyYaml({ id: "gh", issuer: "github-actions", condition: 'identity.attributes.environment == "prod"' });
    const temp = await tempDir({ "gh.policy.yaml": good });
    cleanups.push(temp.cleanup);
    const store = await PolicyStore.open({ dir: temp.dir, knownIssuers: KNOWN_ISSUERS, log });
    cleanups.push(() => store.close());
    const prod = subject({ issuer: "github-actions", profile: "github-actions", attributes: { environment: "prod" } });
    const before = store.current();
    expect(before.evaluate(prod, request(), narrow).allow).toBe(true);

    await temp.write("gh.policy.yaml", good.replace("environment ==", "enviroment =="));
    const result = await store.reload();
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([expect.stringMatching(/^gh\.policy\.yaml:3:33 \[gh\] condition: No such key: enviroment\n/)]);
    expect(result.issues[0]).toMatchObject({ line: 3, column: 33, path: "condition" });
    expect(store.current()).toBe(before);
    expect(store.current().evaluate(prod, request(), narrow).allow).toBe(true);
    expect(messages.map((entry) => entry.message)).not.toContain("policies reloaded");
    expect(messages).toContainEqual(expect.objectContaining({ message: expect.stringMatching(/keeping the previous set/) }));
  });
});
