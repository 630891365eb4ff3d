/**
 * The token worker's entry (node:worker_threads): every PKCS#11 call of the process runs here,
 * one at a time, so a slow token blocks this thread and never the event loop.
 */
import { parentPort } from "node:worker_threads";
import { serveTokenCalls } from "./token-calls.js";
import { TokenOperations } from "./token-operations.js";

if (parentPort === null) throw new Error("token-worker.ts runs as a worker thread (token-client.ts starts it)");
serveTokenCalls(parentPort, new TokenOperations());
