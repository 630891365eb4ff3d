/**
 * The CA key in a real SoftHSM2 token, checked by an independent verifier: a self-signed CA
 * certificate and a CRL, each signed through the CaKey port (`sign(tbs)`, token-ca-key.ts), for
 * every key type the CA may have, verified by the `openssl` command line (`verify -check_ss_sig`: a root's own signature is checked too). The DER is written here
 * with the broker's own DER writer; what is under test is the signature the token produces.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CaKey } from "../../src/credentials/x509/ca-key.js";
import { bitString, DER_NULL, DER_TRUE, directoryString, explicit, oid, octetString, sequence, setOf, time, unsignedInteger } from "../../src/credentials/x509/der-writer.js";
import { pemOf } from "../../src/credentials/x509/pem.js";
import { openTokenCaKey } from "../../src/pkcs11/token-ca-key.js";
import { TokenClient } from "../../src/pkcs11/token-client.js";
import { createSoftHsmToken, useSoftHsmEnv, type SoftHsmToken } from "../support/softhsm.js";

let token: SoftHsmToken;
let client: TokenClient;

beforeAll(async () => {
  token = createSoftHsmToken("ca-openssl-test");
  useSoftHsmEnv(token);
  client = await TokenClient.open({ module: token.module, token: token.label, pin: token.pin }, { timeoutMs: 20_000 });
  await client.call("generate", "ca-p256", { kind: "ec", curve: "P-256" });
  await client.call("generate", "ca-p384", { kind: "ec", curve: "P-384" });
  await client.call("generate", "ca-rsa", { kind: "rsa", bits: 2048 });
}, 60_000);

afterAll(async () => {
  await client?.close();
  token?.remove();
});

/** AlgorithmIdentifier of the CA's signature (RFC 5758 §3.2, RFC 4055 §5). */
function signatureAlgorithm(ca: CaKey): Buffer {
  if (ca.signingAlgorithm.name === "RSASSA-PKCS1-v1_5") return sequence(oid("1.2.840.113549.1.1.11"), DER_NULL);
  return sequence(oid(ca.signingAlgorithm.hash === "SHA-384" ? "1.2.840.10045.4.3.3" : "1.2.840.10045.4.3.2"));
}

const name = (cn: string) => sequence(setOf(sequence(oid("2.5.4.3"), directoryString(cn))));

/** A self-signed CA certificate (RFC 5280 §4.1) over the token key, signed through the port. */
async function selfSigned(ca: CaKey, cn: string): Promise<Buffer> {
  const now = Date.now();
  const basicConstraints = sequence(oid("2.5.29.19"), DER_TRUE, octetString(sequence(DER_TRUE)));
  const keyUsage = sequence(oid("2.5.29.15"), DER_TRUE, octetString(Buffer.from([0x03, 0x02, 0x01, 0x06])));
  const tbs = sequence(
    explicit(0, unsignedInteger("02")),
    unsignedInteger("01c0ffee"),
    signatureAlgorithm(ca),
    name(cn),
    sequence(time(new Date(now - 60_000)), time(new Date(now + 86_400_000))),
    name(cn),
    ca.publicKey.export({ format: "der", type: "spki" }),
    explicit(3, sequence(basicConstraints, keyUsage)),
  );
  return sequence(tbs, signatureAlgorithm(ca), bitString(await ca.sign(tbs)));
}

/** A v2 CRL (RFC 5280 §5.1) by that CA, one revoked serial, signed through the port. */
async function crl(ca: CaKey, cn: string): Promise<Buffer> {
  const now = Date.now();
  const revoked = sequence(sequence(unsignedInteger("0abc"), time(new Date(now - 1_000))));
  const tbs = sequence(unsignedInteger("01"), signatureAlgorithm(ca), name(cn), time(new Date(now - 1_000)), time(new Date(now + 300_000)), revoked);
  return sequence(tbs, signatureAlgorithm(ca), bitString(await ca.sign(tbs)));
}

const openssl = (...args: string[]) => spawnSync("openssl", args, { encoding: "utf8" });

describe("the token's CA key, verified by openssl", () => {
  for (const label of ["ca-p256", "ca-p384", "ca-rsa"]) {
    it(`${label}: a self-signed CA certificate passes openssl verify, and its CRL openssl crl -verify`, async () => {
      const ca = await openTokenCaKey(client, `pkcs11:object=${label}`);
      const certificate = join(token.dir, `${label}.pem`);
      writeFileSync(certificate, pemOf("CERTIFICATE", await selfSigned(ca, `broker ${label}`)));
      const verified = openssl("verify", "-check_ss_sig", "-CAfile", certificate, certificate);
      expect(verified.stdout + verified.stderr).toContain(`${certificate}: OK`);
      const list = join(token.dir, `${label}.crl`);
      writeFileSync(list, pemOf("X509 CRL", await crl(ca, `broker ${label}`)));
      const checked = openssl("crl", "-in", list, "-CAfile", certificate, "-noout");
      expect(checked.status, checked.stderr).toBe(0);
      expect(checked.stdout + checked.stderr).toContain("verify OK");
    });
  }

  it("a certificate whose signature is not the token's fails openssl verify (the check can fail)", async () => {
    const ca = await openTokenCaKey(client, "pkcs11:object=ca-p256");
    const other = await openTokenCaKey(client, "pkcs11:object=ca-rsa");
    const forged: CaKey = { ...ca, sign: async (tbs) => (await other.sign(tbs)).subarray(0, 70) };
    const certificate = join(token.dir, "forged.pem");
    writeFileSync(certificate, pemOf("CERTIFICATE", await selfSigned(forged, "forged")));
    const verified = openssl("verify", "-check_ss_sig", "-CAfile", certificate, certificate);
    expect(verified.status).not.toBe(0);
    expect(verified.stdout + verified.stderr).toMatch(/signature failure/);
  });
});
