#!/bin/sh
# docker/k8s/check-manifests.sh [RESULTS]: parse the Kubernetes manifests
# client-side (no cluster) and check the fields the deployment relies on.
#
# Parser: `kubectl label --local -o json` when kubectl is installed (it reads
# each object through kubectl's own decoder, offline), else python3-yaml.
# With RESULTS, the counts are recorded with tests/record as stage
# k8s-manifests.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
results=${1:-}
python=${PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

files="deployment.yaml service.yaml hpa.yaml secure/secrets.yaml"
if command -v kubectl >/dev/null 2>&1 \
    && kubectl label --local -f "$here/service.yaml" -o json parsed-by=kubectl \
       >/dev/null 2>&1; then
  parser=kubectl
  for f in $files; do
    kubectl label --local -f "$here/$f" -o json parsed-by=kubectl > "$tmp/$(basename "${f%.yaml}").json"
  done
else
  parser=python3-yaml
  for f in $files; do
    "$python" -c 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)' \
      "$here/$f" > "$tmp/$(basename "${f%.yaml}").json"
  done
fi
echo "k8s-manifests: parsed $files with $parser"

"$python" - "$tmp" "$root/docker/Dockerfile" "$results" "$root/tests/record" <<'EOF'
import json, os, re, subprocess, sys

tmp, dockerfile, results, record = sys.argv[1:5]
load = lambda name: json.load(open(os.path.join(tmp, name + ".json")))
dep, svc, hpa = load("deployment"), load("service"), load("hpa")
passed = failed = 0


def check(what, ok):
    global passed, failed
    print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    if ok:
        passed += 1
    else:
        failed += 1


def get(obj, *path):
    for key in path:
        if isinstance(obj, dict):
            obj = obj.get(key)
        elif isinstance(obj, list) and isinstance(key, int) and key < len(obj):
            obj = obj[key]
        else:
            return None
    return obj


spec = get(dep, "spec", "template", "spec") or {}
c = get(spec, "containers", 0) or {}
port_names = {p.get("name"): p.get("containerPort") for p in c.get("ports", [])}
env = {e["name"]: e.get("value") for e in c.get("env", [])}
m = re.search(r"^USER\s+(\d+)", open(dockerfile).read(), re.M)
image_uid = int(m.group(1)) if m else None

check("Deployment apps/v1 named xentd",
      dep.get("kind") == "Deployment" and dep.get("apiVersion") == "apps/v1"
      and get(dep, "metadata", "name") == "xentd")
check("replicas: 3", get(dep, "spec", "replicas") == 3)
sel = get(dep, "spec", "selector", "matchLabels") or {}
labels = get(dep, "spec", "template", "metadata", "labels") or {}
check("selector matches the pod labels",
      bool(sel) and all(labels.get(k) == v for k, v in sel.items()))
for kind, path in (("liveness", "/healthz"), ("readiness", "/readyz")):
    probe = c.get(kind + "Probe") or {}
    p = get(probe, "httpGet", "port")
    check(f"{kind} probe GET {path} on the container port",
          get(probe, "httpGet", "path") == path
          and (port_names.get(p) == 8080 if isinstance(p, str) else p == 8080))
check("container port 8080 = XENTD_PORT, XENTD_BIND 0.0.0.0",
      8080 in port_names.values() and env.get("XENTD_PORT") == "8080"
      and env.get("XENTD_BIND") == "0.0.0.0")
for kind in ("requests", "limits"):
    r = get(c, "resources", kind) or {}
    check(f"resources.{kind} cpu and memory", bool(r.get("cpu")) and bool(r.get("memory")))
sc = c.get("securityContext") or {}
psc = spec.get("securityContext") or {}
check("runAsNonRoot", sc.get("runAsNonRoot") is True or psc.get("runAsNonRoot") is True)
uid = sc.get("runAsUser", psc.get("runAsUser"))
check(f"runAsUser {uid} = the image's USER {image_uid}", uid is not None and uid == image_uid)
check("readOnlyRootFilesystem", sc.get("readOnlyRootFilesystem") is True)
check("allowPrivilegeEscalation false", sc.get("allowPrivilegeEscalation") is False)
check("capabilities drop ALL", "ALL" in (get(sc, "capabilities", "drop") or []))

