import { createHash } from "node:crypto";
import { subjectPublicKeyBits } from "./der-reader.js";
import { bitString, DER_TRUE, directoryString, explicit, ia5, implicit, namedBits, octetString, oid, sequence, setOf, time, unsignedInteger } from "./der-writer.js";
import type { SvidSigningProfile } from "./svid-signing-profile.js";
import type { SvidTemplate } from "./svid-template.js";

const OID = {
  basicConstraints: oid("2.5.29.19"),
  keyUsage: oid("2.5.29.15"),
  extKeyUsage: oid("2.5.29.37"),
  subjectAltName: oid("2.5.29.17"),
  subjectKeyIdentifier: oid("2.5.29.14"),
  authorityKeyIdentifier: oid("2.5.29.35"),
  serverAuth: oid("1.3.6.1.5.5.7.3.1"),
  clientAuth: oid("1.3.6.1.5.5.7.3.2"),
} as const;
const ATTRIBUTE: Readonly<Record<string, Buffer>> = { O: oid("2.5.4.10"), CN: oid("2.5.4.3") };
/** RFC 5280 §4.2.1.3 bit numbers. */
const KEY_USAGE_BIT = { digitalSignature: 0, keyEncipherment: 2 } as const;
/** [0] EXPLICIT INTEGER 2: X.509 v3. */
const VERSION_3 = explicit(0, Buffer.from([0x02, 0x01, 0x02]));

const extension = (id: Buffer, critical: boolean, value: Buffer): Buffer => (critical ? sequence(id, DER_TRUE, octetString(value)) : sequence(id, octetString(value)));

/**
 * Signs an X.509-SVID (X509-SVID §4) for the key in `spki` (SubjectPublicKeyInfo DER) from a
 * template: exactly one URI SAN (the SPIFFE ID) plus the granted DNS names; basicConstraints
 * CA:FALSE, critical; keyUsage critical, digitalSignature (and keyEncipherment for RSA), never
 * keyCertSign or cRLSign; EKU serverAuth and clientAuth; subject and authority key identifiers.
 * Returns the certificate's DER. The encoding is the one @peculiar/x509 writes for the same
 * certificate (test/svid/svid-der.test.ts holds the two side by side).
 */
export async function signSvid(profile: SvidSigningProfile, template: SvidTemplate, spki: Buffer): Promise<Buffer> {
  // RFC 5280 §4.1.2.2: a positive integer (randomSerial never makes zero; a caller bug must not either).
  if (/^0*$/.test(template.serial)) throw new Error("certificate serial number must be positive");
  const usages = [KEY_USAGE_BIT.digitalSignature, ...(template.keyEncipherment ? [KEY_USAGE_BIT.keyEncipherment] : [])];
  // RFC 5280 §4.2.1.6: uniformResourceIdentifier [6], dNSName [2], both IA5String.
  const names = sequence(ia5(template.spiffeId, 0x86), ...template.dnsNames.map((name) => ia5(name, 0x82)));
  const tbs = sequence(
    VERSION_3,
    unsignedInteger(template.serial),
    profile.signatureAlgorithm,
    profile.issuerName,
    sequence(time(template.notBefore), time(template.notAfter)),
    nameOf(template.subject),
    spki,
    explicit(
      3,
      sequence(
        extension(OID.basicConstraints, true, sequence()),
        extension(OID.keyUsage, true, namedBits(usages)),
        extension(OID.extKeyUsage, false, sequence(OID.serverAuth, OID.clientAuth)),
        extension(OID.subjectAltName, false, names),
        // RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits.
        extension(OID.subjectKeyIdentifier, false, octetString(createHash("sha1").update(subjectPublicKeyBits(spki)).digest())),
        extension(OID.authorityKeyIdentifier, false, sequence(implicit(0, profile.authorityKeyId))),
      ),
    ),
  );
  // Through the CaKey port (ca-key.ts): RSA on the thread pool, ECDSA in place, a token's key in the token.
  const signature = await profile.sign(tbs);
  return sequence(tbs, profile.signatureAlgorithm, bitString(signature));
}

/** A Name, one RDN per template entry, in order (X509-SVID §2: informative only). */
function nameOf(rdns: SvidTemplate["subject"]): Buffer {
  return sequence(
    ...rdns.map((rdn) =>
      setOf(
        ...Object.entries(rdn).flatMap(([type, values]) => {
          const id = ATTRIBUTE[type];
          if (id === undefined) throw new Error(`SVID subject attribute ${type} is not supported`);
          return values.map((value) => sequence(id, directoryString(value)));
        }),
      ),
    ),
  );
}
