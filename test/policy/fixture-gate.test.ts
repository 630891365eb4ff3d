import { afterEach, describe, expect, it } from "vitest";
import type { Log } from "../../src/lib/log.js";
import { FixtureGateError } from "../../src/policy/fixture-gate.js";
import { PolicyLoadError } from "../../src/policy/load-policies.js";
import { PolicyStore } from "../../src/policy/policy-store.js";
import { KNOWN_ISSUERS, narrow, policyYaml, request, subject, tempDir } from "../support/policy.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function recordingLog(): Log & { entries: { level: string; fields: Record<string, unknown>; message: string }[] } {
  const entries: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const at = (level: string) => (fields: object, message: string) => void entries.push({ level, fields: fields as Record<string, unknown>, message });
  return { entries, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A fixture case of the local-dev issuer: `subject` asks for `scopes` and expects `expect`. */
function fixtureCase(name: string, who: string, scopes: string[], expect: string): string {
  return [
    `  - name: ${name}`,
    "    now: 2026-11-01T12:00:00Z",
    `    identity: { issuer: local-dev, profile: oidc, iss: http://localhost/dev, subject: ${who} }`,
    `    request: { audiences: [https://a.example.com], scopes: ${JSON.stringify(scopes)} }`,
    `    expect: ${expect}`,
  ].join("\n");
}

const fixtures = (...cases: string[]) => `policy_tests:\n${cases.join("\n")}\n`;

/** Policy `a` grants demo-workload read (and write when `write`); its fixtures cover both doors. */
const policyA = (scopes: string[]) => policyYaml({ id: "a", condition: 'identity.subject == "demo-workload"', scopes });
const FIXTURES_A = fixtures(
  fixtureCase("demo reads", "demo-workload", ["read"], "{ allow: true, policy: a }"),
  fixtureCase("demo may not write", "demo-workload", ["write"], "{ allow: false, reason: scope_not_granted }"),
  fixtureCase("stranger is denied", "stranger", ["read"], "{ allow: false, reason: no_matching_policy }"),
);

async function folder(files: Record<string, string>) {
  const temp = await tempDir(files);
  cleanups.push(temp.cleanup);
  return temp;
}

async function gatedStore(files: Record<string, string>, log: Log = recordingLog()) {
  const temp = await folder(files);
  const store = await PolicyStore.open({ dir: temp.dir, knownIssuers: KNOWN_ISSUERS, log, fixtures: { narrow } });
  cleanups.push(() => store.close());
  return { store, ...temp };
}

async function openError(files: Record<string, string>): Promise<FixtureGateError> {
  const temp = await folder(files);
  const error: unknown = await PolicyStore.open({ dir: temp.dir, knownIssuers: KNOWN_ISSUERS, fixtures: { narrow } }).then(
    (store) => store.close(),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(FixtureGateError);
  return error as FixtureGateError;
}

const allowsWrite = (store: PolicyStore) => store.current().evaluate(subject(), request({ audiences: ["https://a.example.com"], scopes: ["write"] }), narrow).allow;

describe("the fixtures gate at open", () => {
  it("opens on a set whose fixtures pass and cover every policy, and says how many ran", async () => {
    const log = recordingLog();
    const { store } = await gatedStore({ "a.policy.yaml": policyA(["read"]), "a.test.yaml": FIXTURES_A }, log);
    expect(store.current().policyIds).toEqual(["a"]);
    expect(log.entries).toContainEqual(expect.objectContaining({ message: "policies loaded", fields: expect.objectContaining({ fixtures: 3 }) }));
  });

  it("refuses a set whose fixture fails, naming the file, the case and what differed", async () => {
    // The policy now grants write: the "demo may not write" case fails.
    const error = await openError({ "a.policy.yaml": policyA(["read", "write"]), "a.test.yaml": FIXTURES_A });
    expect(error).toBeInstanceOf(PolicyLoadError); // main.ts reports it as a known start-up problem
    expect(error.lines).toEqual(['a.test.yaml: fixture "demo may not write" failed: expected deny, got allow by a']);
    expect(error.message).toMatch(/^policy fixtures failed \(1 problem\):\n {2}a\.test\.yaml: fixture "demo may not write"/);
  });

  it("refuses a folder with policies and no fixtures: each policy lacks an allow and a deny fixture", async () => {
    const error = await openError({ "a.policy.yaml": policyA(["read"]), "b.policy.yaml": policyYaml({ id: "b", condition: "false" }) });
    expect(error.lines).toEqual([
      "a.policy.yaml [a]: no allow fixture",
      "a.policy.yaml [a]: no deny fixture",
      "b.policy.yaml [b]: no allow fixture",
      "b.policy.yaml [b]: no deny fixture",
    ]);
  });

  it("refuses an unreadable fixture file", async () => {
    const error = await openError({ "a.policy.yaml": policyA(["read"]), "a.test.yaml": FIXTURES_A, "b.test.yaml": "policy_tests: [\n" });
    expect(error.lines).toEqual([expect.stringMatching(/^b\.test\.yaml: unreadable fixture file \(b\.test\.yaml: YAML: /)]);
  });

  it("opens an empty folder: a set that denies everything needs no fixtures", async () => {
    const { store } = await gatedStore({});
    expect(store.current().policyIds).toEqual([]);
  });

  it("without the gate (BROKER_POLICY_FIXTURES=off), fixtures are not run", async () => {
    const temp = await folder({ "a.policy.yaml": policyA(["read", "write"]), "a.test.yaml": FIXTURES_A });
    const store = await PolicyStore.open({ dir: temp.dir, knownIssuers: KNOWN_ISSUERS });
    store.close();
    expect(store.current().policyIds).toEqual(["a"]);
  });
});

describe("the coverage rule", () => {
  it("an allow covers only the policy that granted; a deny covers every policy evaluated for it", async () => {
    // `first` is evaluated before `second` for every local-dev request but grants only to "first-workload".
    const files = {
      "1.policy.yaml": policyYaml({ id: "first", condition: 'identity.subject == "first-workload"' }),
      "2.policy.yaml": policyYaml({ id: "second", condition: 'identity.subject == "demo-workload"' }),
      "3.policy.yaml": policyYaml({ id: "other-issuer", issuer: "gitlab-ci", condition: "true" }),
    };
    const error = await openError({
      ...files,
      "a.test.yaml": fixtures(
        fixtureCase("second grants demo", "demo-workload", ["read"], "{ allow: true, policy: second }"),
        fixtureCase("nobody else", "stranger", ["read"], "{ allow: false }"),
      ),
    });
    // `first` was evaluated for the allow case but did not grant it: it still lacks an allow.
    // The deny case was evaluated by both local-dev policies, never by the gitlab-ci one.
    expect(error.lines).toEqual([
      "1.policy.yaml [first]: no allow fixture",
      "3.policy.yaml [other-issuer]: no allow fixture",
      "3.policy.yaml [other-issuer]: no deny fixture",
    ]);
  });

  it("a failing case covers nothing", async () => {
    const error = await openError({
      "a.policy.yaml": policyA(["read"]),
      "a.test.yaml": fixtures(
        fixtureCase("demo reads", "demo-workload", ["read"], "{ allow: true, policy: a }"),
        fixtureCase("wrongly expects a stranger allowed", "stranger", ["read"], "{ allow: true }"),
      ),
    });
    expect(error.lines).toEqual([
      'a.test.yaml: fixture "wrongly expects a stranger allowed" failed: expected allow, got deny no_matching_policy (a: condition_false: condition is false)',
      "a.policy.yaml [a]: no deny fixture",
    ]);
  });
});

describe("the fixtures gate on reload", () => {
  it("a policy edit its fixtures refuse keeps the previous set, logs each failing fixture once, and a fix applies", async () => {
    const log = recordingLog();
    const { store, write } = await gatedStore({ "a.policy.yaml": policyA(["read"]), "a.test.yaml": FIXTURES_A }, log);
    const before = store.current();

    await write("a.policy.yaml", policyA(["read", "write"]));
    const refused = await store.reload();
    expect(refused).toMatchObject({ ok: false, stage: "fixtures", version: before.version });
    expect(refused.ok ? [] : refused.errors).toEqual(['a.test.yaml: fixture "demo may not write" failed: expected deny, got allow by a']);
    expect(store.current()).toBe(before);
    expect(allowsWrite(store)).toBe(false);
    await store.reload();
    const logged = log.entries.filter((entry) => entry.message === "policy reload failed; keeping the previous set");
    expect(logged).toEqual([expect.objectContaining({ level: "error", fields: expect.objectContaining({ stage: "fixtures", errors: refused.ok ? [] : refused.errors }) })]);

    // The author updates the fixture to the new intent: the set goes in force.
    await write("a.test.yaml", FIXTURES_A.replace("{ allow: false, reason: scope_not_granted }", "{ allow: true, policy: a, scopes: [write] }").replace("demo may not write", "demo writes"));
    await write("b.test.yaml", fixtures(fixtureCase("demo may not admin", "demo-workload", ["admin"], "{ allow: false, reason: scope_not_granted }")));
    expect(await store.reload()).toMatchObject({ ok: true, changed: true });
    expect(allowsWrite(store)).toBe(true);
  });

  it("a fixture edit alone is checked too: the set in force stays, the reload fails", async () => {
    const { store, write } = await gatedStore({ "a.policy.yaml": policyA(["read"]), "a.test.yaml": FIXTURES_A });
    expect(await store.reload()).toMatchObject({ ok: true, changed: false });
    await write("a.test.yaml", FIXTURES_A.replace("{ allow: true, policy: a }", "{ allow: true, policy: b }"));
    expect(await store.reload()).toMatchObject({ ok: false, stage: "fixtures", errors: ['a.test.yaml: fixture "demo reads" failed: expected policy b, got a', "a.policy.yaml [a]: no allow fixture"] });
    await write("a.test.yaml", FIXTURES_A);
    expect(await store.reload()).toMatchObject({ ok: true, changed: false });
  });

  it("a new policy without fixtures is refused", async () => {
    const { store, write } = await gatedStore({ "a.policy.yaml": policyA(["read"]), "a.test.yaml": FIXTURES_A });
    await write("b.policy.yaml", policyYaml({ id: "b", issuer: "gitlab-ci" }));
    expect(await store.reload()).toMatchObject({ ok: false, stage: "fixtures", errors: ["b.policy.yaml [b]: no allow fixture", "b.policy.yaml [b]: no deny fixture"] });
    expect(store.current().policyIds).toEqual(["a"]);
  });

  it("an invalid set still fails at the load stage", async () => {
    const { store, write } = await gatedStore({ "a.policy.yaml": policyA(["read"]), "a.test.yaml": FIXTURES_A });
    await write("a.policy.yaml", "id: [broken");
    expect(await store.reload()).toMatchObject({ ok: false, stage: "load" });
  });
});
