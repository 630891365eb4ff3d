import { fileURLToPath } from "node:url";

/** The repository root, wherever a test file lives: the working directory of spawned processes. */
export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
