#!/usr/bin/env bash
# Checks the Helm chart without a cluster: helm lint --strict, helm template, kubernetes-validate
# --strict (the API schemas of Kubernetes 1.37 and 1.27, the oldest the chart supports), then
# assertions on what is rendered and on what must fail to render.
# Usage: tests/helm.sh        (installs the tools first with tests/tools.sh)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash tests/tools.sh
HELM=$ROOT/.ci/bin/helm
VALIDATE=$ROOT/.ci/venv/bin/kubernetes-validate
PY=$ROOT/.ci/venv/bin/python
CHART=helm/seaf-backup
VALUES=$CHART/ci/test-values.yaml

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
# Helm writes nothing to $HOME.
export HELM_CACHE_HOME=$TMP/helm-cache HELM_CONFIG_HOME=$TMP/helm-config HELM_DATA_HOME=$TMP/helm-data

fail() {
    echo "tests/helm.sh: FAILED: $*" >&2
    exit 1
}

echo "== helm lint --strict"
"$HELM" lint --strict "$CHART" -f "$VALUES" >"$TMP/lint.log" 2>&1 || { cat "$TMP/lint.log" >&2; fail "helm lint --strict"; }
grep -q '0 chart(s) failed' "$TMP/lint.log" || { cat "$TMP/lint.log" >&2; fail "helm lint --strict"; }

render() { # OUTFILE ARGS...: helm template, validated against the Kubernetes API schemas
    local out=$1
    shift
    "$HELM" template rel "$CHART" --namespace backup "$@" >"$out" || fail "helm template $*"
    for k in 1.37.0 1.27.0; do
        "$VALIDATE" --strict --quiet -k "$k" - <"$out" || fail "kubernetes-validate --strict -k $k: helm template $*"
    done
}

echo "== helm template | kubernetes-validate --strict"
# The test values.
render "$TMP/test.yaml" -f "$VALUES"
# Only the required values, everything else at the chart's defaults.
render "$TMP/minimal.yaml" --set backup.primaryUrl=http://primary:8082 --set backup.syncToken=min-sync-token-4c1 \
    --set database.url=mysql://u:p@db/seafile_db --set redis.url=redis://redis:6379/0
# Five fetchers.
render "$TMP/five.yaml" -f "$VALUES" --set fetcher.replicas=5
# A changed setting, for the checksum/config annotation.
render "$TMP/changed.yaml" -f "$VALUES" --set fetcher.concurrency=7
# An existing Secret and claim, a private CA, a sub-path, a ServiceAccount and pull secrets.
cat >"$TMP/ca.pem" <<'PEM'
-----BEGIN CERTIFICATE-----
MIIBtestCAcertificateForTheChartChecksOnly
-----END CERTIFICATE-----
PEM
render "$TMP/existing.yaml" --set backup.primaryUrl=https://primary.example.test \
    --set existingSecret=my-seaf-secrets --set store.existingClaim=my-nfs-claim --set store.subPath=backup \
    --set-file backup.caCert="$TMP/ca.pem" --set serviceAccount.create=true \
    --set 'imagePullSecrets[0].name=my-registry' --set image.tag=1.2.3 --set fetcher.nodeSelector.pool=fetchers

# Monitoring: ServiceMonitor, PrometheusRule, dashboard, HPA autoscaling; then KEDA; then no metrics.
MONITORING=(--set metrics.serviceMonitor.enabled=true --set metrics.prometheusRule.enabled=true
    --set metrics.dashboard.enabled=true --set fetcher.autoscaling.enabled=true
    --set fetcher.autoscaling.minReplicas=2 --set fetcher.autoscaling.maxReplicas=8)
render "$TMP/monitoring.yaml" -f "$VALUES" "${MONITORING[@]}"
render "$TMP/keda.yaml" -f "$VALUES" --set fetcher.autoscaling.enabled=true --set fetcher.autoscaling.kind=keda \
    --set fetcher.autoscaling.targetPerFetcher=3
