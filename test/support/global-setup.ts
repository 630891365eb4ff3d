import { compileBroker } from "./compiled-broker.js";

/** Once per test run, before any worker: the broker's entry points compiled for spawned processes. */
export default async function setup(): Promise<void> {
  await compileBroker();
}
