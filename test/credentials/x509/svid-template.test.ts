/**
 * SVID serials come from a pool of CSPRNG bytes refilled every 204 serials: across refills, every
 * serial is 20 bytes, positive with a non-zero first byte, and never repeats.
 */
import { describe, expect, it } from "vitest";
import { svidTemplate } from "../../../src/credentials/x509/svid-template.js";

describe("svidTemplate serials", () => {
  it("are 20 bytes, positive, minimal, and distinct across several pool refills", () => {
    const now = Math.floor(Date.now() / 1000);
    const serials = Array.from({ length: 1_000 }, () => svidTemplate({ spiffeId: "spiffe://example.org/w", dnsNames: [], keyType: "ec", now, lifetimeSeconds: 60, caNotAfter: now + 3600 }).serial);
    expect(new Set(serials).size).toBe(serials.length);
    for (const serial of serials) {
      expect(serial).toMatch(/^[0-9a-f]{40}$/);
      const first = Number.parseInt(serial.slice(0, 2), 16);
      expect(first).toBeGreaterThan(0);
      expect(first).toBeLessThan(0x80);
    }
  });
});
