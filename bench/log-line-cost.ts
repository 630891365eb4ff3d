/**
 * What pino spends on one audit line (CPU µs, process.cpuUsage over many lines, no I/O): the
 * broker's logger (src/lib/logger.ts: the audit record censored by a serializer, the time text
 * formatted once per millisecond) against the settings it had before (a redaction path
 * `audit.<field>` for each secret field, pino.stdTimeFunctions.isoTime). Both write the same bytes
 * (checked here, the time aside). Usage: npx tsx bench/log-line-cost.ts
 */
import pino from "pino";
import { createLogger } from "../src/lib/logger.js";

const SECRET_FIELDS = ["subject_token", "actor_token", "access_token", "token", "authorization", "privateKey", "password", "secret", "d"];
const CONTAINERS = ["body", "form", "req", "request", "res", "response", "headers", "err", "error", "jwk", "key", "keys", "claims", "payload", "audit", "detail", "config", "options"];
const FORMER_PATHS = [
  ...SECRET_FIELDS.filter((field) => field !== "d"),
  ...CONTAINERS.flatMap((container) => SECRET_FIELDS.map((field) => `${container}.${field}`)),
  ...["headers.cookie", "req.headers.authorization", "req.headers.cookie", "request.headers.authorization", "request.headers.cookie"],
];

let last = "";
const destination = { write: (line: string) => void (last = line) };
const loggers = {
  "before (redaction path on audit, isoTime)": pino(
    { level: "info", base: { service: "credential-broker" }, timestamp: pino.stdTimeFunctions.isoTime, redact: { paths: FORMER_PATHS, censor: "[redacted]" } },
    destination,
  ),
  "now (createLogger)": createLogger({ level: "info" }, destination),
};

const record = {
  event: "token_exchange",
  requestId: "4db8aea3-d8e5-4c6a-b600-3f13e26a7761",
  subjectTokenType: "urn:ietf:params:oauth:token-type:jwt",
  subjectTokenSha256: "a1379937ff2d0f4a003d718637fdd74e3c9417d1e9768c1b929e23f43a6c681f",
  requestedTokenType: "access_token",
  clientAddress: "127.0.0.1",
  issuer: "bench-es",
  subject: "demo-workload",
  workloadId: "bench-es:demo-workload",
  policy: "bench",
  evaluated: ["bench"],
  decision: "allow",
  jti: "3q2-7wEAAAB0aGlzIGlzIGEgdGVzdA",
  exp: 1795000600,
  audience: ["https://demo.example.com"],
  scope: "demo:read",
};
const LINES = 200_000;
const lines: Record<string, string> = {};
for (let round = 0; round < 3; round += 1) {
  for (const [name, logger] of Object.entries(loggers)) {
    const audit = logger.child({ channel: "audit" });
    const start = process.cpuUsage();
    for (let i = 0; i < LINES; i += 1) {
      audit.info({ requestId: record.requestId, method: "POST", path: "/token", status: 200, durationMs: 3.21, clientAddress: "127.0.0.1", audit: record }, "token_exchange allow");
    }
    const used = process.cpuUsage(start);
    lines[name] = last.replace(/"time":"[^"]+"/, "");
    if (round === 2) console.log(`${name}: ${((used.user + used.system) / LINES).toFixed(2)} µs CPU per audit line`);
  }
}
if (new Set(Object.values(lines)).size !== 1) throw new Error(`the lines differ:\n${Object.values(lines).join("\n")}`);
console.log("same bytes: yes");
