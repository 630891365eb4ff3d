import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

/** The package whose version is reported (package.json `name`). */
const PACKAGE_NAME = "credential-broker";

/** How many folders above this module to look: src/lib, dist/lib and the test build all sit within it. */
const MAX_LEVELS = 6;

/**
 * The broker's own package version, read once from the nearest package.json named
 * `credential-broker` above this module (source, compiled or bundled alike); "unknown" when none
 * is found, so a metric label never stops the broker from starting.
 */
export function packageVersion(from: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(from));
  for (let level = 0; level <= MAX_LEVELS; level++) {
    const version = versionIn(join(dir, "package.json"));
    if (version !== undefined) return version;
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return "unknown";
}

function versionIn(file: string): string | undefined {
  try {
    const content: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (typeof content !== "object" || content === null) return undefined;
    const { name, version } = content as { name?: unknown; version?: unknown };
    return name === PACKAGE_NAME && typeof version === "string" ? version : undefined;
  } catch {
    return undefined;
  }
}
