/**
 * The token worker's entry (node:worker_threads): every PKCS#11 call of the process runs here,
 * one at a time, so a slow token blocks this thread and never the event loop.
 */
import { parentPort } from "node:worker_threads";
import { serveTokenCalls } from "./token-calls.js";

if (parentPort === null) throw new Error("token-worker.ts runs as a worker thread (token-client.ts starts it)");
const port = parentPort;

// graphene-pk11 is an optional dependency (its binding, pkcs11js, is a native addon that needs a
// compiler to install): loaded here only, so a broker without a token runs without it, and one
// asked to use a token says what is missing instead of a bare module-resolution error.
const { TokenOperations } = await import("./token-operations.js").catch((error: unknown) => {
  const missing = error instanceof Error && "code" in error && error.code === "ERR_MODULE_NOT_FOUND" && /graphene-pk11|pkcs11js/.test(error.message);
  if (!missing) throw error;
  throw new Error("the PKCS#11 binding is not installed: graphene-pk11 is an optional dependency whose native addon (pkcs11js) builds with python3, make and a C++ compiler; install them and run npm install graphene-pk11");
});
serveTokenCalls(port, new TokenOperations());
