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
    /**
     * The Authorization scheme the caller used on a bearer-protected route (RFC 9449 §7.1
     * challenges); "none" when the request carried no credential of a scheme the route accepts
     * (RFC 6750 §3.1: then the challenge carries no error code).
     */
    authScheme: "Bearer" | "DPoP" | "none";
    /** The scheme of an Authorization header sent to a public-client endpoint (RFC 6749 §5.2 challenge). */
    clientAuthScheme: string;
    /** The DPoP nonce every /token answer carries, when nonces are required (RFC 9449 §8). */
    dpopNonce: string;
    /** The answer `jsonAnswer` built for this request, X-Request-Id included (answer.ts). */
    answered: Response;
  };
}
