/**
 * The token worker (src/pkcs11/token-worker.ts) with a gate in front of `sign`: while the test
 * holds the gate shut (stallingTokenGate), a signature blocks this worker thread the way a
 * PKCS#11 module stuck in C_Sign would, so the tests can show that the event loop keeps serving
 * and that the call is cut off at its deadline. Everything else runs the real token operations.
 */
import { parentPort, workerData } from "node:worker_threads";
import { serveTokenCalls } from "../../src/pkcs11/token-calls.js";
import { TokenOperations } from "../../src/pkcs11/token-operations.js";
import type { SignatureForm } from "../../src/pkcs11/token-protocol.js";

const gate = new Int32Array((workerData as { gate: SharedArrayBuffer }).gate);

class StallingOperations extends TokenOperations {
  override sign(label: string, form: SignatureForm, data: Uint8Array): Uint8Array {
    // Blocks the thread (not a promise): 1 = shut; returns once the test opens it (0) and notifies.
    while (Atomics.load(gate, 0) === 1) Atomics.wait(gate, 0, 1);
    return super.sign(label, form, data);
  }
}

if (parentPort === null) throw new Error("a worker script");
serveTokenCalls(parentPort, new StallingOperations());
