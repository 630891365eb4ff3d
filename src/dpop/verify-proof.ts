import { calculateJwkThumbprint, EmbeddedJWK, errors as joseErrors, jwtVerify, type JWK, type JWTPayload } from "jose";
import { BrokerError } from "../errors/broker-error.js";
import type { Clock } from "../lib/clock.js";
import { sha256Hex } from "../lib/hash.js";
import { decodeJsonObject } from "../lib/json-segment.js";
import { DPOP_TYP, isDpopAlgorithm } from "./algorithms.js";
import { accessTokenHash } from "./binding.js";
import { MAX_HTU_LENGTH, normalizeHttpUri } from "./htu.js";
import type { DpopNonces } from "./nonce.js";
import { publicJwkProblem } from "./proof-jwk.js";

/** Longest DPoP header read (an RSA-4096 proof with `ath` and `nonce` is about 2.5 KiB). */
const MAX_PROOF_CHARS = 8192;
const MAX_HEADER_CHARS = 4096;
/** RFC 9449 §11.1: refuse "unnecessarily large jti values" (a UUID is 36 characters). */
const MAX_JTI_CHARS = 256;
const MAX_NONCE_CHARS = 256;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** The HTTP request a proof must be bound to. */
export interface DpopRequest {
  /** The request method, as received (RFC 9110 methods are case-sensitive). */
  readonly method: string;
  /**
   * The request's target URI as clients know it: the configured public URL plus the route path,
   * never the Host header (a proxy in front changes it). Query and fragment are ignored.
   */
  readonly url: string;
  /** The access token sent with the proof (resource access, RFC 9449 §7): `ath` must be its hash. */
  readonly accessToken?: string;
}

/** A proof that passed every check of RFC 9449 §4.3 and was claimed as used. */
export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key: the `cnf.jkt` a bound token carries (§6.1). */
  readonly jkt: string;
  readonly jti: string;
  readonly iat: number;
}

/**
 * Claims a single-use key until `expiresAt` (seconds): true the first time, false for a replay.
 * The broker passes its store's claim-once role (`SingleUseClaims`, shared by every replica); a
 * resource server a replay cache of its own.
 */
export type ClaimOnce = (key: string, expiresAt: number) => Promise<boolean>;

/** RFC 9449 §11.1: how far a proof's `iat` may lie from now by default, either side, seconds (BROKER_DPOP_PROOF_WINDOW, resource servers). */
export const DEFAULT_PROOF_WINDOW_SECONDS = 60;

export interface DpopProofVerifierOptions {
  readonly clock: Clock;
  /** How far `iat` may lie from the server's clock, either side, in seconds; also how long a `jti` is held. */
  readonly windowSeconds: number;
  readonly claimOnce: ClaimOnce;
  /** Server-provided nonces (RFC 9449 §8); undefined: no nonce is required (and one sent is ignored). */
  readonly nonces?: DpopNonces;
}

export interface DpopProofVerifier {
  /** Verifies the value of one `DPoP` header for `request`. Throws BrokerError (`invalid_dpop_proof`, `use_dpop_nonce`). */
  verify(proof: string, request: DpopRequest): Promise<VerifiedDpopProof>;
}

/**
 * Checks a DPoP proof by RFC 9449 §4.3, cheapest checks first: size and shape (one header, one
 * compact JWS, checks 1-2), the header (`typ`, `alg`, a public `jwk`: 4, 5, 7), the signature with
 * that key (6), the claims (3, 8 `htm`, 9 `htu`, 11 `iat`), the nonce (10), `ath` (12), and last the
 * `jti`, claimed for the time the proof could be accepted (§11.1), so only a well-formed, signed,
 * fresh proof ever reaches the store. Descriptions are safe for the caller; details go to the log.
 */
