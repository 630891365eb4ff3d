import type { HttpBindings } from "@hono/node-server";

/** Hono environment: Node bindings (absent under app.request() in tests) and per-request values. */
export interface AppEnv {
  Bindings: Partial<HttpBindings>;
  Variables: {
    requestId: string;
    clientAddress: string;
    /**
     * Who authenticated with a bearer credential (bearer-protected routes only): the broker
     * token's `sub`, or "bootstrap-admin" for the admin secret.
     */
    caller: string;
  };
}
