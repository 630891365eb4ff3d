/**
 * Same-run floors for the benchmarks (DESIGN.md §6): what the broker is measured against.
 *   hello  — Hono hello world GET
 *   naive  — a naive exchange handler: parseBody + jose jwtVerify (local JWKS) + jose SignJWT ES256
 * Usage: node --import tsx bench/floor-server.ts <hello|naive> <port> <jwks-file>
 */
import { readFileSync } from "node:fs";
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { createLocalJWKSet, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";

const [mode = "hello", portText = "0", jwksFile = ""] = process.argv.slice(2);
const app = new Hono();
app.get("/healthz", (c) => c.text("ok"));

if (mode === "hello") {
  app.get("/", (c) => c.text("hello"));
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
