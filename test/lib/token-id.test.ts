import { describe, expect, it } from "vitest";
import { randomTokenId } from "../../src/lib/token-id.js";

describe("randomTokenId", () => {
  it("gives 128-bit base64url ids that never repeat, across many refills of its pool", () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = randomTokenId();
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      ids.add(id);
    }
    expect(ids.size).toBe(20_000);
  });

  it("spreads its bits: every base64url character shows up in first positions", () => {
    const firstCharacters = new Set<string>();
    for (let i = 0; i < 5_000; i++) firstCharacters.add(randomTokenId()[0] ?? "");
    expect(firstCharacters.size).toBe(64);
  });
});