render "$TMP/nometrics.yaml" -f "$VALUES" --set metrics.enabled=false
# gRPC TLS, then mutual TLS.
TLS=(--set coordinator.tls.enabled=true --set coordinator.tls.secretName=coord-tls)
render "$TMP/tls.yaml" -f "$VALUES" "${TLS[@]}"
render "$TMP/mtls.yaml" -f "$VALUES" "${TLS[@]}" --set coordinator.tls.mutual=true --set coordinator.tls.clientSecretName=client-tls
# JSON logs and OTLP traces.
render "$TMP/traces.yaml" -f "$VALUES" --set tracing.logFormat=json --set tracing.otlpEndpoint=http://otel.monitoring:4317 \
    --set tracing.sampleRatio=0.25

echo "== assertions on the rendered manifests"
"$PY" - "$TMP" "$VALUES" seaf-backup.example.toml <<'PY' || fail "assertions on the rendered manifests"
import base64, re, sys, tomllib
import yaml

tmp, values_file, example_file = sys.argv[1:4]
values = yaml.safe_load(open(values_file))
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def load(name):
    docs = [d for d in yaml.safe_load_all(open(f"{tmp}/{name}.yaml")) if d]
    return docs, open(f"{tmp}/{name}.yaml").read()


def by_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def container(dep):
    cs = dep["spec"]["template"]["spec"]["containers"]
    assert len(cs) == 1, cs
    return cs[0]


def env(dep):
    return {e["name"]: e for e in container(dep).get("env", [])}


def toml_of(docs):
    (cm,) = by_kind(docs, "ConfigMap").values()
    try:
        return tomllib.loads(cm["data"]["seaf-backup.toml"]), cm
    except tomllib.TOMLDecodeError as e:
        sys.exit(f"the ConfigMap's seaf-backup.toml is not valid TOML: {e}\n{cm['data']['seaf-backup.toml']}")


# Keys the service accepts, per section: those of the example file, commented-out ones included.
known, section = {}, None
for line in open(example_file):
    m = re.match(r"^\[(\w+)\]", line)
    if m:
        section = m.group(1)
        known[section] = set()
    m = re.match(r"^#?\s*(\w+) =", line)
    if m and section:
        known[section].add(m.group(1))

FULL = "rel-seaf-backup"
COORD, GW, FETCH = f"{FULL}-coordinator", f"{FULL}-gateway", f"{FULL}-fetcher"
SECRET_ENV = {
    COORD: {"SEAF_BACKUP__BACKUP__SYNC_TOKEN": "sync-token", "SEAF_BACKUP__DATABASE__URL": "database-url",
            "SEAF_BACKUP__REDIS__URL": "redis-url", "SEAF_BACKUP__PRIMARY__DATABASE_URL": "primary-database-url",
            "SEAF_BACKUP__COORDINATOR__ADMIN_TOKEN": "admin-token", "SEAF_BACKUP_ADMIN_TOKEN": "admin-token"},
    GW: {"SEAF_BACKUP__BACKUP__SYNC_TOKEN": "sync-token", "SEAF_BACKUP__GATEWAY__JWT_PRIVATE_KEY": "jwt-private-key"},
    FETCH: {"SEAF_BACKUP__BACKUP__SYNC_TOKEN": "sync-token"},
}
COMMANDS = {
    COORD: ["seaf-backup-coordinator", "--config", "/etc/seaf-backup/seaf-backup.toml"],
    GW: ["seaf-backup-gateway", "--config", "/etc/seaf-backup/seaf-backup.toml"],
    FETCH: ["seaf-backup-fetcher", "run", "--config", "/etc/seaf-backup/seaf-backup.toml"],
}


