/**
 * The image, checked without a Docker engine: the Dockerfile parsed by dockerfile-ast, the build
 * context computed from .dockerignore by @balena/dockerignore (Docker's matching rules), the
 * production dependency set read from package-lock.json (what `npm ci --omit=dev` installs), and
 * the HEALTHCHECK command run for real against a broker process.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BROKER_ARGS } from "../../bench/processes.js";
import { ROUTE_TABLE } from "../../src/app.js";
import { SETTING_NAMES } from "../../src/config.js";
import { startBrokerFixture } from "../support/broker-fixture.js";
import { argumentsOf, dockerignore, dockerStages, execForm, flagsOf, propertiesOf, readRepoFile } from "../support/deploy-files.js";
import { ROOT } from "../support/repo-root.js";

const stages = dockerStages();
const final = stages.at(-1);
const finalInstructions = final?.instructions ?? [];
const byKeyword = (keyword: string) => finalInstructions.filter((instruction) => instruction.getKeyword() === keyword);
const context = dockerignore();

/** Every file Docker would send as the build context: the repository walked under .dockerignore. */
function buildContext(dir = "", found: string[] = []): string[] {
  for (const entry of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      // A left-out folder is skipped only when no `!` pattern could bring a file under it back.
      const couldComeBack = context.negations.some((pattern) => pattern.startsWith(`${path}/`) || /^[*?[]/.test(pattern));
      if (!context.ignores(path) || couldComeBack) buildContext(path, found);
    } else if (!context.ignores(path)) {
      found.push(path);
    }
  }
  return found;
}

