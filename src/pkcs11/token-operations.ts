/**
 * The PKCS#11 calls themselves, through graphene-pk11: what the token worker (token-worker.ts)
 * runs, one call at a time, on its own thread. Nothing here hands out a private key's value:
 * keys are generated inside the token as sensitive and non-extractable, and only signatures and
 * public halves leave it (`attributes` asks for CKA_VALUE only to report that the token refuses,
 * and drops whatever a misconfigured token might answer).
 */
import { createHash, randomBytes } from "node:crypto";
import * as graphene from "graphene-pk11";
import type { KeyAttributes, KeySpec, PublicJwk, SignatureForm, TokenKeyInfo, TokenOpenSettings, TokenSession } from "./token-protocol.js";

/** DER of the named curves' OIDs (CKA_EC_PARAMS). */
const CURVES: Readonly<Record<"P-256" | "P-384", string>> = { "P-256": "06082a8648ce3d030107", "P-384": "06052b81040022" };

/** One logged-in session on one token, and the key handles found so far (by label). */
export class TokenOperations {
  private module: graphene.Module | undefined;
  private session: graphene.Session | undefined;
  private settings: TokenOpenSettings | undefined;
  private readonly privateKeys = new Map<string, graphene.PrivateKey>();

  /** Loads the module, finds the token (label or slot id), opens a session and logs in as CKU_USER. */
  open(settings: TokenOpenSettings): TokenSession {
    let module: graphene.Module;
    try {
      module = graphene.Module.load(settings.module, "broker-pkcs11");
    } catch (error) {
      throw new Error(`cannot load the PKCS#11 module ${settings.module} (${reason(error)})`);
    }
    module.initialize();
    this.module = module;
    this.settings = settings;
    const slot = findSlot(module, settings);
    this.session = loggedInSession(slot, settings.pin);
    return { slotId: slotId(slot), tokenLabel: slot.getToken().label.trim() };
  }

  /**
   * A cheap call that the token must answer (C_GetSessionInfo), which also heals a session the
   * token dropped (token removed and back, the login lost): /readyz's probe brings it back.
   */
  ping(): void {
    this.ensureLoggedIn();
  }

  /**
   * Makes sure the session is open and logged in as the user: a token that went away and came
   * back (a removed token directory, an HSM failover) closes sessions and forgets the login, and
   * private keys are invisible without it. Reopens and logs in again when so.
   */
  private ensureLoggedIn(): void {
    let state: number | undefined;
    try {
      state = this.live().state;
    } catch {
      state = undefined;
    }
    if (state === USER_FUNCTIONS.ro || state === USER_FUNCTIONS.rw) return;
    const { module, settings } = this;
    if (module === undefined || settings === undefined) throw new Error("the token is not open");
    this.privateKeys.clear();
    if (state !== undefined) {
      loginUser(this.live(), settings.pin);
      return;
    }
    try {
      this.session?.close();
    } catch {
      // The session is gone already: that is why it is being replaced.
    }
    this.session = loggedInSession(findSlot(module, settings), settings.pin);
  }

  /** The key pair labelled `label`: its public half and CKA_ID; undefined when the token has no such private key. */
  findKey(label: string): TokenKeyInfo | undefined {
    const key = this.privateKey(label, false);
    if (key === undefined) return undefined;
    const { id } = key.getAttribute({ id: null }) as { id: Buffer };
    return { label, id: id.toString("hex"), publicJwk: this.publicJwk(label) };
  }

  /** The key pair whose private half has CKA_ID `idHex` (it must have a label: keys are named by it). */
  findKeyById(idHex: string): TokenKeyInfo | undefined {
    const found = all(this.live().find({ class: graphene.ObjectClass.PRIVATE_KEY, id: Buffer.from(idHex, "hex") }));
    if (found.length === 0) return undefined;
    if (found.length > 1) throw new Error(`the token holds ${found.length} private keys with id ${idHex}`);
    const label = (found[0] as graphene.SessionObject).getAttribute({ label: null }).label;
    if (typeof label !== "string" || label === "") throw new Error(`the private key with id ${idHex} has no label`);
    return this.findKey(label);
  }

  /** Every private key in the token that has a label. */
  listKeys(): TokenKeyInfo[] {
    const found: TokenKeyInfo[] = [];
    for (const object of all(this.live().find({ class: graphene.ObjectClass.PRIVATE_KEY }))) {
      const label = object.getAttribute({ label: null }).label;
      if (typeof label !== "string" || label === "") continue;
      const info = this.findKey(label);
      if (info !== undefined) found.push(info);
    }
    return found;
  }