def check_render(name, docs, text, secret_name, gw_replicas, fetch_replicas, secrets):
    deps = by_kind(docs, "Deployment")
    check(set(deps) == {COORD, GW, FETCH}, f"{name}: Deployments are {sorted(deps)}")
    if set(deps) != {COORD, GW, FETCH}:
        return
    coord, gw, fetch = deps[COORD], deps[GW], deps[FETCH]
    check(coord["spec"]["replicas"] == 1, f"{name}: coordinator replicas {coord['spec']['replicas']}")
    check(coord["spec"].get("strategy", {}).get("type") == "Recreate", f"{name}: coordinator strategy is not Recreate")
    check(gw["spec"]["replicas"] == gw_replicas, f"{name}: gateway replicas {gw['spec']['replicas']} != {gw_replicas}")
    check(fetch["spec"]["replicas"] == fetch_replicas,
          f"{name}: fetcher replicas {fetch['spec']['replicas']} != {fetch_replicas}")
    for dname, dep in deps.items():
        c = container(dep)
        check(c["command"] == COMMANDS[dname], f"{name}: {dname} command {c['command']}")
        pod = dep["spec"]["template"]
        check("checksum/config" in pod["metadata"].get("annotations", {}), f"{name}: {dname} has no checksum/config")
        sel = dep["spec"]["selector"]["matchLabels"]
        check(all(pod["metadata"]["labels"].get(k) == v for k, v in sel.items()), f"{name}: {dname} selector/labels")
        check(pod["spec"]["securityContext"].get("runAsNonRoot") is True, f"{name}: {dname} not runAsNonRoot")
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        check(mounts.get("config", {}).get("mountPath") == "/etc/seaf-backup", f"{name}: {dname} config mount")
        e = env(dep)
        for var, key in SECRET_ENV[dname].items():
            ref = e.get(var, {}).get("valueFrom", {}).get("secretKeyRef", {})
            check(ref.get("name") == secret_name and ref.get("key") == key,
                  f"{name}: {dname} env {var} is not secret {secret_name}/{key}: {e.get(var)}")
        want_cli = "http://127.0.0.1:7070" if dname == COORD else f"http://{COORD}:7070"
        check(e.get("SEAF_BACKUP_COORDINATOR", {}).get("value") == want_cli,
              f"{name}: {dname} SEAF_BACKUP_COORDINATOR is {e.get('SEAF_BACKUP_COORDINATOR')}, not {want_cli}")
        extra = {v for v in e if v.startswith("SEAF_BACKUP__")} - set(SECRET_ENV[dname])
        check(not extra, f"{name}: {dname} gets secrets it does not need: {sorted(extra)}")
        for var, item in e.items():
            check("value" not in item or item["value"] not in secrets.values(), f"{name}: {dname} env {var} is a plain secret")
        if dname != FETCH:
            check("store" not in mounts, f"{name}: {dname} mounts the store")

    # Probes and Services.
    cc, gc = container(coord), container(gw)
    check(cc["livenessProbe"].get("grpc", {}).get("port") == 7070, f"{name}: coordinator liveness is not gRPC on 7070")
    check(cc["readinessProbe"].get("grpc", {}).get("port") == 7070, f"{name}: coordinator readiness is not gRPC on 7070")
    check(cc["readinessProbe"]["grpc"].get("service") == "seafbackup.admin.v1.AdminService", f"{name}: readiness must follow MySQL and Redis")
    check(cc["livenessProbe"]["grpc"].get("service", "") == "", f"{name}: liveness must not follow MySQL and Redis")
    check(gc["livenessProbe"].get("httpGet", {}).get("path") == "/healthz", f"{name}: gateway liveness is not /healthz")
    check(gc["readinessProbe"].get("httpGet", {}).get("path") == "/readyz", f"{name}: gateway readiness is not /readyz")
    svcs = by_kind(docs, "Service")
    metrics_on = "metrics_listen" in toml_of(docs)[0].get("coordinator", {})
    for sname, port, pname in ((COORD, 7070, "grpc"), (GW, 8083, "http")):
        ports = svcs.get(sname, {}).get("spec", {}).get("ports", [])
        want = [(port, pname)] + ([(METRICS_PORT, "metrics")] if metrics_on else [])
        check([(p["port"], p["name"]) for p in ports] == want, f"{name}: Service {sname} ports {ports}")
    check_metrics(name, docs, metrics_on)

    # The fetchers mount the claim at [store] path.
    conf, cm = toml_of(docs)
    fpod = fetch["spec"]["template"]["spec"]
    vols = {v["name"]: v for v in fpod["volumes"]}
    claim = vols.get("store", {}).get("persistentVolumeClaim", {}).get("claimName")
    store_mount = {m["name"]: m for m in container(fetch)["volumeMounts"]}.get("store", {})
    check(claim is not None, f"{name}: the fetcher does not mount a PersistentVolumeClaim")
    check(store_mount.get("mountPath") == conf.get("store", {}).get("path"),
          f"{name}: store mounted at {store_mount.get('mountPath')}, [store] path is {conf.get('store', {}).get('path')}")
    check(not store_mount.get("readOnly"), f"{name}: the store is mounted read-only")
    check(fpod.get("terminationGracePeriodSeconds") == 30, f"{name}: fetcher terminationGracePeriodSeconds")

    # The configuration: valid TOML (tomllib parsed it), the required keys, no unknown keys, no secrets.
    b = conf.get("backup", {})
    check("primary_url" in b and "sync_poll_interval" in b, f"{name}: [backup] lacks primary_url or sync_poll_interval")
    for sec, keys in conf.items():
        check(isinstance(keys, dict) and sec in known, f"{name}: unknown section [{sec}]")
        for k in keys if isinstance(keys, dict) else []:
            check(k in known.get(sec, set()), f"{name}: [{sec}] {k} is not a configuration key")
    check("sync_token" not in b, f"{name}: sync_token in the ConfigMap")
    check("jwt_private_key" not in conf.get("gateway", {}), f"{name}: jwt_private_key in the ConfigMap")
    check("url" not in conf.get("database", {}) and "url" not in conf.get("redis", {}), f"{name}: a URL secret in the ConfigMap")
    check(conf.get("coordinator", {}).get("listen") == "0.0.0.0:7070", f"{name}: coordinator listen")
    check(conf.get("gateway", {}).get("listen") == "0.0.0.0:8083", f"{name}: gateway listen")
    for sec in ("gateway", "fetcher"):
        check(conf.get(sec, {}).get("coordinator_url") == f"http://{COORD}:7070", f"{name}: [{sec}] coordinator_url")
    cm_text = yaml.safe_dump(cm)
    for key, value in secrets.items():
        check(value not in cm_text, f"{name}: the {key} value appears in the ConfigMap")
        for d in docs:
            if d["kind"] != "Secret":
                check(value not in yaml.safe_dump(d), f"{name}: the {key} value appears in {d['kind']} {d['metadata']['name']}")

    # The Secret: one, or none with existingSecret.
    created = by_kind(docs, "Secret")
    if secret_name == FULL:
        check(list(created) == [FULL], f"{name}: Secrets {sorted(created)}")
        data = {k: base64.b64decode(v).decode() for k, v in created.get(FULL, {}).get("data", {}).items()}
        for key, value in secrets.items():
            check(data.get(key) == value, f"{name}: Secret key {key} is {data.get(key)!r}, not {value!r}")
    else:
        check(not created, f"{name}: existingSecret is set, yet the chart renders Secrets {sorted(created)}")
    return conf


