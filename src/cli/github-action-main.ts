import { runGithubAction } from "./github-action.js";

/** The GitHub Action's entry point (`action.yml` `runs.main`, bundled into action/dist/index.mjs). */
process.exitCode = await runGithubAction({ fetch, env: process.env, stdout: (text) => process.stdout.write(text) });
