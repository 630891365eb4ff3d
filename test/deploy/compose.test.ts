/**
 * docker-compose.yml kept honest without Docker: every service, image build, setting, mount and
 * upstream it names must exist in this repository and mean what the broker reads.
 * test/e2e/topology.test.ts runs the same topology as plain processes.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { SETTING_NAMES } from "../../src/config.js";
import { ROOT } from "../support/repo-root.js";

const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

interface Service {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string | number | null> | string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, unknown>;
}

const compose = parse(read("docker-compose.yml"), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const services = compose.services;
const brokers = Object.keys(services).filter((name) => /^broker-\d+$/.test(name));

/** Dockerfile instructions of the final stage, plus the whole text. */
const dockerfile = read("Dockerfile");
const finalStage = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
const imageEnv = Object.fromEntries([...finalStage.matchAll(/^\s*(?:ENV\s+)?([A-Z_]+)=(\S+?)\s*\\?$/gm)].map((match) => [match[1], match[2]]));

function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((entry) => [entry.split("=")[0] ?? "", entry.slice(entry.indexOf("=") + 1)]));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? "")]));
}

/** host:container[:mode] short-syntax bind mounts (named volumes excluded). */
function binds(service: Service): { host: string; container: string; mode: string }[] {
  return (service.volumes ?? [])
    .map((spec) => spec.split(":"))
    .filter(([host]) => host?.startsWith(".") === true)
    .map(([host = "", container = "", mode = "rw"]) => ({ host, container, mode }));
}

describe("docker-compose.yml", () => {
  it("has redis, at least two broker replicas and a load balancer", () => {
    expect(Object.keys(services)).toEqual(expect.arrayContaining(["redis", "broker-1", "broker-2", "lb"]));
    expect(brokers.length).toBeGreaterThanOrEqual(2);
  });

  it("runs Redis with AOF and noeviction, as the broker requires", () => {
    const command = services.redis?.command;
    expect(Array.isArray(command)).toBe(true);
    const args = command as string[];
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(args[0]).toBe("redis-server");
    expect(value("--appendonly")).toBe("yes");
    expect(value("--maxmemory-policy")).toBe("noeviction");
  });

  it.each(brokers)("%s: built from this repository, pointed at the redis service, with only settings the broker knows", (name) => {
    const service = services[name] as Service;
    const context = typeof service.build === "string" ? service.build : (service.build?.context ?? ".");
    const file = typeof service.build === "object" ? (service.build.dockerfile ?? "Dockerfile") : "Dockerfile";
    expect(existsSync(join(ROOT, context, file))).toBe(true);
    const env = environment(service);
    expect(env.REDIS_URL).toMatch(/^redis:\/\/redis:6379(\/\d+)?$/);
    const unknown = Object.keys({ ...env, ...imageEnv }).filter((key) => !SETTING_NAMES.includes(key));
    expect(unknown, "settings src/config.ts does not read").toEqual([]);
    expect(Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {})).toContain("redis");
  });

  it.each(brokers)("%s: mounts ./policies and ./keys read-only where the image looks for them", (name) => {
    const mounts = binds(services[name] as Service);
    for (const [host, setting] of [["./policies", "BROKER_POLICY_DIR"], ["./keys", "BROKER_KEYS_DIR"]] as const) {
      const mount = mounts.find((candidate) => candidate.host === host);
      expect(mount, `${name} mounts ${host}`).toBeDefined();
      expect(mount?.mode).toBe("ro");
      expect(mount?.container).toBe(imageEnv[setting]);
    }
  });

  it("mounts only host paths that exist, and depends only on defined services", () => {
    for (const [name, service] of Object.entries(services)) {
      for (const mount of binds(service)) expect(existsSync(join(ROOT, mount.host)), `${name}: ${mount.host}`).toBe(true);
      const dependencies = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
      for (const dependency of dependencies) expect(Object.keys(services)).toContain(dependency);
      for (const volume of service.volumes ?? []) {
        const source = volume.split(":")[0] ?? "";
        if (!source.startsWith(".") && !source.startsWith("/")) expect(Object.keys(compose.volumes ?? {}), `${name}: volume ${source}`).toContain(source);
      }
    }
    expect(statSync(join(ROOT, "deploy/nginx.conf")).isFile()).toBe(true);
  });

  it("load balances across exactly the broker services, on the port the image listens on", () => {
    const nginx = read("deploy/nginx.conf");
    const upstream = /upstream\s+(\w+)\s*\{([^}]*)\}/.exec(nginx);
    expect(upstream).not.toBeNull();
    const servers = [...(upstream?.[2] ?? "").matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)].map((match) => ({ host: match[1], port: match[2] }));
    expect(servers.map((server) => server.host).sort()).toEqual([...brokers].sort());
    for (const server of servers) expect(server.port).toBe(imageEnv.BROKER_PORT);
    expect(nginx).toMatch(new RegExp(`proxy_pass\\s+http://${upstream?.[1]};`));
    // nginx must drop idle upstream connections before a broker does (its keep-alive timeout is 5 s).
    const keepalive = /keepalive_timeout\s+(\d+)s;/.exec(upstream?.[2] ?? "");
    expect(Number(keepalive?.[1])).toBeLessThan(5);
    const listen = /listen\s+(\d+);/.exec(nginx)?.[1];
    expect(services.lb?.ports?.some((port) => port.endsWith(`:${listen}`))).toBe(true);
    expect(binds(services.lb as Service)).toContainEqual({ host: "./deploy/nginx.conf", container: "/etc/nginx/nginx.conf", mode: "ro" });
  });
});

describe("Dockerfile", () => {
  it("copies only what exists, builds src/ to dist/ and starts dist/main.js as a non-root user", () => {
    for (const match of dockerfile.matchAll(/^COPY\s+(?!--from)(.+)$/gm)) {
      const sources = (match[1] ?? "").trim().split(/\s+/).slice(0, -1);
      for (const source of sources) expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true);
    }
    expect(dockerfile).toMatch(/tsc -p tsconfig\.build\.json/);
    const build = JSON.parse(read("tsconfig.build.json")) as { compilerOptions: { rootDir: string; outDir: string } };
    const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(finalStage)?.[1];
    const [binary, ...args] = JSON.parse(cmd ?? "[]") as string[];
    expect(binary).toBe("node");
    // Node/V8 flags may come first; then the entry point and nothing after it.
    const entry = args.find((arg) => !arg.startsWith("--"));
    expect(args.at(-1)).toBe(entry);
    // dist/main.js is what tsc makes of src/main.ts under tsconfig.build.json's rootDir/outDir.
    expect(entry).toBe(`${build.compilerOptions.outDir}/main.js`);
    expect(existsSync(join(ROOT, build.compilerOptions.rootDir, "main.ts"))).toBe(true);
    expect(finalStage).toMatch(/^USER\s+(?!root)\w+/m);
    expect(finalStage).toMatch(/^HEALTHCHECK\b[\s\S]*\/readyz/m);
    expect(imageEnv.NODE_ENV).toBe("production");
    expect(imageEnv.BROKER_HOST).toBe("0.0.0.0");
  });
});
