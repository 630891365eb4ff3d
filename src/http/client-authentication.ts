import type { Context } from "hono";
import { BrokerError } from "../errors/broker-error.js";
import type { FormFields } from "../protocol/form-fields.js";
import type { AppEnv } from "./app-env.js";

/**
 * Client credentials a request can carry in the body: RFC 6749 §2.3.1 (`client_secret_post`),
 * RFC 7523 §2.2 / RFC 7521 §4.2 (`private_key_jwt`, `client_secret_jwt`). A bare `client_id`
 * identifies a public client and proves nothing, so it is not among them.
 */
const BODY_CREDENTIALS = ["client_secret", "client_assertion", "client_assertion_type"] as const;

/** RFC 9110 §11.4: `credentials = auth-scheme [ 1*SP ( token68 / #auth-param ) ]`, the scheme a token. */
const AUTH_SCHEME = /^([!#$%&'*+.^_`|~0-9A-Za-z-]{1,64})(?: |$)/;

/** Schemes written as their specifications spell them (RFC 7617, RFC 6750, RFC 9449); others as sent. */
const CANONICAL_SCHEMES: ReadonlyMap<string, string> = new Map([
  ["basic", "Basic"],
  ["bearer", "Bearer"],
  ["dpop", "DPoP"],
  ["digest", "Digest"],
]);

/**
 * The broker's clients are public (RFC 8693 §2.1 leaves client authentication optional; the
 * metadata says `token_endpoint_auth_methods_supported: ["none"]`). A request that tries to
 * authenticate is refused rather than answered as if its credentials had been checked.
 *
 * Header first, before the body is read: RFC 6749 §5.2, a client that tried the `Authorization`
 * header gets 401 `invalid_client` and a `WWW-Authenticate` challenge of the scheme it used (set
 * here as `clientAuthScheme`, written by errorResponse). The `DPoP` header is not client
 * authentication (RFC 9449 §5) and is not looked at here.
 */
export function refuseAuthorizationHeader(c: Context<AppEnv>): void {
  const header = c.req.header("authorization");
  if (header === undefined) return;
  const scheme = AUTH_SCHEME.exec(header.trim())?.[1];
  if (scheme === undefined) throw new BrokerError("invalid_request", "the Authorization header is malformed");
  c.set("clientAuthScheme", CANONICAL_SCHEMES.get(scheme.toLowerCase()) ?? scheme);
  throw new BrokerError("invalid_client", { detail: `client authentication attempted with the ${scheme.slice(0, 16)} scheme` });
}

/**
 * Then the body: client credentials in form fields are refused with `invalid_client` too. With
 * no Authorization scheme tried, errorResponse answers 400, RFC 6749 §5.2's default: a 401 "indicates which HTTP authentication schemes are
 * supported" and must carry a challenge (RFC 9110 §15.5.2), and there is no scheme to offer.
 */
export function refuseBodyCredentials(form: FormFields): void {
  const sent = BODY_CREDENTIALS.filter((name) => form.single(name) !== undefined);
  if (sent.length === 0) return;
  throw new BrokerError("invalid_client", { detail: `client credentials in the body: ${sent.join(", ")}` });
}