METRICS_PORT = 9464


def subset(small, big):
    return all(big.get(k) == v for k, v in small.items())


def check_metrics(name, docs, on):
    """With metrics on: every component serves /metrics on a port named "metrics" of its pod and of
    a Service (headless for the fetchers), and its configuration says so. With metrics off: none."""
    conf, _ = toml_of(docs)
    deps, svcs = by_kind(docs, "Deployment"), by_kind(docs, "Service")
    for dname, sec in ((COORD, "coordinator"), (GW, "gateway"), (FETCH, "fetcher")):
        ports = {p["name"]: p for p in container(deps[dname]).get("ports", [])}
        listen = conf.get(sec, {}).get("metrics_listen")
        if on:
            check(listen == f"0.0.0.0:{METRICS_PORT}", f"{name}: [{sec}] metrics_listen is {listen}")
            check(ports.get("metrics", {}).get("containerPort") == METRICS_PORT, f"{name}: {dname} has no metrics port")
            svc = svcs.get(dname, {}).get("spec", {})
            sp = {p["name"]: p for p in svc.get("ports", [])}.get("metrics", {})
            check(sp.get("targetPort") == "metrics", f"{name}: Service {dname} does not expose the metrics port")
            pod_labels = deps[dname]["spec"]["template"]["metadata"]["labels"]
            check(subset(svc.get("selector", {}), pod_labels) and svc.get("selector"), f"{name}: Service {dname} selector")
        else:
            check(listen is None, f"{name}: [{sec}] metrics_listen is set with metrics off")
            check("metrics" not in ports, f"{name}: {dname} has a metrics port with metrics off")
    if on:
        check(svcs.get(FETCH, {}).get("spec", {}).get("clusterIP") == "None", f"{name}: the fetcher Service is not headless")
    else:
        check(FETCH not in svcs, f"{name}: a fetcher Service with metrics off")