  /** Generates a key pair inside the token: CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE true, CKA_EXTRACTABLE false. */
  generate(label: string, spec: KeySpec): TokenKeyInfo {
    const session = this.live();
    if (this.privateKey(label, false) !== undefined) throw new Error(`the token already holds a key labelled ${JSON.stringify(label)}`);
    const id = randomBytes(16);
    const common = { token: true, label, id };
    const privateTemplate = { ...common, private: true, sensitive: true, extractable: false, sign: true };
    const publicTemplate = { ...common, private: false, verify: true };
    if (spec.kind === "ec") {
      session.generateKeyPair(graphene.KeyGenMechanism.EC, { ...publicTemplate, paramsEC: Buffer.from(CURVES[spec.curve], "hex") }, privateTemplate);
    } else {
      session.generateKeyPair(graphene.KeyGenMechanism.RSA, { ...publicTemplate, modulusBits: spec.bits, publicExponent: Buffer.from([1, 0, 1]) }, privateTemplate);
    }
    const info = this.findKey(label);
    if (info === undefined) throw new Error(`the token did not keep the key labelled ${JSON.stringify(label)}`);
    return info;
  }

  /** Renames a key pair (both halves): rotation names a key after its thumbprint, known only once generated. */
  relabel(label: string, newLabel: string): void {
    if (this.privateKey(newLabel, false) !== undefined) throw new Error(`the token already holds a key labelled ${JSON.stringify(newLabel)}`);
    for (const object of this.objects(label)) object.setAttribute({ label: newLabel });
    this.privateKeys.delete(label);
  }

  /** Signs `data` with the private key labelled `label`, in the given form. */
  sign(label: string, form: SignatureForm, data: Uint8Array): Uint8Array {
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    try {
      return signWith(this.live(), this.privateKey(label, true) as graphene.PrivateKey, form, bytes);
    } catch (error) {
      // A stale handle (the login lost, the key destroyed underneath): look the label up again,
      // logged in, and sign once more; a key that is gone fails with the first error.
      this.privateKeys.delete(label);
      const again = this.privateKey(label, false);
      if (again === undefined) throw error;
      return signWith(this.live(), again, form, bytes);
    }
  }

  /** Destroys both halves of the key pair labelled `label`; answers how many objects went. */
  destroy(label: string): number {
    const objects = this.objects(label);
    for (const object of objects) object.destroy();
    this.privateKeys.delete(label);
    return objects.length;
  }

  /** The private key's protection attributes, and whether its value can be read (it must not). */
  attributes(label: string): KeyAttributes {
    const key = this.privateKey(label, true) as graphene.PrivateKey;
    const read = key.getAttribute({ sensitive: null, extractable: null, alwaysSensitive: null, neverExtractable: null, token: null, private: null });
    let valueReadable: boolean;
    try {
      key.getAttribute({ value: null });
      valueReadable = true;
    } catch {
      valueReadable = false;
    }
    const flag = (value: unknown) => value === true;
    return {
      sensitive: flag(read.sensitive),
      extractable: flag(read.extractable),
      alwaysSensitive: flag(read.alwaysSensitive),
      neverExtractable: flag(read.neverExtractable),
      token: flag(read.token),
      private: flag(read.private),
      valueReadable,
    };
  }

  /**
   * Closes this session (best effort: the token may be gone already). No C_Logout or C_Finalize:
   * login state and the library are per process, and another client in it (a test's, the CLI's)
   * may still use them; the process's exit ends both.
   */
  close(): void {
    try {
      this.session?.close();
    } catch {
      // The token may be gone already: nothing left to close.
    }
    this.session = undefined;
    this.module = undefined;
  }

  private live(): graphene.Session {
    if (this.session === undefined) throw new Error("the token is not open");
    return this.session;
  }

  private privateKey(label: string, required: boolean): graphene.PrivateKey | undefined {
    const cached = this.privateKeys.get(label);
    if (cached !== undefined) return cached;
    this.ensureLoggedIn();
    const found = this.live().find({ class: graphene.ObjectClass.PRIVATE_KEY, label });
    if (found.length === 0) {
      if (required) throw new Error(`the token holds no private key labelled ${JSON.stringify(label)}`);
      return undefined;
    }
    if (found.length > 1) throw new Error(`the token holds ${found.length} private keys labelled ${JSON.stringify(label)}`);
    const key = found.items(0).toType<graphene.PrivateKey>();
    this.privateKeys.set(label, key);
    return key;
  }

  private objects(label: string): graphene.SessionObject[] {
    const session = this.live();
    return [graphene.ObjectClass.PRIVATE_KEY, graphene.ObjectClass.PUBLIC_KEY].flatMap((kind) => all(session.find({ class: kind, label })));
  }

