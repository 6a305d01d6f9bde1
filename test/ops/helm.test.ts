/**
 * The Helm chart passes `helm lint --strict` and renders with `helm template`
 * (a real helm binary from an npm package, see helm-tool.ts) for the default
 * values and for values that switch every option on; every rendered object is
 * validated against the Kubernetes schemas and checked for what operators rely
 * on (per-service Deployments, probes, LoadBalancers with Local traffic policy,
 * PROXY protocol, migration hook, monitoring objects).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { loadConfig, PROTOCOL_LIMIT_VARIABLES } from "@aerogram/config";
import { parseAllDocuments } from "yaml";
import { helm } from "./helm-tool.ts";
import { type Manifest, validateManifest } from "./manifest-schemas.ts";

const REPO = resolve(import.meta.dirname, "../..");
const CHART = "helm/aerogram";
const KUBE_VERSION = "1.30.0";
const VALUE_SETS = {
  defaults: [] as string[],
  full: ["-f", `${CHART}/ci/full-values.yaml`],
  existingSecret: ["-f", `${CHART}/ci/existing-secret-values.yaml`],
};

function render(values: string[]): Manifest[] {
  const r = helm([
    "template",
    "rel",
    CHART,
    "--namespace",
    "mail",
    "--kube-version",
    KUBE_VERSION,
    ...values,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout);
  for (const d of docs) assert.deepEqual(d.errors, [], "rendered YAML parses");
  return docs.map((d) => d.toJSON() as Manifest | null).filter((m): m is Manifest => m !== null);
}

const byKind = (ms: Manifest[], kind: string) => ms.filter((m) => m.kind === kind);
const named = (ms: Manifest[], kind: string, name: string) => {
  const m = ms.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(m, `${kind} ${name} rendered`);
  return m;
};

test("helm lint --strict passes for every value set", () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    const r = helm(["lint", CHART, "--strict", ...values]);
    assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test("every rendered object passes its Kubernetes schema", () => {
  for (const [name, values] of Object.entries(VALUE_SETS)) {
    const ms = render(values);
    assert.ok(ms.length > 5, `${name} renders objects`);
    for (const m of ms) validateManifest(m);
  }
});

test("defaults: one Deployment per service, probes, Local LoadBalancers, migration hook", () => {
  const ms = render(VALUE_SETS.defaults);
  const deployments = byKind(ms, "Deployment");
  assert.deepEqual(deployments.map((d) => d.metadata.name).sort(), [
    "rel-aerogram-admin",
    "rel-aerogram-imap",
    "rel-aerogram-lifecycle",
    "rel-aerogram-managesieve",
    "rel-aerogram-outbound",
    "rel-aerogram-pop3",
    "rel-aerogram-smtp-in",
    "rel-aerogram-submission",
  ]);
  for (const d of deployments) {
    const c = d.spec.template.spec.containers[0];
    const service = d.metadata.name.replace("rel-aerogram-", "");
    assert.deepEqual(c.env, [{ name: "AEROGRAM_SERVICES", value: service }]);
    assert.equal(c.readinessProbe.httpGet.path, "/readyz");
    assert.equal(c.livenessProbe.httpGet.path, "/healthz");
    assert.ok(c.resources.requests.cpu && c.resources.requests.memory, "resource requests");
    assert.equal(d.spec.template.spec.securityContext.runAsNonRoot, true);
    assert.deepEqual(
      c.envFrom.map((e: Record<string, { name: string }>) => Object.values(e)[0]?.name),
      ["rel-aerogram-env", "rel-aerogram-env"],
    );
  }
  const config = named(ms, "ConfigMap", "rel-aerogram-env").data ?? {};
  assert.equal(config.BIND_ADDRESS, "0.0.0.0");
  assert.equal(config.PROXY_PROTOCOL, "false");
  assert.equal(config.SMTP_PORT, "2525");
  assert.equal(config.SMTPS_PORT, undefined, "465 is submission (RFC 8314), not SMTP-in");
  assert.equal(config.SUBMISSION_PORT, "5587");
  assert.equal(config.SUBMISSIONS_PORT, undefined, "implicit TLS only with tls.enabled");
  assert.equal(config.OUTBOUND_RETRY_SCHEDULE, "5m,10m,30m,1h,2h,4h,8h,16h");
  assert.equal(config.SEND_LIMIT_MESSAGES_PER_HOUR, "200");

  const secret = named(ms, "Secret", "rel-aerogram-env").stringData ?? {};
  assert.deepEqual(Object.keys(secret).sort(), ["DATABASE_URL", "NATS_URL", "REDIS_URL"]);

  for (const [svc, ports] of [
    ["smtp-in", [25]],
    ["imap", [143]],
    ["pop3", [110]],
    ["submission", [587]],
    ["managesieve", [4190]],
  ] as const) {
    const s = named(ms, "Service", `rel-aerogram-${svc}`);
    assert.equal(s.spec.type, "LoadBalancer");
    assert.equal(s.spec.externalTrafficPolicy, "Local");
    assert.deepEqual(
      s.spec.ports.map((p: { port: number }) => p.port),
      ports,
    );
  }
  assert.equal(named(ms, "Service", "rel-aerogram-admin-http").spec.type, "ClusterIP");
  assert.equal(byKind(ms, "PodDisruptionBudget").length, 6);
  assert.equal(config.MANAGESIEVE_PORT, "14190");
  assert.equal(config.RSPAMD_URL, undefined, "no scanning unless an rspamd is named");
  assert.equal(config.DMARC_ENFORCE, "true");
  assert.equal(
    byKind(ms, "Service").some((s) => s.metadata.name === "rel-aerogram-outbound"),
    false,
    "the workers have no mail Service",
  );
  assert.equal(byKind(ms, "HorizontalPodAutoscaler").length, 0);
  assert.equal(byKind(ms, "ServiceMonitor").length, 0);

  const job = named(ms, "Job", "rel-aerogram-migrate");
  assert.equal(job.metadata.annotations?.["helm.sh/hook"], "pre-install,pre-upgrade");
  assert.deepEqual(job.spec.template.spec.containers[0].command.slice(-1), ["--migrate-only"]);
  const jobSecret = named(ms, "Secret", "rel-aerogram-migrate");
  assert.equal(jobSecret.metadata.annotations?.["helm.sh/hook"], "pre-install,pre-upgrade");
  assert.ok(
    Number(jobSecret.metadata.annotations?.["helm.sh/hook-weight"]) <
      Number(job.metadata.annotations?.["helm.sh/hook-weight"]),
    "the job's secret exists before the job",
  );
});

test("everything on: TLS via cert-manager, PROXY protocol, HPA on CPU and sessions, monitoring", () => {
  const ms = render(VALUE_SETS.full);
  const config = named(ms, "ConfigMap", "rel-aerogram-env").data ?? {};
  assert.equal(config.PROXY_PROTOCOL, "true");
  assert.equal(config.PROXY_TRUSTED_NETWORKS, "10.0.0.0/8,fd00::/8");
  assert.equal(config.TLS_CERT_FILE, "/etc/aerogram/tls/tls.crt");
  assert.equal(config.IMAPS_PORT, "1993");
  assert.equal(config.S3_ENDPOINT, "http://minio.storage.svc:9000");
  const secret = named(ms, "Secret", "rel-aerogram-env").stringData ?? {};
  assert.equal(secret.ADMIN_TOKEN, "admin-token-from-values");
  assert.equal(secret.S3_SECRET_ACCESS_KEY, "minio-secret");
  assert.equal(secret.RSPAMD_PASSWORD, "rspamd-controller-password");
  assert.equal(config.RSPAMD_URL, "http://rspamd.mail.svc:11333");
  assert.equal(config.RSPAMD_UNAVAILABLE, "tempfail");

  const imap = named(ms, "Service", "rel-aerogram-imap");
  assert.deepEqual(
    imap.spec.ports.map((p: { port: number }) => p.port),
    [143, 993],
  );
  assert.deepEqual(
    named(ms, "Service", "rel-aerogram-submission").spec.ports.map((p: { port: number }) => p.port),
    [587, 465],
    "465 is submission over implicit TLS (RFC 8314)",
  );
  assert.deepEqual(
    named(ms, "Service", "rel-aerogram-smtp-in").spec.ports.map((p: { port: number }) => p.port),
    [25],
  );
  assert.equal(config.SUBMISSIONS_PORT, "4465");
  assert.equal(secret.DKIM_ENCRYPTION_KEY, "dkim-secret-from-values");
  const smtp = named(ms, "Service", "rel-aerogram-smtp-in");
  assert.equal(
    smtp.metadata.annotations?.["service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"],
    "*",
  );

  const cert = named(ms, "Certificate", "rel-aerogram");
  assert.equal(cert.spec.secretName, "rel-aerogram-tls");
  const imapPod = named(ms, "Deployment", "rel-aerogram-imap").spec.template.spec;
  assert.equal(
    imapPod.volumes.find((v: { name: string }) => v.name === "tls").secret.secretName,
    "rel-aerogram-tls",
  );
  assert.equal(
    named(ms, "Deployment", "rel-aerogram-imap").spec.replicas,
    undefined,
    "the HPA owns replicas",
  );

  const hpa = named(ms, "HorizontalPodAutoscaler", "rel-aerogram-imap");
  assert.deepEqual(
    hpa.spec.metrics.map((m: { type: string }) => m.type),
    ["Resource", "Pods"],
  );
  assert.equal(hpa.spec.metrics[1].pods.metric.name, "aerogram_sessions");

  const monitor = named(ms, "ServiceMonitor", "rel-aerogram");
  assert.equal(monitor.spec.endpoints[0].path, "/metrics");
  const httpServices = byKind(ms, "Service").filter(
    (s) => s.metadata.labels?.["aerogram.io/metrics"] === "true",
  );
  assert.equal(httpServices.length, 8, "each component's /metrics is selected");

  const rule = named(ms, "PrometheusRule", "rel-aerogram");
  const alerts = rule.spec.groups.flatMap((g: { rules: { alert?: string }[] }) =>
    g.rules.map((r) => r.alert),
  );
  assert.ok(alerts.includes("AerogramEventBusDisconnected"), alerts.join(", "));
  const dashboard = named(ms, "ConfigMap", "rel-aerogram-dashboard");
  assert.equal(JSON.parse(dashboard.data?.["aerogram.json"] ?? "").uid, "aerogram-overview");
});

test("existingSecret: the chart makes no credentials Secret and points everything at the given one", () => {
  const ms = render(VALUE_SETS.existingSecret);
  assert.deepEqual(byKind(ms, "Secret"), [], "no Secret rendered");
  for (const d of byKind(ms, "Deployment")) {
    assert.ok(
      d.spec.template.spec.containers[0].envFrom.some(
        (e: { secretRef?: { name: string } }) => e.secretRef?.name === "aerogram-credentials",
      ),
    );
  }
  const job = named(ms, "Job", "rel-aerogram-migrate");
  assert.equal(
    job.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === "DATABASE_URL")
      .valueFrom.secretKeyRef.name,
    "aerogram-credentials",
  );
  assert.deepEqual(
    byKind(ms, "Deployment")
      .map((d) => d.metadata.name)
      .sort(),
    [
      "rel-aerogram-imap",
      "rel-aerogram-lifecycle",
      "rel-aerogram-managesieve",
      "rel-aerogram-outbound",
      "rel-aerogram-smtp-in",
      "rel-aerogram-submission",
    ],
  );
});

test("deploy/single-node: a plain manifest that passes the schemas", () => {
  const docs = parseAllDocuments(readFileSync(resolve(REPO, "deploy/single-node/aerogram.yaml"), "utf8"));
  const ms = docs.map((d) => d.toJSON() as Manifest);
  assert.deepEqual(
    ms.map((m) => m.kind),
    ["Namespace", "PersistentVolumeClaim", "Deployment", "Service", "Service"],
  );
  for (const m of ms) validateManifest(m);
  const env = named(ms, "Deployment", "aerogram").spec.template.spec.containers[0].env;
  assert.deepEqual(
    env.find((e: { name: string }) => e.name === "AEROGRAM_SERVICES"),
    { name: "AEROGRAM_SERVICES", value: "all" },
  );
});

test("the chart ships the same alert rules and dashboard as deploy/", () => {
  const same = (chartFile: string, deployFile: string) =>
    assert.equal(
      readFileSync(resolve(REPO, CHART, "files", chartFile), "utf8"),
      readFileSync(resolve(REPO, "deploy", deployFile), "utf8"),
      `${CHART}/files/${chartFile} must be a copy of deploy/${deployFile}`,
    );
  same("aerogram-alerts.yaml", "prometheus/aerogram-alerts.yaml");
  same("aerogram-dashboard.json", "grafana/aerogram-dashboard.json");
});

test("limits: every protocol limit is a value; the rendered ConfigMap passes libs/config", () => {
  const limitsOf = (values: string[]) => {
    const data: Record<string, string> = named(render(values), "ConfigMap", "rel-aerogram-env").data ?? {};
    for (const v of PROTOCOL_LIMIT_VARIABLES) assert.ok(v in data, `${v} is rendered from limits:`);
    return loadConfig(data).protocolLimits;
  };
  // The chart's defaults are the configuration's (whole numbers, not 5.24288e+07).
  assert.deepEqual(limitsOf(VALUE_SETS.defaults), loadConfig({}).protocolLimits);
  const full = limitsOf(VALUE_SETS.full);
  assert.equal(full.smtp.maxConnectionsPerIp, 200);
  assert.equal(full.smtp.messagesPerMinutePerIp, 6000);
  assert.equal(full.smtp.messagesPerMinutePerRecipient, 300, "unset in the file: the default");
  assert.equal(full.smtp.maxMessageBytes, 104_857_600);
  assert.equal(full.imap.appendLimitBytes, 134_217_728);
  assert.equal(full.auth.maxBackoffMs, 600_000);
  // 0 (no limit) survives the template, and a word goes through for the process to refuse.
  const off = named(
    render([
      "--set",
      "limits.smtp.maxConnectionsPerIp=0",
      "--set",
      "limits.smtp.messagesPerMinutePerIp=lots",
    ]),
    "ConfigMap",
    "rel-aerogram-env",
  ).data;
  assert.equal(off?.SMTP_MAX_CONNECTIONS_PER_IP, "0");
  assert.equal(off?.SMTP_MESSAGES_PER_MINUTE_PER_IP, "lots");
  assert.throws(() => loadConfig(off ?? {}), /SMTP_MESSAGES_PER_MINUTE_PER_IP: expected a number/);
});

test("lifecycle: the worker Deployment, its settings accepted by libs/config, the gc audit CronJob only when enabled", () => {
  assert.equal(byKind(render(VALUE_SETS.defaults), "CronJob").length, 0, "the audit is off by default");
  const ms = render(VALUE_SETS.full);
  const cron = named(ms, "CronJob", "rel-aerogram-gc-audit");
  assert.equal(cron.spec.concurrencyPolicy, "Forbid");
  assert.deepEqual(cron.spec.jobTemplate.spec.template.spec.containers[0].command.slice(-3), [
    "gc",
    "--reclaim",
    "--quiet",
  ]);
  const data = named(ms, "ConfigMap", "rel-aerogram-env").data ?? {};
  const config = loadConfig({ ...data, S3_ACCESS_KEY_ID: "x", S3_SECRET_ACCESS_KEY: "y" });
  assert.deepEqual(config.lifecycle.retention.defaults, [
    { mailbox: "\\Trash", days: 30 },
    { mailbox: "\\Junk", days: 30 },
  ]);
  assert.equal(config.lifecycle.blobReclaim.graceMs, 3_600_000);
});
