/**
 * Same-run floors for the benchmarks (DESIGN.md §6): what the broker is measured against.
 *   hello  — Hono hello world GET
 *   naive  — a naive exchange handler: parseBody + jose jwtVerify (local JWKS) + jose SignJWT ES256
 *   svid   — the X.509 floor: parse + verify the CSR and sign a certificate with @peculiar/x509 alone
 * Usage: node --import tsx bench/floor-server.ts <hello|naive|svid> <port> [<jwks-file>]
 */
import { readFileSync } from "node:fs";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import { subtle, x509 } from "../src/credentials/x509/x509.js";

const [mode = "hello", portText = "0", jwksFile = ""] = process.argv.slice(2);
const app = new Hono();
app.get("/healthz", (c) => c.text("ok"));

if (mode === "hello") {
  app.get("/", (c) => c.text("hello"));
} else if (mode === "svid") {
  const caKeys = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" };
  app.post("/svid/x509", async (c) => {
    const csrPem = new URLSearchParams(await c.req.text()).get("csr") ?? "";
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify())) return c.json({ error: "invalid_request" }, 400);
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(16).toString("hex"),
      subject: "",
      issuer: "CN=floor",
      notBefore: new Date(now - 30_000),
      notAfter: new Date(now + 3_600_000),
      publicKey: csr.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: "spiffe://broker.local/demo-workload" }])],
    });
    return c.json({ x509_svid: certificate.toString("pem") });
  });
} else {
  const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, "utf8")) as JSONWebKeySet);
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  app.post("/token", async (c) => {
    const form = await c.req.parseBody();
    const subjectToken = typeof form.subject_token === "string" ? form.subject_token : "";
    try {
      const { payload } = await jwtVerify(subjectToken, jwks, { issuer: "https://dev-issuer.invalid" });
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ scope: "demo:read" })
        .setProtectedHeader({ alg: "ES256", typ: "at+jwt" })
        .setSubject(String(payload.sub))
        .setAudience("https://demo.example.com")
        .setIssuedAt(now)
        .setExpirationTime(now + 600)
        .setJti(randomUUID())
        .sign(privateKey);
      return c.json({ access_token: token, token_type: "Bearer", expires_in: 600 });
    } catch {
      return c.json({ error: "invalid_request" }, 400);
    }
  });
}

serve({ fetch: app.fetch, hostname: "127.0.0.1", port: Number(portText) }, (info) => {
  process.stdout.write(`${JSON.stringify({ msg: "listening", port: info.port })}\n`);
});