  private publicJwk(label: string): PublicJwk {
    const found = this.live().find({ class: graphene.ObjectClass.PUBLIC_KEY, label });
    if (found.length !== 1) throw new Error(`the token holds ${found.length} public keys labelled ${JSON.stringify(label)} (one expected beside the private key)`);
    const key = found.items(0);
    const { keyType } = key.getAttribute({ keyType: null });
    if (keyType === graphene.KeyType.EC) {
      // graphene names CKA_EC_PARAMS (= CKA_ECDSA_PARAMS) "paramsECDSA" when it reads it back.
      const { paramsECDSA, pointEC } = key.getAttribute({ paramsECDSA: null, pointEC: null }) as { paramsECDSA: Buffer; pointEC: Buffer };
      return ecJwk(paramsECDSA, pointEC);
    }
    if (keyType === graphene.KeyType.RSA) {
      const { modulus, publicExponent } = key.getAttribute({ modulus: null, publicExponent: null }) as { modulus: Buffer; publicExponent: Buffer };
      return { kty: "RSA", n: modulus.toString("base64url"), e: publicExponent.toString("base64url") };
    }
    throw new Error(`the key labelled ${JSON.stringify(label)} is neither EC nor RSA`);
  }
}

function signWith(session: graphene.Session, key: graphene.PrivateKey, form: SignatureForm, data: Buffer): Uint8Array {
  switch (form) {
    case "ES256":
    case "ECDSA-SHA256":
      // SoftHSM2 (and many tokens) lack CKM_ECDSA_SHA256: hash here, CKM_ECDSA signs the digest (raw r||s).
      return session.createSign("ECDSA", key).once(createHash("sha256").update(data).digest());
    case "ECDSA-SHA384":
      return session.createSign("ECDSA", key).once(createHash("sha384").update(data).digest());
    case "RS256":
      return session.createSign("SHA256_RSA_PKCS", key).once(data);
    case "PS256": {
      // RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash (32 bytes).
      const params = new graphene.RsaPssParams(graphene.MechanismEnum.SHA256, graphene.RsaMgf.MGF1_SHA256, 32);
      return session.createSign({ name: "SHA256_RSA_PKCS_PSS", params }, key).once(data);
    }
  }
}

/** CKS_RO_USER_FUNCTIONS, CKS_RW_USER_FUNCTIONS (PKCS#11 §5.6): a session logged in as the user. */
const USER_FUNCTIONS = { ro: 1, rw: 3 } as const;

function loggedInSession(slot: graphene.Slot, pin: string): graphene.Session {
  const session = slot.open(graphene.SessionFlag.SERIAL_SESSION | graphene.SessionFlag.RW_SESSION);
  try {
    loginUser(session, pin);
  } catch (error) {
    session.close();
    throw error;
  }
  return session;
}

function loginUser(session: graphene.Session, pin: string): void {
  try {
    session.login(pin, graphene.UserType.USER);
  } catch (error) {
    // Another session of this process (another worker) logged in to the same token already.
    if (reason(error).includes("CKR_USER_ALREADY_LOGGED_IN")) return;
    throw new Error(reason(error).includes("CKR_PIN_INCORRECT") ? "the PIN was refused (CKR_PIN_INCORRECT)" : `login failed (${reason(error)})`);
  }
}

function findSlot(module: graphene.Module, settings: TokenOpenSettings): graphene.Slot {
  const slots = all(module.getSlots(true));
  const match = slots.find((slot) => (settings.slot !== undefined ? slotId(slot) === settings.slot : slot.getToken().label.trim() === settings.token));
  if (match !== undefined) return match;
  const present = slots.map((slot) => `slot ${slotId(slot)} "${slot.getToken().label.trim()}"`).join(", ") || "none";
  throw new Error(`${settings.slot !== undefined ? `slot ${settings.slot}` : `token ${JSON.stringify(settings.token)}`} not found (tokens present: ${present})`);
}

/** A slot's CK_SLOT_ID (pkcs11js hands handles over as little-endian CK_ULONG bytes). */
function slotId(slot: graphene.Slot): number {
  return Number(slot.handle.readBigUInt64LE(0));
}

function ecJwk(params: Buffer, point: Buffer): PublicJwk {
  const crv = (Object.keys(CURVES) as ("P-256" | "P-384")[]).find((name) => CURVES[name] === params.toString("hex"));
  if (crv === undefined) throw new Error("the EC key is on a curve other than P-256 or P-384");
  // CKA_EC_POINT is DER: an OCTET STRING around the uncompressed point 04 || X || Y.
  const size = crv === "P-256" ? 32 : 48;
  const raw = point.subarray(point.length - (1 + 2 * size));
  if (raw[0] !== 4) throw new Error("the EC point is not uncompressed");
  return { kty: "EC", crv, x: raw.subarray(1, 1 + size).toString("base64url"), y: raw.subarray(1 + size).toString("base64url") };
}

/** A graphene collection's items, as an array. */
function all<T>(collection: { readonly length: number; items(index: number): T }): T[] {
  return Array.from({ length: collection.length }, (_, index) => collection.items(index));
}

const reason = (error: unknown): string => (error instanceof Error ? error.message : String(error));
