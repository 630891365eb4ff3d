/**
 * `docker compose up` on a fresh clone, as processes (no Docker engine here): the commands and
 * settings are read from docker-compose.yml and deploy/haproxy.cfg, only the addresses change
 * (compose service names → 127.0.0.1 ports, /app/keys → a temp folder).
 *
 * 1. keys-init's command creates the keys and the CA; run again, it keeps them and succeeds;
 * 2. two brokers start in production on them, with Redis behind its password, and the real
 *    HAProxy (`haproxy`, Debian package) balances across them: JWKS and SVID bundle answer;
 * 3. a replica that loses Redis answers /healthz but not /readyz, and HAProxy takes it out of
 *    rotation; once Redis is back, HAProxy puts it back.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually } from "../support/broker-http.js";
import { freePort, startBroker, type BrokerProcess } from "../support/broker-process.js";
import { CLI_ARGS } from "../support/compiled-broker.js";
import { composeEnvironment, composeFile, readRepoFile, withComposeDefaults } from "../support/deploy-files.js";
import { startRedisServer, type RedisServerHandle } from "../support/redis-server.js";
import { ROOT } from "../support/repo-root.js";

const compose = composeFile();
const KEYS_IN_IMAGE = "/app/keys";
const redisCommand = (compose.services.redis?.command as string[]).map(withComposeDefaults);
const redisPassword = redisCommand[redisCommand.indexOf("--requirepass") + 1] ?? "";

/** A TCP path from one broker to Redis that the test can cut and restore (a network partition). */
async function startLink(targetPort: number): Promise<{ port: number; cut(): Promise<void>; restore(): Promise<void>; close(): Promise<void> }> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const listen = async () => {
    server = createServer((socket) => {
      const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
      for (const end of [socket, upstream]) {
        sockets.add(end);
        end.on("close", () => sockets.delete(end));
        end.on("error", () => end.destroy());
      }
      socket.pipe(upstream).pipe(socket);
    });
    await new Promise<void>((resolve) => server?.listen(port, "127.0.0.1", resolve));
  };
  const cut = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  };
  await listen();
  return { port, cut, restore: listen, close: cut };
}

/** The real HAProxy on deploy/haproxy.cfg, addresses rewritten, with a stats socket to read its view. */
async function startHaproxy(dir: string, bindPort: number, servers: Record<string, number>): Promise<{ state(): Promise<Record<string, string>>; stop(): void; output: string[] }> {
  const probe = spawnSync("haproxy", ["-v"], { encoding: "utf8" });
  if (probe.status !== 0) throw new Error("haproxy is not installed: `sudo apt-get install -y haproxy` (npm test installs it when run as root)");
  const socket = join(dir, "haproxy.sock");
  let config = readRepoFile("deploy/haproxy.cfg").replace(/^global\n/m, `global\n  stats socket ${socket} level admin\n`).replace(/^(\s*bind )\S+$/m, `$1127.0.0.1:${bindPort}`);
  for (const [name, port] of Object.entries(servers)) config = config.replace(new RegExp(`^(\\s*server ${name}) \\S+$`, "m"), `$1 127.0.0.1:${port}`);
  await writeFile(join(dir, "haproxy.cfg"), config);
  const output: string[] = [];
  const child: ChildProcess = spawn("haproxy", ["-db", "-f", join(dir, "haproxy.cfg")], { stdio: ["ignore", "pipe", "pipe"] });
  for (const stream of [child.stdout, child.stderr]) stream?.on("data", (chunk: Buffer) => output.push(chunk.toString("utf8")));
  const state = () =>
    new Promise<Record<string, string>>((resolve, reject) => {
      const connection = createConnection(socket, () => connection.end("show stat\n"));
      let csv = "";
      connection.on("data", (chunk) => (csv += chunk.toString("utf8")));
      connection.on("error", reject);
      connection.on("end", () => {
        const rows = csv.split("\n").map((line) => line.split(","));
        const header = (rows[0] ?? []).map((cell) => cell.replace(/^# /, ""));
        const column = (name: string) => header.indexOf(name);
        resolve(Object.fromEntries(rows.filter((row) => row[0] === "brokers" && row[1] !== "BACKEND").map((row) => [row[1], row[column("status")] ?? ""])));
      });
    });
  await eventually(async () => Object.keys(await state().catch(() => ({}))).length === Object.keys(servers).length, 10_000, `haproxy's stats socket\n${output.join("")}`);
  return { state, stop: () => child.kill("SIGKILL"), output };
}

let work: string;
let redis: RedisServerHandle;
let link: Awaited<ReturnType<typeof startLink>>;
const brokers: BrokerProcess[] = [];
let haproxy: Awaited<ReturnType<typeof startHaproxy>> | undefined;
let lbUrl: string;

const keysInit = () => {
  const command = compose.services["keys-init"]?.command as string[];
  expect(command[0]).toBe("broker");
  const args = command.slice(1).map((arg) => arg.replace(KEYS_IN_IMAGE, join(work, "keys")));
  const env = Object.fromEntries(Object.entries(composeEnvironment(compose.services["keys-init"] ?? {})).map(([key, value]) => [key, withComposeDefaults(value)]));
  return spawnSync(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, encoding: "utf8", env: { PATH: process.env.PATH ?? "", ...env } });
};

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), "broker-first-start-"));
  // The AOF and memory flags as compose gives them; the password is set once Redis answers
  // (the helper's start-up PING would otherwise be refused with NOAUTH).
  redis = await startRedisServer({ args: ["--maxmemory", redisCommand[redisCommand.indexOf("--maxmemory") + 1] ?? ""] });
  const admin = new Redis(redis.port, "127.0.0.1");
  await admin.config("SET", "requirepass", redisPassword);
  admin.disconnect();
  link = await startLink(redis.port);
}, 60_000);

