import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/lib/hash.js";

const reference = (value: string) => createHash("sha256").update(value).digest("hex");

describe("sha256Hex", () => {
  it("answers the SHA-256 of each value, whatever was hashed just before (the one-entry memo never answers another value's digest)", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom("", "a", "b", "ab"), fc.string(), fc.string({ unit: "binary" })), { minLength: 1, maxLength: 20 }), (values) => {
        for (const value of values) {
          expect(sha256Hex(value)).toBe(reference(value));
          // An equal string built anew, and the same one again.
          expect(sha256Hex(value.split("").join(""))).toBe(reference(value));
          expect(sha256Hex(`${value}x`)).toBe(reference(`${value}x`));
        }
      }),
      { seed: 14, numRuns: 200 },
    );
  });

  it("keeps a known vector", () => {
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    expect(sha256Hex("abc")).toBe("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  });
});
