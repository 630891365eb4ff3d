/**
 * Same-run floors for the benchmarks (DESIGN.md §6): what the broker is measured against.
 *   hello  — Hono hello world GET
 *   naive  — a naive exchange handler: parseBody + jose jwtVerify (local JWKS) + jose SignJWT ES256
 *   svid   — the X.509 floor: parse + verify the CSR and sign the same certificate as the broker with @peculiar/x509 alone
 * Usage: node --import tsx bench/floor-server.ts <hello|naive|svid> <port> [<jwks-file> <subject-token issuer>]
 */
import { readFileSync } from "node:fs";
import { generateKeyPairSync, randomBytes, randomUUID } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import { subtle, x509 } from "../src/credentials/x509/x509.js";

const [mode = "hello", portText = "0", jwksFile = "", subjectIssuer = ""] = process.argv.slice(2);
const app = new Hono();
app.get("/healthz", (c) => c.text("ok"));

if (mode === "hello") {
  app.get("/", (c) => c.text("hello"));
} else if (mode === "svid") {
  // The same certificate the broker issues for the bench's policy (subject, issuer, the six
  // extensions of X509-SVID §4), built the way @peculiar/x509's documentation shows: the work a
  // like-for-like handler cannot skip. Until 2026-11-22 the floor signed a certificate with a SAN
  // only, which made it cheaper than any real SVID issuer (unfair against the broker).
  const caKeys = await subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const signingAlgorithm = { name: "ECDSA", hash: "SHA-256" };
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: "01",
    name: [{ O: ["broker.local"] }, { CN: ["floor root CA"] }],
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 86_400_000),
    signingAlgorithm,
    keys: caKeys,
    extensions: [await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey)],
  });
  const caKeyId = ca.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? "";
  app.post("/svid/x509", async (c) => {
    const csrPem = new URLSearchParams(await c.req.text()).get("csr") ?? "";
    const csr = new x509.Pkcs10CertificateRequest(csrPem);
    if (!(await csr.verify())) return c.json({ error: "invalid_request" }, 400);
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomBytes(20).toString("hex").replace(/^./, "1"),
      subject: [{ O: ["SPIFFE"] }, { CN: ["localhost"] }],
      issuer: ca.subjectName,
      notBefore: new Date(now - 30_000),
      notAfter: new Date(now + 600_000),
      publicKey: csr.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"], false),
        new x509.SubjectAlternativeNameExtension([
          { type: "url", value: "spiffe://broker.local/demo-workload" },
          { type: "dns", value: "localhost" },
        ]),
        await x509.SubjectKeyIdentifierExtension.create(csr.publicKey),
        new x509.AuthorityKeyIdentifierExtension(caKeyId, false),
      ],
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
      const { payload } = await jwtVerify(subjectToken, jwks, { issuer: subjectIssuer });
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
