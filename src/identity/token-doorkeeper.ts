/**
 * The verified-token cache's doorkeeper (TinyLFU's idea): remembers a fingerprint of the last
 * `capacity` token digests it was shown, so that only a token verified a second time while still
 * remembered is cached. A stream of tokens each presented once (CI jobs exchange each OIDC token
 * once) then leaves nothing in the cache but small integers: no frozen subject kept alive and
 * turning over in the old generation for every request.
 *
 * Bounded and allocation-free per call: a fixed ring of `capacity` 30-bit fingerprints and a Set of
 * the same numbers (small integers live in the Set itself, with no object of their own); the
 * oldest fingerprint is forgotten when a new one comes in. Two digests may share a fingerprint
 * (about 1 in 100,000 for a new token against a full ring of 10,000): that token is then cached on
 * its first verification, as every token was before the doorkeeper. That is no leniency: only a
 * token that passed a full verification is ever offered to the cache.
 */
export class TokenDoorkeeper {
  private readonly ring: Int32Array;
  private readonly seen = new Set<number>();
  /** Next slot of the ring to write; the slot it holds is the oldest fingerprint once full. */
  private next = 0;
  private filled = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`doorkeeper capacity must be a positive integer, not ${capacity}`);
    this.ring = new Int32Array(capacity);
  }

  /**
   * True when `digest` (a hex SHA-256) was shown before and is still remembered; otherwise
   * remembers it and answers false. A remembered digest stays until the ring pushes it out.
   */
  admits(digest: string): boolean {
    const print = fingerprint(digest);
    if (this.seen.has(print)) return true;
    if (this.filled === this.capacity) this.seen.delete(this.ring[this.next] as number);
    else this.filled += 1;
    this.ring[this.next] = print;
    this.seen.add(print);
    this.next = (this.next + 1) % this.capacity;
    return false;
  }

  /** How many distinct fingerprints are remembered (never more than `capacity`). */
  get size(): number {
    return this.seen.size;
  }
}

/**
 * The first 30 bits of a hex digest, as a small integer (a V8 Smi: no heap number per entry).
 * Read from the characters, so no substring is made.
 */
function fingerprint(hexDigest: string): number {
  let print = 0;
  for (let i = 0; i < 8; i++) print = (print << 4) | hexValue(hexDigest.charCodeAt(i));
  return print >>> 2;
}

function hexValue(code: number): number {
  // '0'-'9' → 0-9, 'a'-'f' (and 'A'-'F') → 10-15; sha256Hex writes lowercase.
  return code <= 57 ? code - 48 : (code | 0x20) - 87;
}
