import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadIssuerConfigs } from "../../src/identity/issuer-config.js";
import { generateSigningKey } from "../support/test-issuer.js";
import { BROKER } from "../support/identity.js";

async function writeIssuersFile(yaml: string, extraFiles: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "issuers-"));
  for (const [name, content] of Object.entries(extraFiles)) await writeFile(join(dir, name), content);
  const file = join(dir, "issuers.yaml");
  await writeFile(file, yaml);
  return file;
}

async function loadError(file: string): Promise<string> {
  try {
    await loadIssuerConfigs(file, BROKER);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("expected the file to be refused");
}

describe("loadIssuerConfigs", () => {
  it("applies defaults and resolves every key source kind", async () => {
    const key = await generateSigningKey("ES256", "k8s-1");
    const file = await writeIssuersFile(
      `issuers:
  - id: github-actions
    issuer: https://token.actions.githubusercontent.com
    profile: github-actions
    keys: { discovery: true }
  - id: corp-k8s
    issuer: https://kubernetes.default.svc
    profile: kubernetes
    keys: { jwks_file: ./k8s-jwks.json }
    audiences: [broker]
    algorithms: [ES256]
    max_token_age: 15m
    max_lifetime: 2h
    clock_skew: 30s
  - id: mesh
    issuer: http://127.0.0.1:8081
    profile: spiffe
    trust_domain: example.org
    keys: { jwks_uri: "http://localhost:8081/keys" }
`,
      { "k8s-jwks.json": JSON.stringify({ keys: [key.publicJwk] }) },
    );
    const [github, k8s, mesh] = await loadIssuerConfigs(file, BROKER);
    expect(github).toMatchObject({
      id: "github-actions",
      keys: { kind: "discovery" },
      audiences: [BROKER],
      algorithms: ["RS256", "ES256"],
      maxTokenAgeSeconds: 3600,
      maxLifetimeSeconds: 86_400,
      clockSkewSeconds: 60,
      requireIat: true,
    });
    expect(k8s).toMatchObject({ keys: { kind: "jwks_file" }, audiences: ["broker"], algorithms: ["ES256"], maxTokenAgeSeconds: 900, maxLifetimeSeconds: 7200, clockSkewSeconds: 30 });
    expect(k8s?.keys.kind === "jwks_file" && k8s.keys.jwks.keys.length).toBe(1);
    expect(mesh).toMatchObject({ keys: { kind: "jwks_uri", url: "http://localhost:8081/keys" }, requireIat: false });
  });

  it("lists every problem at once, with file, issuer id and field path", async () => {
    const file = await writeIssuersFile(`issuers:
  - id: Bad_Id
    issuer: http://example.com
    profile: jenkins
    keys: { discovery: true, jwks_uri: "https://example.com/jwks" }
    algorithms: []
    max_token_age: forever
    clock_skew: 10m
    surprise: 1
  - id: k8s
    issuer: https://k8s.example.com
    profile: kubernetes
    keys: { jwks_file: ./missing.json }
  - id: none-alg
    issuer: https://none.example.com
    profile: oidc
    keys: { discovery: true }
    algorithms: [none, HS256]
`);
    const message = await loadError(file);
    const expected = [
      `${file}: issuers[0] (id "Bad_Id") id: must match [a-z0-9-]+`,
      `${file}: issuers[0] (id "Bad_Id") issuer: must use https`,
      `${file}: issuers[0] (id "Bad_Id") profile: must be one of`,
      `${file}: issuers[0] (id "Bad_Id") keys: set exactly one of discovery, jwks_uri, jwks_file`,
      `${file}: issuers[0] (id "Bad_Id") algorithms: must not be empty`,
      `${file}: issuers[0] (id "Bad_Id") max_token_age: "forever" is not a duration`,
      `${file}: issuers[0] (id "Bad_Id") clock_skew: must not exceed 5m`,
      `${file}: issuers[0] (id "Bad_Id"): Unrecognized key: "surprise"`,
      `${file}: issuers[1] (id "k8s") keys.jwks_file: cannot read`,
      `${file}: issuers[2] (id "none-alg") algorithms[0]: must be an asymmetric JWS algorithm`,
      `${file}: issuers[2] (id "none-alg") algorithms[1]: must be an asymmetric JWS algorithm`,
    ];
    for (const line of expected) expect(message).toContain(line);
    expect(message).toMatch(/\(11 problems\)/);
  });

  it("refuses duplicate ids, duplicate issuers and the broker's own issuer", async () => {
    const file = await writeIssuersFile(`issuers:
  - { id: a, issuer: "https://idp.example.com", profile: oidc, keys: { discovery: true } }
  - { id: a, issuer: "https://other.example.com", profile: oidc, keys: { discovery: true } }
  - { id: b, issuer: "https://idp.example.com/", profile: oidc, keys: { discovery: true } }
  - { id: self, issuer: "${BROKER}", profile: oidc, keys: { discovery: true } }
`);
    const message = await loadError(file);
    expect(message).toContain(`issuers[1] (id "a") id: duplicate id, already used by issuers[0]`);
    expect(message).toContain(`issuers[2] (id "b") issuer: duplicate issuer, already configured by issuers[0]`);
    expect(message).toContain(`issuers[3] (id "self") issuer: is the broker's own issuer URL`);
  });

  it("refuses a jwks_file holding private key material, naming no key values", async () => {
    const key = await generateSigningKey("ES256");
    const { exportJWK } = await import("jose");
    const privateJwk = await exportJWK(key.privateKey);
    const file = await writeIssuersFile(
      `issuers:
  - { id: leaky, issuer: "https://leaky.example.com", profile: oidc, keys: { jwks_file: leaky.json } }
`,
      { "leaky.json": JSON.stringify({ keys: [privateJwk] }) },
    );
    const message = await loadError(file);
    expect(message).toContain('private or secret key material ("d")');
    expect(message).not.toContain(String(privateJwk.d));
  });

  it("refuses a jwks_file that is not JSON or has no usable keys", async () => {
    const file = await writeIssuersFile(
      `issuers:
  - { id: garbage, issuer: "https://a.example.com", profile: oidc, keys: { jwks_file: garbage.json } }
  - { id: empty, issuer: "https://b.example.com", profile: spiffe, trust_domain: example.org, keys: { jwks_file: x509-only.json } }
`,
      {
        "garbage.json": "{ nope",
        "x509-only.json": JSON.stringify({ spiffe_sequence: 1, keys: [{ kty: "EC", crv: "P-256", x: "AA", y: "AA", use: "x509-svid" }] }),
      },
    );
    const message = await loadError(file);
    expect(message).toMatch(/issuers\[0\] \(id "garbage"\) keys\.jwks_file: .*not valid JSON/);
    expect(message).toMatch(/issuers\[1\] \(id "empty"\) keys\.jwks_file: .*no usable verification keys/);
  });

  it("refuses a jwks_file holding a key that cannot be imported (an EC point off its curve), naming it by kid only", async () => {
    const { exportJWK, generateKeyPair } = await import("jose");
    const jwk = await exportJWK((await generateKeyPair("ES256", { extractable: true })).publicKey);
    const y = Buffer.from(jwk.y ?? "", "base64url");
    y[31] = (y[31] ?? 0) ^ 0x01;
    const file = await writeIssuersFile(
      `issuers:
  - { id: offcurve, issuer: "https://a.example.com", profile: oidc, keys: { jwks_file: bad.json } }
`,
      { "bad.json": JSON.stringify({ keys: [{ ...jwk, y: y.toString("base64url"), kid: "bent" }] }) },
    );
    const message = await loadError(file);
    expect(message).toMatch(/issuers\[0\] \(id "offcurve"\) keys\.jwks_file: .*keys\[0\] \(kid "bent"\) cannot be imported/);
    expect(message).not.toContain(jwk.x);
  });

  it("takes jwks_uri_origins only as https origins, and only with discovery", async () => {
    const file = await writeIssuersFile(`issuers:
  - { id: a, issuer: "https://a.example.com", profile: oidc, keys: { discovery: true }, jwks_uri_origins: ["https://keys.example.com/path"] }
  - { id: b, issuer: "https://b.example.com", profile: oidc, keys: { discovery: true }, jwks_uri_origins: ["http://keys.example.com"] }
  - { id: c, issuer: "https://c.example.com", profile: oidc, keys: { jwks_uri: "https://c.example.com/jwks" }, jwks_uri_origins: ["https://keys.example.com"] }
`);
    const message = await loadError(file);
    expect(message).toContain(`issuers[0] (id "a") jwks_uri_origins[0]: must be an origin like https://keys.example.com (no path)`);
    expect(message).toContain(`issuers[1] (id "b") jwks_uri_origins[0]: must use https`);
    expect(message).toContain(`issuers[2] (id "c") jwks_uri_origins: only applies with keys.discovery`);
  });

  it("refuses insecure jwks_uri and issuer URLs with queries or fragments", async () => {
    const file = await writeIssuersFile(`issuers:
  - { id: a, issuer: "https://a.example.com?x=1", profile: oidc, keys: { jwks_uri: "http://a.example.com/jwks" } }
  - { id: b, issuer: "https://b.example.com#f", profile: oidc, keys: { jwks_uri: "ftp://b.example.com/jwks" } }
`);
    const message = await loadError(file);
    expect(message).toContain(`issuers[0] (id "a") issuer: must not contain a query`);
    expect(message).toContain(`issuers[0] (id "a") keys.jwks_uri: must use https`);
    expect(message).toContain(`issuers[1] (id "b") issuer: must not contain a fragment`);
    expect(message).toContain(`issuers[1] (id "b") keys.jwks_uri: must use https`);
  });

  it("refuses unknown top-level fields and a missing issuers list", async () => {
    expect(await loadError(await writeIssuersFile("issuer: []\n"))).toMatch(/issuers: .*\n.*Unrecognized key: "issuer"/);
  });

  it("reports YAML syntax errors with the file name", async () => {
    const file = await writeIssuersFile("issuers: [\n");
    expect(await loadError(file)).toContain(file);
  });
});