check("Service v1 selects the pods",
      svc.get("kind") == "Service" and bool(get(svc, "spec", "selector"))
      and all(labels.get(k) == v for k, v in get(svc, "spec", "selector").items()))
tp = get(svc, "spec", "ports", 0, "targetPort")
check("Service targetPort reaches 8080",
      (port_names.get(tp) == 8080) if isinstance(tp, str) else tp == 8080)

check("HPA autoscaling/v2 on Deployment xentd",
      hpa.get("kind") == "HorizontalPodAutoscaler"
      and hpa.get("apiVersion") == "autoscaling/v2"
      and get(hpa, "spec", "scaleTargetRef", "kind") == "Deployment"
      and get(hpa, "spec", "scaleTargetRef", "name") == get(dep, "metadata", "name"))
cpu = [mt for mt in get(hpa, "spec", "metrics") or []
       if get(mt, "resource", "name") == "cpu"
       and get(mt, "resource", "target", "type") == "Utilization"]
check("HPA CPU utilization target",
      len(cpu) == 1 and 0 < (get(cpu[0], "resource", "target", "averageUtilization") or 0) <= 100)
lo, hi = get(hpa, "spec", "minReplicas"), get(hpa, "spec", "maxReplicas")
check(f"HPA {lo}..{hi} replicas, min = the Deployment's",
      isinstance(lo, int) and isinstance(hi, int) and lo <= hi
      and lo == get(dep, "spec", "replicas"))

# Shutdown: the drain delay and the requests' timeout fit the grace period.
grace = get(spec, "terminationGracePeriodSeconds")
drain = int(env.get("XENTD_DRAIN_DELAY") or 0)
finish = int(env.get("XENTD_SHUTDOWN_TIMEOUT") or 10)
check(f"XENTD_DRAIN_DELAY {drain} + XENTD_SHUTDOWN_TIMEOUT {finish} < "
      f"terminationGracePeriodSeconds {grace}",
      drain > 0 and isinstance(grace, int) and drain + finish < grace)

# docker/k8s/secure: the Secrets mounted where the options read them.
sec = load("secrets")
sspec = get(sec, "spec", "template", "spec") or {}
sc2 = get(sspec, "containers", 0) or {}
vols = {v.get("name"): get(v, "secret", "secretName")
        for v in sspec.get("volumes", [])}
mounts = {m.get("name"): m.get("mountPath") for m in sc2.get("volumeMounts", [])}
senv = {e["name"]: e.get("value") for e in sc2.get("env", [])}
check("secure: patches Deployment xentd's container xentd",
      sec.get("kind") == "Deployment" and get(sec, "metadata", "name") == "xentd"
      and sc2.get("name") == c.get("name"))
for var, secret in (("XENTD_AUTH_TOKEN_FILE", "xentd-auth"),
                    ("XENTD_TLS_CERT", "xentd-tls"),
                    ("XENTD_TLS_KEY", "xentd-tls")):
    vol = [n for n, s in vols.items() if s == secret]
    path = senv.get(var) or ""
    check(f"secure: {var} is a file of Secret {secret}'s mount",
          len(vol) == 1 and mounts.get(vol[0]) is not None
          and path.startswith(mounts[vol[0]].rstrip("/") + "/"))
check("secure: the Secret files' group is the user's (fsGroup)",
      get(sspec, "securityContext", "fsGroup") == psc.get("runAsGroup", uid))
for kind in ("liveness", "readiness"):
    check(f"secure: {kind} probe over HTTPS",
          get(sc2, kind + "Probe", "httpGet", "scheme") == "HTTPS")

print(f"k8s-manifests: {passed} passed, {failed} failed")
if results:
    subprocess.run([record, results, "k8s-manifests", str(passed), str(failed)], check=True)
sys.exit(1 if failed else 0)
EOF
