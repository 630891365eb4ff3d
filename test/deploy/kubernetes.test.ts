/**
 * deploy/kubernetes/ without a cluster: every manifest the kustomization lists is validated
 * against the Kubernetes API schemas by kubernetes-models (its validate() is generated from the
 * official OpenAPI definitions: types, required fields, enums, formats), then checked against
 * what the broker and its image are: probe paths are broker routes, the port and uid are the
 * image's, every env name is a setting, the mounts are where the broker and `broker keys init`
 * put things, the policies load, the labels select the pods, the grace period covers the drain.
 * The OpenAPI schemas do not refuse unknown fields (the API server's field validation does):
 * every field these checks rely on is read at its exact path, so a misspelt one fails here too.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Deployment } from "kubernetes-models/apps/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Namespace, Service, ServiceAccount } from "kubernetes-models/v1";
import type { IContainer, IPodSpec } from "kubernetes-models/v1";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { ROUTE_TABLE } from "../../src/app.js";
import { SETTING_NAMES } from "../../src/config.js";
import { findDevelopmentMaterial } from "../../src/credentials/development-material-check.js";
import { loadIssuerConfigs } from "../../src/identity/issuer-config.js";
import { loadPolicySet } from "../../src/policy/index.js";
import { argumentsOf, dockerStages, propertiesOf, readRepoFile } from "../support/deploy-files.js";
import { ROOT } from "../support/repo-root.js";

const DIR = "deploy/kubernetes";
const MODELS = { "v1/Namespace": Namespace, "v1/ServiceAccount": ServiceAccount, "v1/ConfigMap": ConfigMap, "v1/Service": Service, "apps/v1/Deployment": Deployment, "policy/v1/PodDisruptionBudget": PodDisruptionBudget } as const;

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

const kustomization = parseAllDocuments(readRepoFile(`${DIR}/kustomization.yaml`))[0]?.toJS() as { namespace: string; resources: string[]; images: { name: string }[] };
const manifests: Manifest[] = kustomization.resources.flatMap((file) => parseAllDocuments(readRepoFile(`${DIR}/${file}`)).map((document) => document.toJS() as Manifest));
const find = <T>(kind: string) => manifests.find((manifest) => manifest.kind === kind) as unknown as T;

const deployment = find<Deployment>("Deployment");
const pod = deployment.spec?.template.spec as IPodSpec;
const container = pod.containers.find((candidate) => candidate.name === "broker") as IContainer;
const finalStage = dockerStages().at(-1)?.instructions ?? [];
const imageEnv = propertiesOf(finalStage, "ENV");
const imageUser = argumentsOf(finalStage.filter((instruction) => instruction.getKeyword() === "USER").at(-1) ?? finalStage[0] ?? ({} as never))[0] ?? "";
const env = Object.fromEntries((container.env ?? []).map((variable) => [variable.name, variable]));
const mountOf = (volume: string) => container.volumeMounts?.find((mount) => mount.name === volume);
const volume = (name: string) => pod.volumes?.find((candidate) => candidate.name === name);

describe("deploy/kubernetes: the manifests", () => {
  it("lists every manifest of the folder in kustomization.yaml", () => {
    const files = readdirSync(join(ROOT, DIR)).filter((file) => file.endsWith(".yaml") && file !== "kustomization.yaml");
    expect([...kustomization.resources].sort()).toEqual(files.sort());
  });

  it.each(manifests.map((manifest) => [`${manifest.kind} ${manifest.metadata.name}`, manifest] as const))("%s is valid against the Kubernetes API schema", (_name, manifest) => {
    const Model = MODELS[`${manifest.apiVersion}/${manifest.kind}` as keyof typeof MODELS];
    expect(Model, `no model for ${manifest.apiVersion} ${manifest.kind}`).toBeDefined();
    expect(() => new Model(manifest as never).validate()).not.toThrow();
    expect(manifest.metadata.namespace ?? kustomization.namespace).toBe(kustomization.namespace);
  });

  it("the schema check is real: a wrong type or a missing required field is refused", () => {
    expect(() => new Deployment({ ...deployment, spec: { ...deployment.spec, replicas: "2" } } as never).validate()).toThrow(/replicas/);
    const { selector: _selector, ...withoutSelector } = deployment.spec ?? ({} as never);
    expect(() => new Deployment({ ...deployment, spec: withoutSelector } as never).validate()).toThrow(/selector/);
  });
});

describe("deploy/kubernetes: the Deployment is the broker", () => {
  it("runs at least two replicas, spread over nodes, with a PodDisruptionBudget and a Service selecting its pods", () => {
    expect(deployment.spec?.replicas).toBeGreaterThanOrEqual(2);
    const labels = deployment.spec?.template.metadata?.labels ?? {};
    const selects = (selector: Record<string, string> | undefined) => Object.entries(selector ?? {}).every(([key, value]) => labels[key] === value) && Object.keys(selector ?? {}).length > 0;
    expect(selects(deployment.spec?.selector.matchLabels)).toBe(true);
    expect(selects(find<PodDisruptionBudget>("PodDisruptionBudget").spec?.selector?.matchLabels)).toBe(true);
    const pdb = find<PodDisruptionBudget>("PodDisruptionBudget").spec;
    expect(pdb?.maxUnavailable ?? (deployment.spec?.replicas ?? 0) - Number(pdb?.minAvailable)).toBeLessThan(deployment.spec?.replicas ?? 0);
    const service = find<Service>("Service").spec;
    expect(selects(service?.selector)).toBe(true);
    expect(service?.ports?.map((port) => port.targetPort)).toEqual(["http"]);
    expect(pod.topologySpreadConstraints?.find((constraint) => constraint.topologyKey === "kubernetes.io/hostname")?.whenUnsatisfiable).toBe("DoNotSchedule");
    expect(deployment.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
  });

  it("listens on the image's BROKER_PORT, probes /healthz for liveness and /readyz for readiness, both public broker routes", () => {
    expect(container.ports).toEqual([{ name: "http", containerPort: Number(imageEnv.BROKER_PORT), protocol: "TCP" }]);
    expect(container.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(container.startupProbe?.httpGet).toEqual({ path: "/healthz", port: "http" });
    for (const path of ["/healthz", "/readyz"]) expect(ROUTE_TABLE).toContainEqual({ method: "GET", path, auth: "public" });
  });

  it("runs as the image's numeric user, non-root, read-only, with no capability, no escalation, seccomp RuntimeDefault", () => {
    const [uid, gid] = imageUser.split(":").map(Number);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, fsGroup: gid, seccompProfile: { type: "RuntimeDefault" } });
    expect(container.securityContext).toEqual({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(find<Namespace>("Namespace").metadata?.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
  });

  it("sets only settings the broker reads; REDIS_URL comes from a Secret, never a literal", () => {
    expect(Object.keys(env).filter((name) => !SETTING_NAMES.includes(name))).toEqual([]);
    expect(env.REDIS_URL?.value).toBeUndefined();
    expect(env.REDIS_URL?.valueFrom?.secretKeyRef).toMatchObject({ name: "broker-redis", key: "REDIS_URL" });
    expect(env.BROKER_ADMIN_SECRET?.valueFrom?.secretKeyRef?.optional).toBe(true);
    expect(env.NODE_ENV).toBeUndefined(); // the image's production mode stays in force
  });

  it("mounts the policies, signing keys and CA where the broker and `broker keys init` put them, from a ConfigMap and Secrets", () => {
    expect(mountOf("policies")?.mountPath).toBe(imageEnv.BROKER_POLICY_DIR);
    expect(volume("policies")?.configMap?.name).toBe(find<ConfigMap>("ConfigMap").metadata?.name);
    expect(mountOf("signing-keys")?.mountPath).toBe(`${imageEnv.BROKER_KEYS_DIR}/signing`);
    expect(env.BROKER_CA_CERT?.value).toBe(`${mountOf("ca")?.mountPath}/ca.pem`);
    expect(env.BROKER_CA_KEY?.value).toBe(`${mountOf("ca")?.mountPath}/ca.key`);
    expect(mountOf("ca")?.mountPath).toBe(`${imageEnv.BROKER_KEYS_DIR}/ca-root`);
    for (const name of ["policies", "signing-keys", "ca"]) expect(mountOf(name)?.readOnly, name).toBe(true);
    // Owner-less files readable through fsGroup only: 0440.
    for (const name of ["signing-keys", "ca"]) expect(volume(name)?.secret?.defaultMode).toBe(0o440);
    // Every Secret the pod reads is one docs/kubernetes.md says how to create.
    const docs = readRepoFile("docs/kubernetes.md");
    const secrets = [volume("signing-keys")?.secret?.secretName, volume("ca")?.secret?.secretName, env.REDIS_URL?.valueFrom?.secretKeyRef?.name, env.BROKER_ADMIN_SECRET?.valueFrom?.secretKeyRef?.name];
    for (const secret of secrets) expect(docs).toContain(`kubectl -n ${kustomization.namespace} create secret generic ${secret ?? "?"} `);
  });

  it("gives the kubelet time for the preStop sleep and the broker's drain before SIGKILL", () => {
    const sleep = Number(container.lifecycle?.preStop?.exec?.command?.[1]);
    expect(container.lifecycle?.preStop?.exec?.command?.[0]).toBe("sleep");
    const shutdownGrace = Number.parseInt(String(env.BROKER_SHUTDOWN_GRACE?.value ?? "10s"), 10);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(sleep + shutdownGrace);
  });

  it("requests resources, with a memory limit above the benchmark's peak RSS and no CPU limit", () => {
    const mebibytes = (quantity: unknown) => Number(/^(\d+)Mi$/.exec(String(quantity))?.[1]);
    const { requests, limits } = container.resources ?? {};
    expect(requests?.cpu).toMatch(/^\d+m$/);
    // bench/README.md, fifth round: peak RSS up to 165 MB per process under load on the image's Node 24.
    expect(mebibytes(requests?.memory) * 1.048576).toBeGreaterThan(165);
    expect(mebibytes(limits?.memory)).toBeGreaterThan(mebibytes(requests?.memory));
    expect(limits?.cpu).toBeUndefined();
  });

  it("uses the image kustomization.yaml sets", () => {
    expect(kustomization.images.map((image) => image.name)).toContain(container.image?.split(":")[0]);
  });
});

describe("deploy/kubernetes: the policy ConfigMap", () => {
  const data = find<ConfigMap>("ConfigMap").data ?? {};

  it("holds the production policy folder of deploy/policies, file for file", () => {
    const files = readdirSync(join(ROOT, "deploy/policies")).filter((file) => file.endsWith(".yaml"));
    expect(Object.keys(data).sort()).toEqual(files.sort());
    for (const file of files) expect(data[file], file).toBe(readRepoFile(`deploy/policies/${file}`));
  });

  it("loads as a valid policy set with no development material", async () => {
    const dir = await mkdtemp(join(tmpdir(), "broker-configmap-"));
    try {
      for (const [file, text] of Object.entries(data)) await writeFile(join(dir, file), text);
      const issuers = await loadIssuerConfigs(join(dir, "issuers.yaml"), String(env.BROKER_ISSUER_URL?.value));
      await expect(loadPolicySet(dir, { knownIssuers: issuers.map((issuer) => ({ id: issuer.id, profile: issuer.profile })), trustDomain: String(env.BROKER_TRUST_DOMAIN?.value) })).resolves.toBeDefined();
      expect(await findDevelopmentMaterial({ keysDir: join(dir, "keys"), issuersFile: join(dir, "issuers.yaml"), caCertFile: undefined })).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
