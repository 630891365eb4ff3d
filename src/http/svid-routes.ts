import type { Context, Hono } from "hono";
import type { KeyStore } from "../credentials/key-store.js";
import { bundlePem, spiffeBundle, BUNDLE_REFRESH_HINT_SECONDS } from "../credentials/x509/bundle.js";
import type { CaSource } from "../credentials/x509/ca-set.js";
import { pemOf } from "../credentials/x509/pem.js";
import { BrokerError } from "../errors/broker-error.js";
import type { IssueX509Svid } from "../svid/issue-x509-svid.js";
import type { PublishCrl } from "../svid/publish-crl.js";
import { parseX509SvidForm } from "../svid/x509-svid-form.js";
import { jsonAnswer } from "./answer.js";
import type { AppEnv } from "./app-env.js";
import { refuseAuthorizationHeader, refuseBodyCredentials } from "./client-authentication.js";
import { readForm } from "./form.js";

/** What the SVID routes need when the broker has a CA. */
export interface SvidRouteDeps {
  /** The CAs in force (the active one signs; every published one is in the bundle). */
  readonly ca: CaSource;
  readonly issueX509Svid: IssueX509Svid;
  readonly publishCrl: PublishCrl;
  /** Global cap on SVID validity, seconds: how long a workload revocation must cover SVIDs. */
  readonly maxLifetimeSeconds: number;
}

const NONE_REPEATABLE: ReadonlySet<string> = new Set();
const PEM_TYPE = "application/x-pem-file";
/** A subject key identifier: hex, optionally colon-separated (as openssl prints it), at most 64 bytes. */
const SKI_HEX = /^(?:[0-9A-Fa-f]{2}:?){1,64}$/;

/**
 * POST /svid/x509 (issue an X.509-SVID for a CSR), GET /svid/bundle.pem, GET /svid/crl (the active
 * CA's, or ?issuer=<subject key identifier> for any published CA's), GET /svid/crls.pem (every
 * published CA's CRL) and the SPIFFE bundle at GET /.well-known/spiffe-bundle. Without a CA every
 * one answers 404.
 */
export function svidRoutes(app: Hono<AppEnv>, deps: { svid: SvidRouteDeps | undefined; keys: KeyStore; maxBodyBytes: number }): void {
  const svid = deps.svid;
  const enabled = (): SvidRouteDeps => {
    if (svid === undefined) throw new BrokerError("not_found", "X.509-SVIDs are not enabled on this broker (no CA configured)");
    return svid;
  };

  app.post("/svid/x509", async (c) => {
    const { issueX509Svid } = enabled();
    // As /token: the subject token authenticates the workload; client credentials are refused.
    refuseAuthorizationHeader(c);
    const fields = await readForm(c, NONE_REPEATABLE, deps.maxBodyBytes);
    refuseBodyCredentials(fields);
    const form = parseX509SvidForm(fields);
    const issued = await issueX509Svid({ ...form, requestId: c.get("requestId"), clientAddress: c.get("clientAddress") });
    // Plain headers, X-Request-Id among them: written on @hono/node-server's cached-response path (answer.ts).
    const body = { spiffe_id: issued.spiffeId, x509_svid: issued.chainPem, bundle: issued.bundlePem, expires_at: issued.expiresAt, serial: issued.serial };
    return jsonAnswer(c, body, 200, { "Cache-Control": "no-store", Pragma: "no-cache" });
  });

  app.get("/svid/bundle.pem", () => {
    const { ca } = enabled();
    return new Response(bundlePem(ca.current()), { headers: { "Content-Type": PEM_TYPE, "Cache-Control": `public, max-age=${BUNDLE_REFRESH_HINT_SECONDS}` } });
  });

  // Rebuilt only when the keys or the CAs change (rotation): a new published set or a new revision.
  let publishedRef: unknown;
  let caSetRef: unknown;
  let revision = -1;
  let bundleJson = "";
  app.get("/.well-known/spiffe-bundle", () => {
    const { ca } = enabled();
    const published = deps.keys.publishedKeys();
    const keysRevision = deps.keys.keysRevision();
    const cas = ca.current();
    if (published !== publishedRef || keysRevision !== revision || cas !== caSetRef) {
      publishedRef = published;
      caSetRef = cas;
      revision = keysRevision;
      bundleJson = JSON.stringify(spiffeBundle(cas, published, keysRevision));
    }
    return new Response(bundleJson, { headers: { "Content-Type": "application/json", "Cache-Control": `public, max-age=${BUNDLE_REFRESH_HINT_SECONDS}` } });
  });

  crlRoutes(app, enabled);
}

/** GET /svid/crl (one CA's CRL) and GET /svid/crls.pem (every published CA's). */
function crlRoutes(app: Hono<AppEnv>, enabled: () => SvidRouteDeps): void {
  // RFC 5280 §5 CRL, DER (application/pkix-crl, RFC 2585 §4.2); ?format=pem for PEM.
  app.get("/svid/crl", async (c: Context<AppEnv>) => {
    const { publishCrl } = enabled();
    const format = c.req.query("format");
    if (format !== undefined && format !== "der" && format !== "pem") throw new BrokerError("invalid_request", "format must be der or pem");
    const issuer = c.req.query("issuer");
    if (issuer !== undefined && !SKI_HEX.test(issuer)) throw new BrokerError("invalid_request", "issuer must be a CA's subject key identifier in hex");
    const der = await publishCrl(issuer);
    const headers = { "Cache-Control": "no-cache" };
    if (format === "pem") {
      return new Response(`${pemOf("X509 CRL", der)}\n`, { headers: { ...headers, "Content-Type": PEM_TYPE } });
    }
    return new Response(new Uint8Array(der), { headers: { ...headers, "Content-Type": "application/pkix-crl" } });
  });

  // Every published CA's CRL in one PEM file: what `openssl verify -crl_check -CRLfile` takes
  // while SVIDs of several CAs are in use (during a CA rotation).
  app.get("/svid/crls.pem", async () => {
    const { publishCrl } = enabled();
    const all = await publishCrl.all();
    return new Response(all.map((der) => `${pemOf("X509 CRL", der)}\n`).join(""), { headers: { "Cache-Control": "no-cache", "Content-Type": PEM_TYPE } });
  });
}