test_secrets = {"sync-token": values["backup"]["syncToken"], "jwt-private-key": values["gateway"]["jwtPrivateKey"],
                "database-url": values["database"]["url"], "redis-url": values["redis"]["url"],
                "primary-database-url": values["primary"]["databaseUrl"], "admin-token": values["coordinator"]["adminToken"]}
docs, text = load("test")
conf = check_render("test values", docs, text, FULL, values["gateway"]["replicas"], values["fetcher"]["replicas"], test_secrets)
check(conf["backup"]["primary_url"] == values["backup"]["primaryUrl"], "primary_url is not the value's")
check(conf["backup"]["sync_poll_interval"] == values["backup"]["syncPollInterval"], "sync_poll_interval is not the value's")
check(conf["gateway"].get("forward_url") == values["gateway"]["forwardUrl"], "forward_url is not the value's")
pvcs = by_kind(docs, "PersistentVolumeClaim")
check(list(pvcs) == [f"{FULL}-store"], f"PVCs {sorted(pvcs)}")
for pvc in pvcs.values():
    check(pvc["spec"]["accessModes"] == ["ReadWriteMany"], f"PVC access modes {pvc['spec']['accessModes']}")
    check(pvc["metadata"].get("annotations", {}).get("helm.sh/resource-policy") == "keep", "the PVC is not kept on uninstall")
fetch = by_kind(docs, "Deployment")[FETCH]
check(fetch["spec"]["template"]["spec"]["volumes"][1]["persistentVolumeClaim"]["claimName"] == f"{FULL}-store",
      "the fetcher does not mount the chart's PVC")
check(container(fetch)["image"] == "seaf-backup:0.1.0", f"image {container(fetch)['image']} (tag = appVersion)")

docs, text = load("minimal")
conf = check_render("defaults", docs, text, FULL, 2, 2,
                    {"sync-token": "min-sync-token-4c1", "database-url": "mysql://u:p@db/seafile_db", "redis-url": "redis://redis:6379/0"})
check(conf["backup"]["sync_poll_interval"] == 1, f"default sync_poll_interval {conf['backup']['sync_poll_interval']}")
check("jwt-private-key" not in by_kind(docs, "Secret")[FULL]["data"], "an empty jwtPrivateKey is in the Secret")
check("primary-database-url" not in by_kind(docs, "Secret")[FULL]["data"], "an empty primary.databaseUrl is in the Secret")
check("admin-token" not in by_kind(docs, "Secret")[FULL]["data"], "an empty coordinator.adminToken is in the Secret")

docs, text = load("five")
check(by_kind(docs, "Deployment")[FETCH]["spec"]["replicas"] == 5, "--set fetcher.replicas=5 does not give 5 fetchers")

changed, _ = load("changed")
ann = lambda ds: by_kind(ds, "Deployment")[FETCH]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
check(ann(changed) != ann(load("test")[0]), "checksum/config does not change with the configuration")

docs, text = load("existing")
conf = check_render("existingSecret", docs, text, "my-seaf-secrets", 2, 2, {})
check(not by_kind(docs, "PersistentVolumeClaim"), "existingClaim is set, yet a PVC is rendered")
fpod = by_kind(docs, "Deployment")[FETCH]["spec"]["template"]["spec"]
check({v["name"]: v for v in fpod["volumes"]}["store"]["persistentVolumeClaim"]["claimName"] == "my-nfs-claim",
      "the fetcher does not mount store.existingClaim")
check({m["name"]: m for m in container(by_kind(docs, "Deployment")[FETCH])["volumeMounts"]}["store"].get("subPath") == "backup",
      "store.subPath is not used")
check(fpod.get("nodeSelector") == {"pool": "fetchers"}, "fetcher.nodeSelector is not used")
check(fpod.get("imagePullSecrets") == [{"name": "my-registry"}], "imagePullSecrets are not used")
check(fpod.get("serviceAccountName") == FULL and list(by_kind(docs, "ServiceAccount")) == [FULL], "the ServiceAccount")
check(container(by_kind(docs, "Deployment")[FETCH])["image"] == "seaf-backup:1.2.3", "image.tag is not used")
cm = list(by_kind(docs, "ConfigMap").values())[0]
check("BEGIN CERTIFICATE" in cm["data"].get("primary-ca.pem", ""), "backup.caCert is not in the ConfigMap")
check(conf["backup"].get("ca_cert") == "/etc/seaf-backup/primary-ca.pem", "ca_cert does not name the mounted certificate")

