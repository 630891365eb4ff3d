/**
 * New CA keys in this process (ca-new-key.ts): every `--key-type` makes a key the CA loader
 * accepts, kept as a 0600 PEM file under the CA's name, and removed again when the step that
 * made it fails.
 */
import { createPrivateKey } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caSigningAlgorithmOf } from "../../../src/credentials/x509/ca-key.js";
import { CA_KEY_TYPES, freshCaKey, parseCaKeyType } from "../../../src/credentials/x509/ca-new-key.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "ca-new-key-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("a new CA key in a file", () => {
  it.each(CA_KEY_TYPES)("%s: the type asked for, kept as <name>.key (0600), discarded on failure", async (type) => {
    const made = await freshCaKey(type, undefined);
    expect(made.key.custody).toBe("file");
    const expected = type.startsWith("RSA-") ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } : { name: "ECDSA", hash: type === "P-384" ? "SHA-384" : "SHA-256" };
    expect(made.key.signingAlgorithm).toEqual(expected);
    if (type.startsWith("RSA-")) expect(made.key.publicKey.asymmetricKeyDetails?.modulusLength).toBe(Number(type.slice(4)));
    const file = await made.keep(`ca-${type}`, dir);
    expect(file).toBe(`ca-${type}.key`);
    expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    expect(caSigningAlgorithmOf(createPrivateKey(await readFile(join(dir, file), "utf8")))).toEqual(expected);
    await made.discard();
    await expect(stat(join(dir, file))).rejects.toThrow(/ENOENT/);
  });

  it("--key-type takes the listed types only, in any case", () => {
    expect(parseCaKeyType("p-384")).toBe("P-384");
    expect(parseCaKeyType("rsa-3072")).toBe("RSA-3072");
    for (const bad of ["ed25519", "RSA-1024", "P-521", ""]) expect(() => parseCaKeyType(bad)).toThrow(/a CA key type: P-256, P-384, RSA-2048, RSA-3072/);
  });
});