export function createDpopProofVerifier(options: DpopProofVerifierOptions): DpopProofVerifier {
  if (!Number.isInteger(options.windowSeconds) || options.windowSeconds <= 0) throw new Error("DPoP proof window must be a positive number of seconds");
  const { clock, windowSeconds, claimOnce, nonces } = options;
  return {
    async verify(proof, request) {
      // The base URL is checked at start; a request path that is no RFC 3986 path (a resource
      // server's `|`, say) can match no proof: refused like any other mismatch, not a 500.
      const expectedHtu = normalizeHttpUri(request.url);
      if (proof.length > MAX_PROOF_CHARS) throw invalidProof("DPoP proof is too large", `${proof.length} characters`);
      // Check 1: header fields repeated are joined with ", " (RFC 9110 §5.3); a token68 has no comma.
      if (proof.includes(",")) throw invalidProof("there must be exactly one DPoP header", "several DPoP header values");
      if (!COMPACT_JWS.test(proof)) throw invalidProof("DPoP proof is not a compact JWS", "not three base64url segments");
      const encodedHeader = proof.slice(0, proof.indexOf("."));
      if (encodedHeader.length > MAX_HEADER_CHARS) throw invalidProof("DPoP proof header is too large", `${encodedHeader.length} characters`);
      const header = decodeJsonObject(encodedHeader);
      if (header === undefined) throw invalidProof("DPoP proof header is not a JSON object", "header did not parse");
      // Check 4 (jose repeats it, normalising an "application/" prefix and case as RFC 7515 §4.1.9 allows).
      if (typeof header.typ !== "string" || header.typ.toLowerCase().replace(/^application\//, "") !== DPOP_TYP) {
        throw invalidProof(`DPoP proof typ must be ${DPOP_TYP}`, `typ ${JSON.stringify(String(header.typ).slice(0, 32))}`);
      }
      // Check 5: registered, asymmetric, and on our list; never none or HS*.
      const { alg } = header;
      if (!isDpopAlgorithm(alg)) throw invalidProof("DPoP proof algorithm is not accepted", `alg ${JSON.stringify(String(alg).slice(0, 32))}`);
      // Check 7, before any import.
      const jwkProblem = publicJwkProblem(header.jwk, alg);
      if (jwkProblem !== undefined) throw invalidProof("DPoP proof jwk must be a public key of the proof's algorithm", jwkProblem);

      // Checks 2 and 6: a well-formed JWT whose signature verifies with the embedded key.
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(proof, EmbeddedJWK, { algorithms: [alg], typ: DPOP_TYP, currentDate: new Date(clock.now()) }));
      } catch (error) {
        throw joseFailure(error);
      }

      // Check 3: the claims of §4.2.
      const { jti, htm, htu, iat } = payload;
      if (typeof jti !== "string" || jti.length === 0 || jti.length > MAX_JTI_CHARS) {
        throw invalidProof("DPoP proof jti is missing or too long", `jti ${typeof jti === "string" ? `of ${jti.length} characters` : typeof jti}`);
      }
      if (typeof htm !== "string") throw invalidProof("DPoP proof htm is missing", "no string htm");
      if (typeof htu !== "string") throw invalidProof("DPoP proof htu is missing", "no string htu");
      if (typeof iat !== "number" || !Number.isFinite(iat)) throw invalidProof("DPoP proof iat is missing", "no numeric iat");
      // Check 8.
      if (htm !== request.method) throw invalidProof("DPoP proof htm does not match the request method", `htm ${JSON.stringify(htm.slice(0, 16))}, method ${request.method}`);
      // Check 9, after normalisation (query and fragment are dropped by the comparison form).
      const claimedHtu = normalizeHttpUri(htu);
      if (claimedHtu === undefined || claimedHtu !== expectedHtu) {
        throw invalidProof("DPoP proof htu does not match the request URI", `htu ${JSON.stringify(htu.slice(0, MAX_HTU_LENGTH / 8))}, expected ${expectedHtu}`);
      }
      // Check 11: the creation time, either side of now (§11.1 allows a little future for clock skew).
      const now = clock.now() / 1000;
      if (iat < now - windowSeconds) throw invalidProof("DPoP proof is too old", `iat ${iat} is ${Math.round(now - iat)} s old, window ${windowSeconds} s`);
      if (iat > now + windowSeconds) throw invalidProof("DPoP proof iat is in the future", `iat ${iat} is ${Math.round(iat - now)} s ahead, window ${windowSeconds} s`);
      // Check 10: a nonce of ours (§8), when we require them. Missing or stale: tell the client to use the new one.
      if (nonces !== undefined) {
        const { nonce } = payload;
        if (nonce === undefined) throw useNonce("the authorization server requires a nonce in the DPoP proof", "no nonce claim");
        if (typeof nonce !== "string" || nonce.length > MAX_NONCE_CHARS || !nonces.isValid(nonce)) {
          throw useNonce("the DPoP nonce is invalid or expired: use the one in the DPoP-Nonce header", "nonce not issued by this broker, or stale");
        }
      }
      // Check 12 (the key binding itself is the caller's: it knows the token's cnf).
      if (request.accessToken !== undefined) {
        if (typeof payload.ath !== "string") throw invalidProof("DPoP proof ath is missing", "no ath with an access token");
        if (payload.ath !== accessTokenHash(request.accessToken)) throw invalidProof("DPoP proof ath does not match the access token", "ath mismatch");
      }

      const jkt = await calculateJwkThumbprint(header.jwk as JWK, "sha256");
      // §11.1: each proof once, per key and target URI, for as long as its iat keeps it acceptable
      // (through iat + window inclusive: the store releases a claim at its expiry second).
      if (!(await claimOnce(replayKey(jkt, expectedHtu, jti), Math.ceil(iat) + windowSeconds + 1))) {
        throw invalidProof("DPoP proof was already used", `replay of jti ${JSON.stringify(jti.slice(0, 64))} for ${jkt} at ${expectedHtu}`);
      }
      return { jkt, jti, iat };
    },
  };
}

/**
 * The single-use key of a proof: `@dpop:` and a SHA-256 over key, target URI and `jti` (hashed, so
 * its size is fixed whatever the client sends). Subject-token replay keys start with an issuer id
 * (`[a-z0-9-]+:`), which never contains `@`, so the two kinds can never collide.
 */
export function replayKey(jkt: string, htu: string, jti: string): string {
  return `@dpop:${sha256Hex(`${jkt}\n${htu}\n${jti}`)}`;
}

function invalidProof(description: string, detail: string): BrokerError {
  return new BrokerError("invalid_dpop_proof", description, { detail: `DPoP: ${detail}` });
}

function useNonce(description: string, detail: string): BrokerError {
  return new BrokerError("use_dpop_nonce", description, { detail: `DPoP: ${detail}` });
}

function joseFailure(error: unknown): BrokerError {
  const reason = error instanceof Error ? error.message : String(error);
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return invalidProof("DPoP proof signature is invalid", reason);
  // An exp or nbf the client chose to add, now past or not yet reached.
  if (error instanceof joseErrors.JWTExpired || error instanceof joseErrors.JWTClaimValidationFailed) return invalidProof("DPoP proof claims are not acceptable", reason);
  // jose raises TypeError for unusable keys (a point off the curve, a short RSA modulus).
  if (error instanceof joseErrors.JOSEError || error instanceof TypeError) return invalidProof("DPoP proof could not be verified", reason);
  return new BrokerError("server_error", { detail: `verifying a DPoP proof: ${reason}`, cause: error });
}
