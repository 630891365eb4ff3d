import { describe, expect, it } from "vitest";
import { TokenDoorkeeper } from "../../src/identity/token-doorkeeper.js";
import { sha256Hex } from "../../src/lib/hash.js";

const digest = (n: number): string => sha256Hex(`token-${n}`);

/** The verified-token cache's doorkeeper: a token is admitted on its second showing while remembered. */
describe("TokenDoorkeeper", () => {
  it("refuses a digest the first time and admits it the second and after", () => {
    const doorkeeper = new TokenDoorkeeper(4);
    expect(doorkeeper.admits(digest(1))).toBe(false);
    expect(doorkeeper.admits(digest(1))).toBe(true);
    expect(doorkeeper.admits(digest(1))).toBe(true);
    expect(doorkeeper.admits(digest(2))).toBe(false);
    expect(doorkeeper.size).toBe(2);
  });

  it("never remembers more than its capacity, however many digests it is shown", () => {
    const doorkeeper = new TokenDoorkeeper(100);
    for (let i = 0; i < 10_000; i++) {
      doorkeeper.admits(digest(i));
      expect(doorkeeper.size).toBeLessThanOrEqual(100);
    }
    expect(doorkeeper.size).toBe(100);
  });

  it("forgets the oldest digest first: only the last `capacity` are admitted on their second showing", () => {
    const doorkeeper = new TokenDoorkeeper(3);
    for (const n of [1, 2, 3, 4]) expect(doorkeeper.admits(digest(n))).toBe(false);
    // 1 was pushed out by 4, so its second showing counts as a first (and pushes out 2).
    expect(doorkeeper.admits(digest(1))).toBe(false);
    expect(doorkeeper.admits(digest(3))).toBe(true);
    expect(doorkeeper.admits(digest(4))).toBe(true);
    expect(doorkeeper.admits(digest(1))).toBe(true);
    expect(doorkeeper.admits(digest(2))).toBe(false);
    expect(doorkeeper.size).toBe(3);
  });

  it("does not move an admitted digest to the front: it ages out like any other", () => {
    const doorkeeper = new TokenDoorkeeper(2);
    doorkeeper.admits(digest(1));
    expect(doorkeeper.admits(digest(1))).toBe(true);
    doorkeeper.admits(digest(2));
    doorkeeper.admits(digest(3));
    expect(doorkeeper.admits(digest(1))).toBe(false);
  });

  it("reads hex digits of either case alike, and tells apart digests that differ in their first 30 bits", () => {
    const doorkeeper = new TokenDoorkeeper(8);
    const a = "0".repeat(64);
    const b = `${"0".repeat(7)}4${"0".repeat(56)}`;
    expect(doorkeeper.admits(a)).toBe(false);
    expect(doorkeeper.admits(b)).toBe(false);
    expect(doorkeeper.admits(`${"f".repeat(8)}${"0".repeat(56)}`)).toBe(false);
    expect(doorkeeper.admits(`${"F".repeat(8)}${"0".repeat(56)}`)).toBe(true);
  });

  it("refuses a capacity that is not a positive integer", () => {
    for (const capacity of [0, -1, 1.5, Number.NaN]) expect(() => new TokenDoorkeeper(capacity)).toThrow(/positive integer/);
  });
});
