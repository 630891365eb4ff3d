import { accept, objectClaim, reject, type Profile } from "./profile.js";

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** Every attribute this profile can produce (policies are type-checked against it). */
export const KUBERNETES_ATTRIBUTES = ["namespace", "service_account", "service_account_uid", "pod_name", "pod_uid"] as const;

/**
 * Kubernetes projected service-account tokens (TokenRequest API). The `kubernetes.io.node`
 * claims are deliberately not exposed: the API server does not verify the node a pod claims
 * to run on, so they must not drive policy decisions.
 */
export const kubernetesProfile: Profile = (claims) => {
  const k8s = objectClaim(claims["kubernetes.io"]);
  if (k8s === undefined) return reject('"kubernetes.io" claim is missing');
  const namespace = nonEmptyString(k8s.namespace);
  const serviceAccount = objectClaim(k8s.serviceaccount);
  const name = nonEmptyString(serviceAccount?.name);
  const uid = nonEmptyString(serviceAccount?.uid);
  if (namespace === undefined) return reject('"kubernetes.io.namespace" claim is missing');
  if (name === undefined || uid === undefined) return reject('"kubernetes.io.serviceaccount" name and uid are required');
  // The API server builds sub from the same service account; disagreement means a forged shape.
  if (claims.sub !== `system:serviceaccount:${namespace}:${name}`) {
    return reject('"sub" does not match the service account in "kubernetes.io"');
  }
  const attributes: Record<string, string> = { namespace, service_account: name, service_account_uid: uid };
  const pod = objectClaim(k8s.pod);
  const podName = nonEmptyString(pod?.name);
  const podUid = nonEmptyString(pod?.uid);
  if (podName !== undefined) attributes.pod_name = podName;
  if (podUid !== undefined) attributes.pod_uid = podUid;
  return accept(attributes);
};
