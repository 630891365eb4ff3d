/**
 * .github/workflows/release.yml kept honest without GitHub: it parses, asks for no more permission
 * than each job needs, pins every action to a major version, builds the image from this
 * repository's Dockerfile with only the build arguments it declares, and runs npm scripts that
 * exist (npm test before anything is published; npm pack, whose prepack builds dist/).
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { argumentsOf, dockerStages, readRepoFile } from "../support/deploy-files.js";

interface Step {
  readonly uses?: string;
  readonly run?: string;
  readonly with?: Record<string, string | boolean | number>;
}
interface Job {
  readonly needs?: string | string[];
  readonly permissions?: Record<string, string>;
  readonly steps: Step[];
}
const workflow = parse(readRepoFile(".github/workflows/release.yml")) as { on: { push: { tags: string[] } }; permissions: Record<string, string>; jobs: Record<string, Job> };
const jobs = workflow.jobs;
const steps = Object.values(jobs).flatMap((job) => job.steps);
const scripts = (JSON.parse(readRepoFile("package.json")) as { scripts: Record<string, string> }).scripts;

describe("release workflow", () => {
  it("runs on version tags, reads the repository by default, and publishes only after the tests pass", () => {
    expect(workflow.on.push.tags).toEqual(["v*"]);
    expect(workflow.permissions).toEqual({ contents: "read" });
    expect(jobs.image?.needs).toBe("test");
    expect(jobs.package?.needs).toBe("test");
    expect(jobs.image?.permissions).toEqual({ contents: "read", packages: "write" });
    expect(jobs.package?.permissions).toEqual({ contents: "write" });
    expect(jobs.test?.permissions).toBeUndefined();
  });

  it("pins every action to a major version tag", () => {
    const used = steps.flatMap((step) => (step.uses === undefined ? [] : [step.uses]));
    expect(used.length).toBeGreaterThan(0);
    for (const action of used) expect(action).toMatch(/^[\w.-]+\/[\w.-]+@v\d+$/);
  });

  it("builds the image from the Dockerfile, passing only the build arguments it declares", () => {
    const build = steps.find((step) => step.uses?.startsWith("docker/build-push-action@"));
    expect(build?.with?.context).toBe(".");
    const declared = new Set(dockerStages().flatMap((stage) => stage.instructions.filter((instruction) => instruction.getKeyword() === "ARG").map((instruction) => argumentsOf(instruction)[0]?.split("=")[0])));
    const passed = String(build?.with?.["build-args"] ?? "").trim().split("\n").map((line) => line.split("=")[0]?.trim());
    expect(passed.length).toBeGreaterThan(0);
    for (const name of passed) expect(declared.has(name), `build-arg ${name}`).toBe(true);
  });

  it("runs npm commands that exist, the test suite among them, and checks the tag against package.json", () => {
    const commands = steps.flatMap((step) => (step.run === undefined ? [] : [step.run]));
    expect(commands).toContain("npm test");
    expect(commands).toContain("npm pack");
    for (const command of commands) for (const match of command.matchAll(/npm run(?:-script)? ([\w:-]+)/g)) expect(scripts[match[1] ?? ""], command).toBeDefined();
    expect(scripts.test).toBeDefined();
    expect(scripts.prepack).toBeDefined();
    expect(commands.some((command) => command.includes('"$GITHUB_REF_NAME" = "v$(node -p "require(\'./package.json\').version")"'))).toBe(true);
  });
});
