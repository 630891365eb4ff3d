import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// The crypto floor bounds the broker's req/s in the bench: a floor that accepted any token (or
// refused every one) would look fast and bound nothing. So it must verify as a real exchange does.
const ISSUER = "https://floor-issuer.test";
const KID = "floor-key";
const issuerKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
const otherKeys = generateKeyPairSync("ec", { namedCurve: "P-256" });
let server: ChildProcess;
let port = 0;

const part = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

function token(claims: object, { key = issuerKeys.privateKey, header = { alg: "ES256", typ: "JWT", kid: KID } }: { key?: KeyObject; header?: object } = {}): string {
  const input = `${part(header)}.${part(claims)}`;
  return `${input}.${sign("sha256", Buffer.from(input), { key, dsaEncoding: "ieee-p1363" }).toString("base64url")}`;
}

const now = () => Math.floor(Date.now() / 1000);
const valid = () => ({ iss: ISSUER, sub: "demo-workload", exp: now() + 300 });

async function exchange(subjectToken: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${port}/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ subject_token: subjectToken }).toString(),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), "crypto-floor-"));
  const jwks = join(dir, "jwks.json");
  writeFileSync(jwks, JSON.stringify({ keys: [{ ...issuerKeys.publicKey.export({ format: "jwk" }), kid: KID }] }));
  server = spawn(process.execPath, ["--import", "tsx", "bench/crypto-floor-server.ts", "0", jwks, ISSUER], { stdio: ["ignore", "pipe", "inherit"] });
  port = await new Promise<number>((resolve, reject) => {
    server.once("exit", (code) => reject(new Error(`the crypto floor exited with ${code}`)));
    server.stdout?.on("data", (chunk: Buffer) => {
      const match = /"port":(\d+)/.exec(chunk.toString());
      if (match) resolve(Number(match[1]));
    });
  });
}, 20_000);

afterAll(() => {
  server.kill();
});

describe("bench/crypto-floor-server.ts verifies and signs for real", () => {
  it("exchanges a valid ES256 subject token for an ES256 JWT of the same subject", async () => {
    const { status, body } = await exchange(token(valid()));
    expect(status).toBe(200);
    const [header = "", payload = "", signature = ""] = String(body.access_token).split(".");
    expect(JSON.parse(Buffer.from(header, "base64url").toString())).toEqual({ alg: "ES256", typ: "at+jwt" });
    expect(JSON.parse(Buffer.from(payload, "base64url").toString())).toMatchObject({ sub: "demo-workload", aud: "https://demo.example.com" });
    expect(Buffer.from(signature, "base64url")).toHaveLength(64);
  });

  it("refuses a token signed by another key, a changed payload, another issuer, an expired token, alg none and garbage", async () => {
    const good = token(valid());
    const [header, , signature] = good.split(".");
    const refused = [
      token(valid(), { key: otherKeys.privateKey }),
      `${header}.${part({ ...valid(), sub: "someone-else" })}.${signature}`,
      token({ ...valid(), iss: "https://other.test" }),
      token({ ...valid(), exp: now() - 1 }),
      `${part({ alg: "none", kid: KID })}.${part(valid())}.`,
      token(valid(), { header: { alg: "ES256", kid: "unknown" } }),
      "not-a-jwt",
    ];
    for (const subjectToken of refused) expect((await exchange(subjectToken)).status).toBe(400);
  });
});
