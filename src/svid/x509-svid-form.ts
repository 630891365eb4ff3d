import { BrokerError } from "../errors/broker-error.js";
import type { FormFields } from "../protocol/form-fields.js";
import { TOKEN_TYPE } from "../protocol/token-types.js";
import type { ExternalTokenType } from "../identity/types.js";

/** Subject tokens /svid/x509 accepts: the workload's own platform token (a broker token carries no SPIFFE ID). */
const SVID_SUBJECT_TOKEN_TYPES: readonly string[] = [TOKEN_TYPE.jwt, TOKEN_TYPE.idToken];

/** The fields of POST /svid/x509, checked for presence and type only. */
export function parseX509SvidForm(fields: FormFields): { subjectToken: string; subjectTokenType: ExternalTokenType; csrPem: string } {
  const subjectToken = fields.single("subject_token");
  const subjectTokenType = fields.single("subject_token_type");
  const csrPem = fields.single("csr");
  if (subjectToken === undefined) throw new BrokerError("invalid_request", "missing subject_token");
  if (subjectTokenType === undefined) throw new BrokerError("invalid_request", "missing subject_token_type");
  if (!SVID_SUBJECT_TOKEN_TYPES.includes(subjectTokenType)) {
    throw new BrokerError("invalid_request", `unsupported subject_token_type; accepted: ${SVID_SUBJECT_TOKEN_TYPES.join(", ")}`);
  }
  if (csrPem === undefined) throw new BrokerError("invalid_request", "missing csr (a PEM PKCS#10 certificate request)");
  return { subjectToken, subjectTokenType: subjectTokenType as ExternalTokenType, csrPem };
}
