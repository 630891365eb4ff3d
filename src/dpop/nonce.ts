import { createHmac, timingSafeEqual } from "node:crypto";
import { epochSeconds, type Clock } from "../lib/clock.js";

/** Length of one nonce window: a nonce is accepted in its window and the next (60-120 s). */
export const NONCE_WINDOW_SECONDS = 60;

/** Shortest shared secret accepted (config enforces the same bound). */
const MIN_NONCE_SECRET_LENGTH = 32;

/** 128 bits of HMAC-SHA-256, base64url. */
const MAC_CHARS = 22;
const NONCE = /^([0-9a-z]{1,12})\.([A-Za-z0-9_-]{22})$/;

/** Server-provided DPoP nonces (RFC 9449 §8). */
export interface DpopNonces {
  /** The nonce to hand out now, in a `DPoP-Nonce` header. Cached per window: no work per request. */
  current(): string;
  /** True for a nonce minted with the same secret in the current or the previous window. */
  isValid(nonce: string): boolean;
}

/**
 * Stateless nonces, valid on every replica that shares the secret: `<window>.<HMAC(secret, window)>`,
 * the window being the time divided into NONCE_WINDOW_SECONDS slices. Unpredictable without the
 * secret (§8: "Nonce values MUST be unpredictable"), so a proof cannot be made for a window that
 * has not begun; every client gets the same nonce within a window, which §11.1 allows (the `jti`
 * check still refuses a replayed proof). The syntax is §8.1's NQCHAR set.
 */
export function createDpopNonces(options: { readonly secret: string | Uint8Array; readonly clock: Clock }): DpopNonces {
  const secret = typeof options.secret === "string" ? Buffer.from(options.secret, "utf8") : Buffer.from(options.secret);
  if (secret.length < MIN_NONCE_SECRET_LENGTH) throw new Error(`DPoP nonce secret must be at least ${MIN_NONCE_SECRET_LENGTH} bytes`);
  const mac = (window: number) => createHmac("sha256", secret).update(`dpop-nonce:${window}`).digest("base64url").slice(0, MAC_CHARS);
  const windowNow = () => Math.floor(epochSeconds(options.clock) / NONCE_WINDOW_SECONDS);
  let cachedWindow = -1;
  let cachedNonce = "";
  return {
    current() {
      const window = windowNow();
      if (window !== cachedWindow) {
        cachedWindow = window;
        cachedNonce = `${window.toString(36)}.${mac(window)}`;
      }
      return cachedNonce;
    },
    isValid(nonce) {
      const match = NONCE.exec(nonce);
      if (!match) return false;
      const window = Number.parseInt(match[1] ?? "", 36);
      const now = windowNow();
      if (window !== now && window !== now - 1) return false;
      return timingSafeEqual(Buffer.from(match[2] ?? ""), Buffer.from(mac(window)));
    },
  };
}
