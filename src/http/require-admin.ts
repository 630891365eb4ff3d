import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import type { AuditSink } from "../audit/audit-event.js";
import { BrokerError } from "../errors/broker-error.js";
import type { AuthenticateCaller } from "../authorization/authenticate-caller.js";
import type { AppEnv } from "./app-env.js";
import { authorizationCredential } from "../protocol/authorization-header.js";
import { dpopPresentation, missingCredential } from "./bearer-auth.js";

/** Authentication refusals, audited as `action: authenticate`. */
const REFUSALS: ReadonlySet<string> = new Set(["invalid_token", "insufficient_scope", "invalid_dpop_proof", "use_dpop_nonce"]);

/** The actor recorded for calls made with the bootstrap secret. */
const BOOTSTRAP_ADMIN = "bootstrap-admin";

/** Shortest bootstrap secret accepted (config enforces the same bound). */
const MIN_ADMIN_SECRET_LENGTH = 32;

export interface RequireAdminOptions {
  /** The bootstrap admin secret; undefined: only admin tokens are accepted. */
  readonly secret: string | undefined;
  /** Scope a broker access token needs to act as an admin. */
  readonly scope: string;
  readonly authenticate: AuthenticateCaller;
  readonly audit: AuditSink;
}

/**
 * Authenticates an operator on /admin/: `Authorization: Bearer <credential>` where the
 * credential is the bootstrap secret (compared in constant time over SHA-256 digests, so neither
 * content nor length leaks through timing) or a broker access token carrying the admin scope,
 * meant for this broker and not revoked (a DPoP-bound one as `Authorization: DPoP` with a proof). 401 for anything missing or wrong, 403 for a valid token
 * without the scope; neither says more. Refusals are audited; the credential never is.
 */
export function requireAdmin(options: RequireAdminOptions): MiddlewareHandler<AppEnv> {
  if (options.secret !== undefined && options.secret.length < MIN_ADMIN_SECRET_LENGTH) {
    throw new Error(`requireAdmin: the admin secret must be at least ${MIN_ADMIN_SECRET_LENGTH} characters`);
  }
  if (!options.scope || /\s/.test(options.scope)) throw new Error("requireAdmin: scope must be one scope value");
  const secretDigest = options.secret === undefined ? undefined : sha256(options.secret);
  const { authenticate, audit, scope } = options;

  return async function requireAdminMiddleware(c, next) {
    // Admin answers are about live security state: never cached anywhere.
    c.header("Cache-Control", "no-store");
    try {
      const header = c.req.header("authorization");
      const credential = authorizationCredential(header);
      if (credential === undefined) throw missingCredential(c, header);
      // The bootstrap secret is a bearer credential only; a DPoP-bound admin token comes with its proof.
      if (credential.scheme === "Bearer" && secretDigest !== undefined && timingSafeEqual(sha256(credential.token), secretDigest)) {
        c.set("caller", BOOTSTRAP_ADMIN);
      } else {
        c.set("caller", (await authenticate(credential.token, scope, dpopPresentation(c, credential.scheme))).subject);
      }
    } catch (error) {
      if (error instanceof BrokerError && REFUSALS.has(error.code)) {
        audit.record({
          event: "admin",
          requestId: c.get("requestId"),
          action: "authenticate",
          // The credential is not repeated here; a 403 token's `sub` is in the detail.
          actor: error.code === "insufficient_scope" ? "non-admin token" : "unauthenticated",
          target: `${c.req.method} ${c.req.path.slice(0, 256)}`,
          outcome: "denied",
          error: error.code,
          detail: error.detail ?? error.description,
          clientAddress: c.get("clientAddress"),
        });
      }
      throw error;
    }
    await next();
  };
}

function sha256(value: string): Buffer {
  return createHash("sha256").update(value, "utf8").digest();
}
