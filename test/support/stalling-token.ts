import type { TokenClientOptions } from "../../src/pkcs11/token-client.js";

/** A gate for stalling-token-worker.ts: shut() makes every signature block its worker thread until open(). */
export interface StallingTokenGate {
  readonly workerOptions: Pick<TokenClientOptions, "workerUrl" | "workerData">;
  shut(): void;
  open(): void;
}

export function stallingTokenGate(): StallingTokenGate {
  const gate = new SharedArrayBuffer(4);
  const view = new Int32Array(gate);
  return {
    workerOptions: { workerUrl: new URL("./stalling-token-worker.ts", import.meta.url), workerData: { gate } },
    shut: () => Atomics.store(view, 0, 1),
    open: () => {
      Atomics.store(view, 0, 0);
      Atomics.notify(view, 0);
    },
  };
}