afterAll(async () => {
  haproxy?.stop();
  await Promise.all(brokers.map((broker) => broker.stop()));
  await link?.close();
  await redis?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

describe("docker compose up on a fresh clone, as processes", () => {
  it("1. keys-init creates the signing keys and the CA, and a second run keeps them and succeeds", async () => {
    const first = keysInit();
    expect(first.status, first.stderr).toBe(0);
    const keyset = await readFile(join(work, "keys/signing/keyset.json"), "utf8");
    const again = keysInit();
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(/signing keys exist, kept/);
    expect(await readFile(join(work, "keys/signing/keyset.json"), "utf8")).toBe(keyset);
  });

  it("2. two production brokers start on them behind HAProxy, with Redis behind its password", async () => {
    const lbPort = await freePort();
    lbUrl = `http://127.0.0.1:${lbPort}`;
    const redisPorts = { "broker-1": redis.port, "broker-2": link.port };
    for (const [name, redisPort] of Object.entries(redisPorts)) {
      const composed = composeEnvironment(compose.services[name] ?? {});
      const env = Object.fromEntries(
        Object.entries(composed).map(([key, value]) => [key, withComposeDefaults(value).replace(KEYS_IN_IMAGE, join(work, "keys")).replace("@redis:6379", `@127.0.0.1:${redisPort}`)]),
      );
      // The image's own settings (Dockerfile ENV), the folders where this test has them.
      brokers.push(await startBroker({ ...env, NODE_ENV: "production", BROKER_POLICY_DIR: join(ROOT, "deploy/policies"), BROKER_KEYS_DIR: join(work, "keys"), BROKER_ISSUER_URL: lbUrl }, 60_000));
    }
    // Redis refuses a client without the password.
    const anonymous = await new Promise<string>((resolve, reject) => {
      const connection = createConnection({ host: "127.0.0.1", port: redis.port }, () => connection.write("PING\r\n"));
      connection.once("data", (chunk) => {
        resolve(chunk.toString("utf8"));
        connection.destroy();
      });
      connection.once("error", reject);
    });
    expect(anonymous).toMatch(/^-NOAUTH/);

    haproxy = await startHaproxy(work, lbPort, { "broker-1": brokers[0]?.port ?? 0, "broker-2": brokers[1]?.port ?? 0 });
    const lb = haproxy;
    await eventually(async () => Object.values(await lb.state()).join() === "UP,UP", 15_000, `both brokers UP in HAProxy\n${lb.output.join("")}`);
    const jwks = (await (await fetch(`${lbUrl}/.well-known/jwks.json`)).json()) as { keys: { kid: string }[] };
    const keyset = JSON.parse(await readFile(join(work, "keys/signing/keyset.json"), "utf8")) as { active: string; keys: Record<string, { kid: string }> };
    expect(jwks.keys.map((key) => key.kid)).toContain(keyset.keys[keyset.active]?.kid);
    const bundle = await fetch(`${lbUrl}/svid/bundle.pem`);
    expect(bundle.status).toBe(200);
    expect(await bundle.text()).toBe(await readFile(join(work, "keys/ca-root/ca.pem"), "utf8"));
  }, 120_000);

  it("3. HAProxy takes a replica whose /readyz fails out of rotation, though it still answers /healthz, and puts it back", async () => {
    const lb = haproxy as NonNullable<typeof haproxy>;
    const second = brokers[1] as BrokerProcess;
    await link.cut();
    await eventually(async () => (await fetch(`${second.url}/readyz`)).status === 503, 10_000, "broker-2 not ready");
    expect((await fetch(`${second.url}/healthz`)).status).toBe(200);
    await eventually(async () => (await lb.state())["broker-2"]?.startsWith("DOWN") === true, 10_000, "HAProxy marks broker-2 DOWN");
    expect((await lb.state())["broker-1"]).toBe("UP");
    for (let i = 0; i < 10; i += 1) expect((await fetch(`${lbUrl}/readyz`)).status).toBe(200);
    await link.restore();
    await eventually(async () => (await lb.state())["broker-2"] === "UP", 15_000, "HAProxy puts broker-2 back");
  }, 60_000);
});