# Monitoring resources.
import json
docs, text = load("monitoring")
deps = by_kind(docs, "Deployment")
check("replicas" not in deps[FETCH]["spec"], "with autoscaling the fetcher Deployment still sets replicas")
(sm,) = by_kind(docs, "ServiceMonitor").values()
for sname, svc in by_kind(docs, "Service").items():
    check(subset(sm["spec"]["selector"]["matchLabels"], svc["metadata"]["labels"]), f"the ServiceMonitor misses Service {sname}")
check(sm["spec"]["namespaceSelector"] == {"matchNames": ["backup"]}, "ServiceMonitor namespaceSelector")
check([e["port"] for e in sm["spec"]["endpoints"]] == ["metrics"], "ServiceMonitor endpoints")
(rule,) = by_kind(docs, "PrometheusRule").values()
alerts = [r["alert"] for g in rule["spec"]["groups"] for r in g["rules"]]
check(set(alerts) == {"SeafBackupLibraryFailed", "SeafBackupLagHigh", "SeafBackupPollStale", "SeafBackupFetchersIdle",
                      "SeafBackupReplicationBroken", "SeafBackupReplicationBehind", "SeafBackupMysqlDown",
                      "SeafBackupRedisDown", "SeafBackupTargetDown"}, f"alerts {alerts}")
for g in rule["spec"]["groups"]:
    for r in g["rules"]:
        check('namespace="backup",job=~"rel-seaf-backup-.+"' in r["expr"], f"{r['alert']} does not select the release: {r['expr']}")
yaml.safe_dump(rule["spec"], open(f"{tmp}/rules.yaml", "w"))
(hpa,) = by_kind(docs, "HorizontalPodAutoscaler").values()
check(hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FETCH}, "HPA target")
check((hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 8), "HPA min/max")
(m,) = hpa["spec"]["metrics"]
check(m["external"]["metric"]["name"] == "seaf_backup_fetcher_demand", f"HPA metric {m}")
check(m["external"]["target"] == {"type": "AverageValue", "averageValue": "2"}, f"HPA target is not fetcher.concurrency: {m}")
pdbs = by_kind(docs, "PodDisruptionBudget")
check(set(pdbs) == {GW, FETCH}, f"PodDisruptionBudgets {sorted(pdbs)}")
for pname, pdb in pdbs.items():
    check(pdb["spec"].get("maxUnavailable") == 1, f"PDB {pname} maxUnavailable")
    check(subset(pdb["spec"]["selector"]["matchLabels"], deps[pname]["spec"]["template"]["metadata"]["labels"]), f"PDB {pname} selector")
dash = by_kind(docs, "ConfigMap").get(f"{FULL}-dashboard")
check(dash is not None and dash["metadata"]["labels"].get("grafana_dashboard") == "1", "the dashboard ConfigMap")
if dash:
    check(json.loads(dash["data"]["seaf-backup.json"]) == json.load(open("helm/seaf-backup/dashboards/seaf-backup.json")),
          "the dashboard ConfigMap is not dashboards/seaf-backup.json")

docs, text = load("keda")
(so,) = by_kind(docs, "ScaledObject").values()
check(so["spec"]["scaleTargetRef"]["name"] == FETCH, "ScaledObject target")
(t,) = so["spec"]["triggers"]
check(t["type"] == "prometheus" and t["metadata"]["threshold"] == "3", f"ScaledObject trigger {t}")
check(t["metadata"]["query"] == 'max(seaf_backup_fetcher_demand{namespace="backup",job=~"rel-seaf-backup-.+"})', f"KEDA query {t}")
check(not by_kind(docs, "HorizontalPodAutoscaler"), "kind=keda renders an HPA too")

docs, text = load("nometrics")
check(not by_kind(docs, "ServiceMonitor") and not by_kind(docs, "PrometheusRule"), "monitoring resources by default")
docs, _ = load("test")
for dname, dep in by_kind(docs, "Deployment").items():
    check(not [v for v in dep["spec"]["template"]["spec"]["volumes"] if "secret" in v], f"{dname} mounts a TLS Secret with TLS off")


