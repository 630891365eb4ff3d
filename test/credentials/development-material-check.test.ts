/**
 * How a production start recognises development material (src/credentials/development-material-check.ts)
 * beyond the black-box case in test/e2e/production-dev-material.test.ts: keys made before the
 * `development` marker, the development issuer's key copied elsewhere, the development CA pointed
 * at through BROKER_CA_CERT, and production material that must pass.
 */
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { ensureDevAdminSecret, ensureDevIssuer } from "../../src/credentials/dev-material.js";
import { findDevelopmentMaterial } from "../../src/credentials/development-material-check.js";
import { initSigningKeys } from "../../src/credentials/key-rotation.js";
import { writeKeyset } from "../../src/credentials/keyset-document.js";
import { initCaSet } from "../../src/credentials/x509/ca-rotation.js";
import { createRootCa, devCaPaths, ensureDevCa } from "../../src/credentials/x509/ca-store.js";
import { ManualClock } from "../../src/lib/clock.js";

let dir: string;
let keysDir: string;
let issuersFile: string;
const clock = new ManualClock(Date.parse("2030-01-01T00:00:00Z"));

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "dev-material-"));
  keysDir = join(dir, "keys");
  issuersFile = join(dir, "policies", "issuers.yaml");
  await mkdir(join(dir, "policies"), { recursive: true });
  await writeFile(issuersFile, stringify({ issuers: [] }));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("findDevelopmentMaterial", () => {
  it("finds nothing in production material: broker keys init keys, a CA from BROKER_CA_CERT, other issuers", async () => {
    await initSigningKeys(join(keysDir, "signing"), { clock });
    const ca = { dir: join(dir, "ca-root"), certificate: join(dir, "ca-root", "ca.pem"), key: join(dir, "ca-root", "ca.key") };
    await createRootCa(ca, "example.org", new Date(clock.now()), { commonName: "credential broker root CA", days: 30 });
    await writeFile(issuersFile, stringify({ issuers: [{ id: "gh", issuer: "https://token.actions.githubusercontent.com", keys: { discovery: true } }] }));
    expect(await findDevelopmentMaterial({ keysDir, issuersFile, caCertFile: ca.certificate })).toEqual([]);
  });

  it("recognises the development admin secret a development start generated, and generates it only once", async () => {
    const first = await ensureDevAdminSecret(keysDir);
    expect(first.created).toBe(true);
    expect(await ensureDevAdminSecret(keysDir)).toEqual({ secret: first.secret, created: false });
    const problems = await findDevelopmentMaterial({ keysDir, issuersFile, caCertFile: undefined });
    expect(problems).toEqual([expect.stringContaining(`development admin secret ${join(keysDir, "dev-admin-secret")}`)]);
    expect(problems.join("\n")).not.toContain(first.secret);
  });

  it("recognises a development key from before the marker by its file named after its own thumbprint", async () => {
    const signing = join(keysDir, "signing");
    const key = await initSigningKeys(signing, { clock, development: true });
    // What a development start wrote before keys carried `development: true`.
    await writeKeyset(signing, { active: key.name, published: [] });
    expect(JSON.parse(await readFile(join(signing, "keyset.json"), "utf8"))).not.toHaveProperty("keys");
    const problems = await findDevelopmentMaterial({ keysDir, issuersFile, caCertFile: undefined });
    expect(problems).toEqual([expect.stringMatching(/signing key .* development start \(named after its thumbprint\)/)]);
  });

  it("recognises the development issuer's key copied into another jwks_file under another issuer URL", async () => {
    await ensureDevIssuer(keysDir);
    await copyFile(join(keysDir, "dev-issuer", "jwks.json"), join(dir, "policies", "copied.json"));
    await writeFile(issuersFile, stringify({ issuers: [{ id: "renamed", issuer: "https://ci.example.com", keys: { jwks_file: "./copied.json" } }] }));
    const problems = await findDevelopmentMaterial({ keysDir, issuersFile, caCertFile: undefined });
    expect(problems).toEqual([expect.stringMatching(/trusts the development issuer: entry "renamed" .*holds the development issuer's key/)]);
  });

  it("recognises the development root moved into a managed CA folder under another name, and passes a managed folder without it", async () => {
    await ensureDevCa(keysDir, "example.org", new Date(clock.now()));
    const devPaths = devCaPaths(keysDir);
    const from = { certificatePem: await readFile(devPaths.certificate, "utf8"), key: await readFile(devPaths.key, "utf8") };
    const caDir = join(dir, "managed-ca");
    const adopted = await initCaSet(caDir, { clock, trustDomain: "example.org", from });
    await rm(devPaths.dir, { recursive: true });
    expect(await findDevelopmentMaterial({ keysDir, issuersFile, caCertFile: undefined, caDir })).toEqual([
      expect.stringMatching(new RegExp(`CA ${adopted.name} in .*ca-set\\.json is the development root CA: rotate it out`)),
    ]);
    const clean = join(dir, "clean-ca");
    await initCaSet(clean, { clock, trustDomain: "example.org" });
    expect(await findDevelopmentMaterial({ keysDir, issuersFile, caCertFile: undefined, caDir: clean })).toEqual([]);
  });

  it("recognises the development CA named by BROKER_CA_CERT, by location and by common name", async () => {
    await ensureDevCa(keysDir, "example.org", new Date(clock.now()));
    const { certificate } = devCaPaths(keysDir);
    expect(await findDevelopmentMaterial({ keysDir, issuersFile, caCertFile: certificate })).toHaveLength(1);
    await copyFile(certificate, join(dir, "elsewhere.pem"));
    await rm(devCaPaths(keysDir).dir, { recursive: true });
    expect(await findDevelopmentMaterial({ keysDir, issuersFile, caCertFile: join(dir, "elsewhere.pem") })).toEqual([
      expect.stringMatching(/is the development root CA/),
    ]);
  });
});
