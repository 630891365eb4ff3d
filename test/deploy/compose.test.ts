/**
 * docker-compose.yml kept honest without Docker: every service, image build, setting, mount,
 * volume, network and upstream it names must exist in this repository and mean what the broker
 * and its CLI read; the security settings every container must carry; the first-start order
 * (keys-init, then Redis healthy, then the brokers); HAProxy health-checking /readyz.
 * test/e2e/compose-first-start.test.ts runs the same first start as processes.
 */
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROUTE_TABLE } from "../../src/app.js";
import { SETTING_NAMES } from "../../src/config.js";
import { findDevelopmentMaterial } from "../../src/credentials/development-material-check.js";
import { loadIssuerConfigs } from "../../src/identity/issuer-config.js";
import { loadPolicySet } from "../../src/policy/index.js";
import { composeEnvironment, composeFile, dockerStages, propertiesOf, readRepoFile, withComposeDefaults, type ComposeService } from "../support/deploy-files.js";
import { ROOT } from "../support/repo-root.js";

const compose = composeFile();
const services = compose.services;
const brokers = Object.keys(services).filter((name) => /^broker-\d+$/.test(name));
const service = (name: string): ComposeService => services[name] ?? {};
const imageEnv = propertiesOf(dockerStages().at(-1)?.instructions ?? [], "ENV");
const dependencies = (s: ComposeService) => (Array.isArray(s.depends_on) ? Object.fromEntries(s.depends_on.map((name) => [name, {}])) : (s.depends_on ?? {}));
const redisArgs = service("redis").command as string[];
const redisFlag = (flag: string) => redisArgs[redisArgs.indexOf(flag) + 1];

/** source:target[:mode] short-syntax volumes: bind mounts start with "." or "/", the rest are named volumes. */
function mounts(s: ComposeService): { source: string; target: string; mode: string; bind: boolean }[] {
  return (s.volumes ?? []).map((spec) => {
    const [source = "", target = "", mode = "rw"] = spec.split(":");
    return { source, target, mode, bind: source.startsWith(".") || source.startsWith("/") };
  });
}

/** HAProxy's configuration as sections ("backend brokers") of keyword lines, comments dropped. */
function haproxySections(text: string): Map<string, string[]> {
  const sections = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "" || line.trim().startsWith("#")) continue;
    if (/^\S/.test(line)) sections.set(line.trim(), (current = []));
    else current.push(line.trim());
  }
  return sections;
}

describe("docker-compose.yml: what runs", () => {
  it("has the init service, redis, at least two broker replicas and a load balancer", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["keys-init", "redis", "broker-1", "broker-2", "lb"]));
    expect(brokers.length).toBeGreaterThanOrEqual(2);
  });

  it.each(Object.keys(services))("%s: read-only root, every capability dropped, no new privileges, a restart policy", (name) => {
    const s = service(name);
    expect(s.read_only).toBe(true);
    expect(s.cap_drop).toEqual(["ALL"]);
    expect(s.security_opt).toContain("no-new-privileges:true");
    expect(s.restart).toBe(name === "keys-init" ? "no" : "unless-stopped");
  });

  it("runs Redis with AOF fsynced on every write, noeviction, a memory bound and a password, on a network only the brokers share", () => {
    expect(redisArgs[0]).toBe("redis-server");
    expect(redisFlag("--appendonly")).toBe("yes");
    expect(redisFlag("--appendfsync")).toBe("always");
    expect(redisFlag("--maxmemory-policy")).toBe("noeviction");
    expect(redisFlag("--maxmemory")).toMatch(/^\d+(mb|gb)$/);
    expect(withComposeDefaults(redisFlag("--requirepass") ?? "").length).toBeGreaterThanOrEqual(16);
    expect(service("redis").ports).toBeUndefined();
    const networks = service("redis").networks ?? [];
    expect(networks.every((network) => compose.networks?.[network]?.internal === true)).toBe(true);
    for (const name of Object.keys(services).filter((candidate) => !brokers.includes(candidate) && candidate !== "redis")) {
      expect(service(name).networks ?? [], `${name} reaches Redis`).not.toEqual(expect.arrayContaining(networks));
    }
    // Its health check must authenticate, or it would fail against a password-protected Redis.
    expect(composeEnvironment(service("redis")).REDISCLI_AUTH).toBe(redisFlag("--requirepass"));
    expect(JSON.stringify(service("redis").healthcheck?.test)).toMatch(/redis-cli ping/);
  });
});

