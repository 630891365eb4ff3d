import { describe, expect, it } from "vitest";
import { parseSpiffeId } from "../../src/identity/spiffe-id.js";

describe("parseSpiffeId", () => {
  it.each([
    ["spiffe://example.org", "example.org", ""],
    ["spiffe://example.org/workload", "example.org", "/workload"],
    ["spiffe://prod.example-1_x.org/ns/default/sa/api", "prod.example-1_x.org", "/ns/default/sa/api"],
    ["spiffe://td/a.b/C_d/e-f/...x", "td", "/a.b/C_d/e-f/...x"],
  ])("accepts %s", (text, trustDomain, path) => {
    expect(parseSpiffeId(text)).toEqual({ trustDomain, path });
  });

  it.each([
    ["", "empty"],
    ["http://example.org/x", "wrong scheme"],
    ["SPIFFE://example.org/x", "uppercase scheme"],
    ["spiffe://", "empty trust domain"],
    ["spiffe:///path", "empty trust domain with path"],
    ["spiffe://Example.org/x", "uppercase trust domain"],
    ["spiffe://example.org:8443/x", "port"],
    ["spiffe://user@example.org/x", "userinfo"],
    ["spiffe://example.org/x?y=1", "query"],
    ["spiffe://example.org/x#frag", "fragment"],
    ["spiffe://example.org/", "trailing slash"],
    ["spiffe://example.org/a//b", "empty segment"],
    ["spiffe://example.org/a/./b", "dot segment"],
    ["spiffe://example.org/a/../b", "dot-dot segment"],
    ["spiffe://example.org/a%20b", "percent-encoding"],
    ["spiffe://example.org/a b", "space"],
    ["spiffe://exa$mple.org/x", "bad trust domain character"],
    [`spiffe://example.org/${"a".repeat(2048)}`, "longer than 2048 bytes"],
  ])("refuses %j (%s)", (text) => {
    expect(parseSpiffeId(text)).toBeUndefined();
  });

  it("accepts an ID of exactly 2048 bytes", () => {
    const prefix = "spiffe://example.org/";
    expect(parseSpiffeId(prefix + "a".repeat(2048 - prefix.length))).toBeDefined();
  });
});
