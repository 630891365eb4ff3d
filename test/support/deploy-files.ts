/**
 * The deployment files as data, read with the parsers their tools use: the Dockerfile with
 * dockerfile-ast (the Dockerfile language server's parser), .dockerignore with
 * @balena/dockerignore (a port of Docker's own matching), compose and Kubernetes YAML with yaml.
 * Shared by test/deploy/ and the first-start e2e test.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type DockerIgnore from "@balena/dockerignore";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { parse } from "yaml";
import { ROOT } from "./repo-root.js";

// A CommonJS module whose types declare an ES default export: required as what it really exports.
const ignore = createRequire(import.meta.url)("@balena/dockerignore") as typeof DockerIgnore.default;

export const readRepoFile = (path: string): string => readFileSync(join(ROOT, path), "utf8");

/** One build stage: its base image, its name, and its instructions in order. */
export interface DockerStage {
  readonly image: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

/** The Dockerfile's stages, split at each FROM. */
export function dockerStages(text = readRepoFile("Dockerfile")): DockerStage[] {
  const stages: { image: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const instruction of DockerfileParser.parse(text).getInstructions()) {
    if (instruction.getKeyword() === "FROM") {
      const [image = "", as, name] = instruction.getArguments().map((argument) => argument.getValue());
      stages.push({ image, name: as?.toUpperCase() === "AS" ? name : undefined, instructions: [] });
    } else {
      stages.at(-1)?.instructions.push(instruction);
    }
  }
  return stages;
}

export const argumentsOf = (instruction: Instruction): string[] => instruction.getArguments().map((argument) => argument.getValue());

/** `--name=value` flags of an instruction (COPY --from, HEALTHCHECK --interval). */
export function flagsOf(instruction: Instruction): Record<string, string> {
  const flags = "getFlags" in instruction && typeof instruction.getFlags === "function" ? (instruction.getFlags() as { getName(): string; getValue(): string | null }[]) : [];
  return Object.fromEntries(flags.map((flag) => [flag.getName(), flag.getValue() ?? ""]));
}

/** NAME=value pairs of ENV or LABEL instructions (quotes removed). */
export function propertiesOf(instructions: readonly Instruction[], keyword: "ENV" | "LABEL"): Record<string, string> {
  const properties = instructions
    .filter((instruction) => instruction.getKeyword() === keyword)
    .flatMap((instruction) => (instruction as unknown as { getProperties(): { getName(): string; getValue(): string | null }[] }).getProperties());
  return Object.fromEntries(properties.map((property) => [property.getName(), property.getValue() ?? ""]));
}

/** The exec-form (JSON array) command of CMD, or of HEALTHCHECK after its CMD word. */
export function execForm(instruction: Instruction): string[] {
  const raw = instruction.getRawArgumentsContent() ?? "";
  const json = instruction.getKeyword() === "HEALTHCHECK" ? raw.slice(raw.indexOf("CMD") + 3) : raw;
  return JSON.parse(json.replace(/\\\n/g, "")) as string[];
}

/** .dockerignore as Docker reads it: true when a context path (forward slashes) is left out. */
export function dockerignore(text = readRepoFile(".dockerignore")): { ignores(path: string): boolean; negations: string[] } {
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "" && !line.startsWith("#"));
  const matcher = ignore().add(lines);
  return { ignores: (path) => matcher.ignores(path), negations: lines.filter((line) => line.startsWith("!")).map((line) => line.slice(1)) };
}

export interface ComposeService {
  image?: string;
  build?: string | { context?: string; dockerfile?: string };
  command?: string[] | string;
  environment?: Record<string, string | number | null> | string[];
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, { condition?: string }>;
  restart?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  tmpfs?: string[];
  user?: string;
  networks?: string[];
  network_mode?: string;
  stop_grace_period?: string;
  healthcheck?: { test?: string[] | string };
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, { internal?: boolean } | null>;
}

/** docker-compose.yml with its YAML merge keys (`<<: *broker`) applied, as Compose applies them. */
export const composeFile = (): ComposeFile => parse(readRepoFile("docker-compose.yml"), { merge: true }) as ComposeFile;

/** `${NAME:-default}` → default, `${NAME}` → "": the value a fresh clone with no .env gets. */
export const withComposeDefaults = (text: string): string => text.replace(/\$\{[A-Z_]+(?::-([^}]*))?\}/g, (_match, fallback: string | undefined) => fallback ?? "");

export function composeEnvironment(service: ComposeService): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((entry) => [entry.split("=")[0] ?? "", entry.slice(entry.indexOf("=") + 1)]));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value ?? "")]));
}
