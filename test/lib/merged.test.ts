import { describe, expect, it } from "vitest";
import { merged } from "../../src/lib/merged.js";

describe("merged: a spread's result without a spread", () => {
  it("keeps every key in the spread's order, a later source winning in place, undefined sources skipped", () => {
    const a = { event: "token_exchange", requestId: "r1", scope: "old" };
    const b = { issuer: "i", scope: "new" };
    const result = merged(a, undefined, b, { decision: "allow" });
    expect(result).toEqual({ ...a, ...b, decision: "allow" });
    expect(Object.keys(result)).toEqual(Object.keys({ ...a, ...b, decision: "allow" }));
    expect(JSON.stringify(result)).toBe(JSON.stringify({ ...a, ...b, decision: "allow" }));
  });

  it("copies undefined values as the spread does, and leaves its sources alone", () => {
    const a = { requestedTokenType: undefined, clientAddress: "c" };
    const result = merged(a, { jti: "j" });
    expect(Object.keys(result)).toEqual(["requestedTokenType", "clientAddress", "jti"]);
    expect(a).toEqual({ requestedTokenType: undefined, clientAddress: "c" });
    expect(result).not.toBe(a);
  });
});