describe("docker-compose.yml: first start with no manual step", () => {
  const init = service("keys-init");
  const keysVolume = mounts(init).find((mount) => mount.target === imageEnv.BROKER_KEYS_DIR);

  it("keys-init runs the broker image's `broker keys init --if-missing --ca` into the keys volume, writable", () => {
    expect(init.image).toBe(service("broker-1").image);
    expect(init.build).toEqual(service("broker-1").build);
    expect(init.command).toEqual(["broker", "keys", "init", "--if-missing", "--ca", "--dir", imageEnv.BROKER_KEYS_DIR]);
    expect(keysVolume).toMatchObject({ bind: false, mode: "rw" });
    expect(Object.keys(compose.volumes ?? {})).toContain(keysVolume?.source);
    expect(init.network_mode).toBe("none");
  });

  it.each(brokers)("%s: starts after keys-init succeeded and Redis is healthy, on the keys it made, read-only", (name) => {
    const s = service(name);
    expect(dependencies(s)).toEqual({ "keys-init": { condition: "service_completed_successfully" }, redis: { condition: "service_healthy" } });
    expect(mounts(s)).toContainEqual({ source: keysVolume?.source, target: imageEnv.BROKER_KEYS_DIR, mode: "ro", bind: false });
    const env = composeEnvironment(s);
    // Where `keys init --ca --dir <keys>` writes the CA, and for the trust domain it was made for.
    expect(env.BROKER_CA_CERT).toBe(`${imageEnv.BROKER_KEYS_DIR}/ca-root/ca.pem`);
    expect(env.BROKER_CA_KEY).toBe(`${imageEnv.BROKER_KEYS_DIR}/ca-root/ca.key`);
    expect(env.BROKER_TRUST_DOMAIN).toBe(composeEnvironment(init).BROKER_TRUST_DOMAIN);
    expect(withComposeDefaults(env.BROKER_ADMIN_SECRET ?? "")).toBe("");
    expect(s.stop_grace_period).toMatch(/^(\d+)s$/);
    // Above BROKER_SHUTDOWN_GRACE's 10 s default: Docker's SIGKILL must not cut the drain short.
    expect(Number.parseInt(s.stop_grace_period ?? "0", 10)).toBeGreaterThan(10);
  });

  it.each(brokers)("%s: only settings the broker reads, Redis with its password, the production policy folder read-only", (name) => {
    const s = service(name);
    const env = composeEnvironment(s);
    expect(Object.keys({ ...env, ...imageEnv }).filter((key) => !SETTING_NAMES.includes(key)), "settings src/config.ts does not read").toEqual([]);
    const redisUrl = new URL(withComposeDefaults(env.REDIS_URL ?? ""));
    expect([redisUrl.protocol, redisUrl.hostname, redisUrl.port]).toEqual(["redis:", "redis", "6379"]);
    expect(decodeURIComponent(redisUrl.password)).toBe(withComposeDefaults(redisFlag("--requirepass") ?? ""));
    const policies = mounts(s).find((mount) => mount.target === imageEnv.BROKER_POLICY_DIR);
    expect(policies).toMatchObject({ source: "./deploy/policies", mode: "ro", bind: true });
  });

  it("the mounted policy folder loads, and holds no development material the production image would refuse", async () => {
    const dir = join(ROOT, "deploy/policies");
    const issuers = await loadIssuerConfigs(join(dir, "issuers.yaml"), "http://127.0.0.1:8080");
    await expect(loadPolicySet(dir, { knownIssuers: issuers.map((issuer) => ({ id: issuer.id, profile: issuer.profile })), trustDomain: "broker.local" })).resolves.toBeDefined();
    expect(await findDevelopmentMaterial({ keysDir: join(ROOT, "keys-absent"), issuersFile: join(dir, "issuers.yaml"), caCertFile: undefined })).toEqual([]);
    // The root policies/ folder would be refused: this is why compose does not mount it.
    expect(await findDevelopmentMaterial({ keysDir: join(ROOT, "keys-absent"), issuersFile: join(ROOT, "policies/issuers.yaml"), caCertFile: undefined })).not.toEqual([]);
  });

  it("mounts only host paths that exist, named volumes and networks that are declared, services that exist", () => {
    for (const [name, s] of Object.entries(services)) {
      for (const mount of mounts(s)) {
        if (mount.bind) expect(existsSync(join(ROOT, mount.source)), `${name}: ${mount.source}`).toBe(true);
        else expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${mount.source}`).toContain(mount.source);
      }
      for (const dependency of Object.keys(dependencies(s))) expect(Object.keys(services)).toContain(dependency);
      for (const network of s.networks ?? []) expect(Object.keys(compose.networks ?? {})).toContain(network);
    }
  });
});

describe("deploy/haproxy.cfg", () => {
  const sections = haproxySections(readRepoFile("deploy/haproxy.cfg"));
  const lb = service("lb");
  const frontend = [...sections].find(([name]) => name.startsWith("frontend "))?.[1] ?? [];
  const backendName = frontend.find((line) => line.startsWith("default_backend "))?.split(/\s+/)[1];
  const backend = sections.get(`backend ${backendName}`) ?? [];

  it("is what the lb service runs, on the port it publishes", () => {
    expect(lb.image).toMatch(/^haproxy:\d/);
    expect(mounts(lb)).toContainEqual({ source: "./deploy/haproxy.cfg", target: "/usr/local/etc/haproxy/haproxy.cfg", mode: "ro", bind: true });
    expect(statSync(join(ROOT, "deploy/haproxy.cfg")).isFile()).toBe(true);
    const bind = frontend.find((line) => line.startsWith("bind "))?.match(/:(\d+)$/)?.[1];
    expect(lb.ports?.some((port) => port.endsWith(`:${bind}`))).toBe(true);
    expect(lb.networks).toEqual(expect.arrayContaining(service("broker-1").networks?.filter((network) => network !== "backend") ?? []));
  });

  it("balances across exactly the broker services, on the port the image listens on", () => {
    const servers = backend.filter((line) => line.startsWith("server ")).map((line) => line.split(/\s+/)[2] ?? "");
    expect(servers.map((address) => address.split(":")[0]).sort()).toEqual([...brokers].sort());
    for (const address of servers) expect(address.split(":")[1]).toBe(imageEnv.BROKER_PORT);
    expect(backend).toContain("balance roundrobin");
  });

  it("takes a replica out while its /readyz is not 200, checking every server", () => {
    expect(backend).toContain("option httpchk");
    const check = backend.find((line) => line.startsWith("http-check send "));
    expect(check).toMatch(/\bmeth GET uri \/readyz\b/);
    expect(ROUTE_TABLE).toContainEqual({ method: "GET", path: "/readyz", auth: "public" });
    expect(backend).toContain("http-check expect status 200");
    expect(backend.find((line) => line.startsWith("default-server "))?.split(/\s+/)).toContain("check");
  });

  it("retries a request that met a broker closing an idle connection (its keep-alive is 5 s), and waits longer than a request may take", () => {
    const defaults = sections.get("defaults") ?? [];
    expect(defaults.find((line) => line.startsWith("retry-on "))?.split(/\s+/)).toEqual(expect.arrayContaining(["conn-failure", "empty-response"]));
    expect(Number(defaults.find((line) => line.startsWith("retries "))?.split(/\s+/)[1])).toBeGreaterThanOrEqual(1);
    const seconds = (name: string) => Number(/(\d+)s$/.exec(defaults.find((line) => line.startsWith(`timeout ${name} `)) ?? "")?.[1]);
    // BROKER_REQUEST_TIMEOUT defaults to 10 s: the broker answers before HAProxy gives up.
    expect(seconds("server")).toBeGreaterThan(10);
  });
});