describe("Dockerfile", () => {
  it("builds on a supported Node LTS in every stage, and pins the same base everywhere", () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.image).toMatch(/^node:(22|24)(\.\d+)*-bookworm-slim$/);
    expect(new Set(stages.map((stage) => stage.image)).size).toBe(1);
  });

  it("copies from the context only paths that exist and that .dockerignore lets in", () => {
    const copies = stages.flatMap((stage) => stage.instructions).filter((instruction) => instruction.getKeyword() === "COPY" && flagsOf(instruction).from === undefined);
    expect(copies.length).toBeGreaterThan(0);
    for (const copy of copies) {
      for (const source of argumentsOf(copy).slice(0, -1)) {
        expect(existsSync(join(ROOT, source)), `COPY ${source}`).toBe(true);
        expect(context.ignores(source), `COPY ${source} is left out by .dockerignore`).toBe(false);
        if (statSync(join(ROOT, source)).isDirectory()) expect(buildContext().some((path) => path.startsWith(`${source}/`)), `${source}/ reaches the context`).toBe(true);
      }
    }
  });

  it("runs compiled JS with production dependencies only: dist/ from the build, node_modules from npm ci --omit=dev", () => {
    const copiesFrom = byKeyword("COPY").filter((instruction) => flagsOf(instruction).from !== undefined);
    const copied = Object.fromEntries(copiesFrom.map((instruction) => [argumentsOf(instruction).at(-1), { from: flagsOf(instruction).from, source: argumentsOf(instruction)[0] }]));
    expect(Object.keys(copied).sort()).toEqual(["./dist", "./node_modules"]);
    const stage = (name: string | undefined) => stages.find((candidate) => candidate.name === name);
    const runs = (name: string | undefined) => stage(name)?.instructions.filter((instruction) => instruction.getKeyword() === "RUN").map((instruction) => argumentsOf(instruction).join(" ")) ?? [];
    expect(runs(copied["./node_modules"]?.from)).toContainEqual(expect.stringMatching(/^npm ci --omit=dev\b/));
    expect(runs(copied["./dist"]?.from)).toContainEqual(expect.stringMatching(/tsc -p tsconfig\.build\.json/));
    // The only other file from the context is package.json ("type": "module" for dist/).
    const fromContext = byKeyword("COPY").filter((instruction) => flagsOf(instruction).from === undefined).flatMap((instruction) => argumentsOf(instruction).slice(0, -1));
    expect(fromContext).toEqual(["package.json"]);
  });

  it("leaves tsx, esbuild, pino-pretty, vitest and typescript out of the production install (package-lock.json)", () => {
    const manifest = JSON.parse(readRepoFile("package.json")) as { dependencies: Record<string, string> };
    const lock = JSON.parse(readRepoFile("package-lock.json")) as { packages: Record<string, { dev?: boolean }> };
    for (const name of ["tsx", "esbuild", "pino-pretty", "vitest", "typescript", "@balena/dockerignore", "dockerfile-ast", "kubernetes-models"]) {
      expect(Object.keys(manifest.dependencies), `${name} is a production dependency`).not.toContain(name);
      const entry = lock.packages[`node_modules/${name}`];
      expect(entry, `${name} in package-lock.json`).toBeDefined();
      // npm marks a package dev: true when only devDependencies need it: --omit=dev skips it.
      expect(entry?.dev, `${name} is needed by a production dependency`).toBe(true);
    }
  });

  it("starts node dist/main.js directly, as a numeric non-root user, with the broker CLI on PATH", () => {
    const [binary, ...args] = execForm(byKeyword("CMD")[0] as NonNullable<(typeof finalInstructions)[number]>);
    expect(binary).toBe("node");
    const build = JSON.parse(readRepoFile("tsconfig.build.json")) as { compilerOptions: { rootDir: string; outDir: string } };
    expect(args.filter((arg) => !arg.startsWith("--"))).toEqual([`${build.compilerOptions.outDir}/main.js`]);
    expect(existsSync(join(ROOT, build.compilerOptions.rootDir, "main.ts"))).toBe(true);
    expect(byKeyword("ENTRYPOINT")).toEqual([]);
    const user = argumentsOf(byKeyword("USER").at(-1) as NonNullable<(typeof finalInstructions)[number]>)[0];
    expect(user).toMatch(/^[1-9]\d*:[1-9]\d*$/);
    const script = finalInstructions.filter((instruction) => instruction.getKeyword() === "RUN").map((instruction) => argumentsOf(instruction).join(" ")).join(" ");
    expect(script).toContain(`ln -s /app/${build.compilerOptions.outDir}/cli/broker.js /usr/local/bin/broker`);
    expect(readFileSync(join(ROOT, "src/cli/broker.ts"), "utf8").startsWith("#!/usr/bin/env node\n")).toBe(true);
    // The keys folder a fresh named volume copies: the runtime user's, 0700.
    expect(script).toContain(`chown ${user} /app/keys`);
    expect(script).toContain("chmod 0700 /app/keys");
  });

  it("runs node with the flags npm run start:prod and the bench use (what the bench measures is what ships)", () => {
    const [, ...args] = execForm(byKeyword("CMD")[0] as NonNullable<(typeof finalInstructions)[number]>);
    const flags = args.filter((arg) => arg.startsWith("--"));
    expect(flags).toContain("--max-semi-space-size=8");
    expect(flags).toContain("--no-maglev");
    expect(flags).toContain("--no-allocation-site-pretenuring");
    const scripts = (JSON.parse(readRepoFile("package.json")) as { scripts: Record<string, string> }).scripts;
    expect(scripts["start:prod"]).toBe(["node", ...args].join(" "));
    expect(BROKER_ARGS).toEqual(args);
    // Every flag is one this Node accepts (Node 20 knows --no-maglev; it is already its default there).
    // An unknown flag makes node print "bad option" and exit 9.
    const probe = spawnSync(process.execPath, [...flags, "-e", "0"], { encoding: "utf8" });
    expect(probe.status, probe.stderr).toBe(0);
    expect(probe.stderr).toBe("");
  });

  it("sets only settings the broker reads, production mode, and the OCI labels", () => {
    const env = propertiesOf(finalInstructions, "ENV");
    expect(Object.keys(env).filter((name) => !SETTING_NAMES.includes(name))).toEqual([]);
    expect(env).toMatchObject({ NODE_ENV: "production", BROKER_HOST: "0.0.0.0", BROKER_PORT: "8080" });
    expect(argumentsOf(byKeyword("EXPOSE")[0] as NonNullable<(typeof finalInstructions)[number]>)).toEqual([env.BROKER_PORT]);
    const labels = propertiesOf(finalInstructions, "LABEL");
    for (const name of ["title", "description", "licenses", "version", "revision", "created"]) expect(labels[`org.opencontainers.image.${name}`], name).toBeTruthy();
    expect(labels["org.opencontainers.image.licenses"]).toBe((JSON.parse(readRepoFile("package.json")) as { license: string }).license);
    expect(labels["org.opencontainers.image.base.name"]).toBe(`docker.io/library/${final?.image ?? ""}`);
  });

  it("HEALTHCHECK asks /healthz, a public route, and its command exits 0 against a running broker and 1 when nothing answers", async () => {
    const healthcheck = byKeyword("HEALTHCHECK")[0];
    expect(healthcheck).toBeDefined();
    const command = execForm(healthcheck as NonNullable<typeof healthcheck>);
    const path = /\/(healthz|readyz)'/.exec(command.join(" "))?.[0].slice(0, -1);
    expect(path).toBe("/healthz");
    expect(ROUTE_TABLE).toContainEqual({ method: "GET", path, auth: "public" });
    const fixture = await startBrokerFixture();
    try {
      const run = (port: number) => spawnSync(process.execPath, command.slice(1), { env: { PATH: process.env.PATH ?? "", BROKER_PORT: String(port) }, timeout: 10_000 });
      expect(run(fixture.broker.port).status).toBe(0);
      await fixture.close();
      expect(run(fixture.broker.port).status).toBe(1);
    } finally {
      await fixture.close();
    }
  }, 60_000);
});

describe(".dockerignore", () => {
  const contextFiles = buildContext();

  it("sends nothing under keys/, test/, bench/ or node_modules/, and no private key anywhere", () => {
    expect(contextFiles.filter((path) => /^(keys|test|bench|node_modules|\.git)\//.test(path) || /(^|\/)node_modules\//.test(path))).toEqual([]);
    const privateKeys = contextFiles.filter((path) => /-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(readFileSync(join(ROOT, path), "latin1")));
    expect(privateKeys).toEqual([]);
    expect(contextFiles).toEqual(expect.arrayContaining(["package.json", "package-lock.json", "tsconfig.json", "tsconfig.build.json", "src/main.ts"]));
  });

  it("leaves out the key material a working copy accumulates, wherever it lies", () => {
    const accumulated = [
      "keys/signing/keyset.json",
      "keys/signing/key-20261204-abc.pem",
      "keys/ca/ca.key",
      "keys/ca-root/ca.pem",
      "keys/dev-issuer/private.pem",
      "keys/dev-issuer/jwks.json",
      "src/credentials/leftover.pem",
      "src/server.key",
      ".env",
      "src/.env.production",
      "src/node_modules/x/index.js",
      "node_modules/jose/package.json",
      "test/fixtures/key.pem",
      "bench/results/run.json",
      ".git/config",
    ];
    expect(accumulated.filter((path) => !context.ignores(path))).toEqual([]);
  });
});