def check_tls(name, docs, mutual):
    """gRPC TLS: the coordinator serves the mounted certificate (and asks for client certificates
    under mutual TLS); every client connects with https:// and trusts ca.crt; only the coordinator
    mounts the server key; the CLI's environment points at the same files; TCP probes."""
    conf, _ = toml_of(docs)
    c = conf["coordinator"]
    srv, cli = "/etc/seaf-backup-tls/server", "/etc/seaf-backup-tls/client"
    want = {"tls_cert": f"{srv}/tls.crt", "tls_key": f"{srv}/tls.key", "ca_cert": f"{srv}/ca.crt"}
    if mutual:
        want |= {"tls_client_ca": f"{srv}/ca.crt", "client_cert": f"{cli}/tls.crt", "client_key": f"{cli}/tls.key"}
    got = {k: c.get(k) for k in ("tls_cert", "tls_key", "ca_cert", "tls_client_ca", "client_cert", "client_key")}
    check(got == {k: want.get(k) for k in got}, f"{name}: [coordinator] TLS keys {got}")
    for sec in ("gateway", "fetcher"):
        check(conf[sec].get("coordinator_url") == f"https://{COORD}:7070", f"{name}: [{sec}] coordinator_url is not https")
    for dname, dep in by_kind(docs, "Deployment").items():
        pod, e = dep["spec"]["template"]["spec"], env(dep)
        vols = {v["name"]: v.get("secret", {}) for v in pod["volumes"]}
        mounts = {m["name"]: m["mountPath"] for m in container(dep)["volumeMounts"]}
        check(vols.get("grpc-tls", {}).get("secretName") == "coord-tls" and mounts.get("grpc-tls") == srv,
              f"{name}: {dname} does not mount the TLS Secret at {srv}")
        items = vols.get("grpc-tls", {}).get("items")
        if dname == COORD:
            check(items is None, f"{name}: the coordinator does not get its key")
        else:
            check(items == [{"key": "ca.crt", "path": "ca.crt"}], f"{name}: {dname} gets more than ca.crt: {items}")
        check((vols.get("grpc-tls-client", {}).get("secretName") == "client-tls" and mounts.get("grpc-tls-client") == cli)
              == mutual, f"{name}: {dname} client certificate mount {vols.get('grpc-tls-client')}")
        want_cli = "https://127.0.0.1:7070" if dname == COORD else f"https://{COORD}:7070"
        check(e.get("SEAF_BACKUP_COORDINATOR", {}).get("value") == want_cli, f"{name}: {dname} SEAF_BACKUP_COORDINATOR")
        check(e.get("SEAF_BACKUP_CA_CERT", {}).get("value") == f"{srv}/ca.crt", f"{name}: {dname} SEAF_BACKUP_CA_CERT")
        check(("SEAF_BACKUP_CLIENT_CERT" in e) == mutual, f"{name}: {dname} SEAF_BACKUP_CLIENT_CERT")
        check(e.get("SEAF_BACKUP_TLS_DOMAIN", {}).get("value") == (COORD if dname == COORD else None),
              f"{name}: {dname} SEAF_BACKUP_TLS_DOMAIN {e.get('SEAF_BACKUP_TLS_DOMAIN')}")
    cc = container(by_kind(docs, "Deployment")[COORD])
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        check(cc[probe].get("tcpSocket") == {"port": 7070} and "grpc" not in cc[probe], f"{name}: coordinator {probe} {cc[probe]}")


t = toml_of(load("test")[0])[0].get("tracing", {})
check(t == {"log_format": "text", "sample_ratio": 1}, f"default [tracing] {t}")
t = toml_of(load("traces")[0])[0].get("tracing", {})
check(t == {"log_format": "json", "otlp_endpoint": "http://otel.monitoring:4317", "sample_ratio": 0.25}, f"[tracing] {t}")

check_tls("tls", load("tls")[0], False)
check_tls("mutual tls", load("mtls")[0], True)

if failures:
    print("\n".join("  " + f for f in failures), file=sys.stderr)
    sys.exit(f"{len(failures)} assertion(s) failed")
PY

echo "== promtool check rules and the alerts' unit tests (tests/alerts/alerts_test.yaml)"
promtool check rules "$TMP/rules.yaml" || fail "promtool check rules on the rendered PrometheusRule"
cp tests/alerts/alerts_test.yaml "$TMP/alerts_test.yaml"
promtool test rules "$TMP/alerts_test.yaml" || fail "promtool test rules tests/alerts/alerts_test.yaml"

echo "== every value documented in helm/README.md"
"$PY" - "$CHART/values.yaml" helm/README.md <<'PY' || fail "values missing from helm/README.md"
import re, sys
import yaml

values, readme = yaml.safe_load(open(sys.argv[1])), open(sys.argv[2]).read()
documented = set(re.findall(r"^\| `([\w.]+)` \|", readme, re.M))
missing = []


def walk(node, path):
    # A key is documented itself or through a documented parent (e.g. a whole probe's timings).
    if path and path in documented:
        return
    if isinstance(node, dict) and node:
        for k, v in node.items():
            walk(v, f"{path}.{k}" if path else k)
    else:
        missing.append(path)


walk(values, "")
if missing:
    sys.exit("not in the values table of helm/README.md: " + ", ".join(missing))
PY

echo "== values that must not render"
must_fail() { # MESSAGE ARGS...: helm template must fail, saying MESSAGE
    local want=$1
    shift
    if "$HELM" template rel "$CHART" "$@" >"$TMP/neg.out" 2>"$TMP/neg.err"; then
        fail "helm template $* rendered; it should fail with: $want"
    fi
    grep -qF -- "$want" "$TMP/neg.err" || { cat "$TMP/neg.err" >&2; fail "helm template $*: the error does not say: $want"; }
}
must_fail "backup.primaryUrl is required" -f "$VALUES" --set backup.primaryUrl=
must_fail "backup.primaryUrl is required"
must_fail "backup.syncToken is required" -f "$VALUES" --set backup.syncToken=
must_fail "database.url is required" -f "$VALUES" --set database.url=
must_fail "redis.url is required" -f "$VALUES" --set redis.url=
must_fail "backup.primaryUrl must be an http:// or https:// URL" -f "$VALUES" --set backup.primaryUrl=seafile.example.test
must_fail 'store.durability must be "syncfs" or "fsync"' -f "$VALUES" --set store.durability=never
must_fail "fetcher.shutdownGrace (30s) must be shorter than fetcher.terminationGracePeriodSeconds (30)" \
    -f "$VALUES" --set fetcher.shutdownGrace=30s
must_fail "metrics.serviceMonitor.enabled needs metrics.enabled" -f "$VALUES" --set metrics.enabled=false \
    --set metrics.serviceMonitor.enabled=true
must_fail "fetcher.autoscaling.enabled needs metrics.enabled" -f "$VALUES" --set metrics.enabled=false \
    --set fetcher.autoscaling.enabled=true
must_fail 'fetcher.autoscaling.kind must be "hpa" or "keda", not "vpa"' -f "$VALUES" \
    --set fetcher.autoscaling.enabled=true --set fetcher.autoscaling.kind=vpa
must_fail "fetcher.autoscaling needs 1 <= minReplicas <= maxReplicas, not 5 and 3" -f "$VALUES" \
    --set fetcher.autoscaling.enabled=true --set fetcher.autoscaling.minReplicas=5 --set fetcher.autoscaling.maxReplicas=3
must_fail "fetcher.autoscaling.kind=keda needs fetcher.autoscaling.prometheusAddress" -f "$VALUES" \
    --set fetcher.autoscaling.enabled=true --set fetcher.autoscaling.kind=keda --set fetcher.autoscaling.prometheusAddress=
must_fail 'tracing.logFormat must be "text" or "json", not "xml"' -f "$VALUES" --set tracing.logFormat=xml
must_fail 'tracing.otlpEndpoint must be an http:// or https:// URL, not "otel:4317"' -f "$VALUES" \
    --set tracing.otlpEndpoint=otel:4317
must_fail "coordinator.tls.enabled needs coordinator.tls.secretName" -f "$VALUES" --set coordinator.tls.enabled=true
must_fail "coordinator.tls.mutual needs coordinator.tls.enabled" -f "$VALUES" --set coordinator.tls.mutual=true
must_fail "coordinator.tls.mutual needs coordinator.tls.clientSecretName" -f "$VALUES" "${TLS[@]}" \
    --set coordinator.tls.mutual=true
must_fail "metrics.port (7070) must differ from coordinator.port and gateway.port" -f "$VALUES" --set metrics.port=7070

echo "helm chart: all checks passed"
