#!/usr/bin/env bash
# Checks the deployment files without a Docker engine or a cluster: docker-compose.yml parses (Debian's
# docker-compose 1.29), and the example Kubernetes overlay renders with kustomize and every resource passes
# kubernetes-validate --strict; the KEDA ScaledObject (a CRD, no schema in kubernetes-validate) is skipped by name.
# Installs what is missing quietly: docker-compose from Debian's packages, kubernetes-validate from PyPI.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
apt_install() {
  command -v apt-get >/dev/null || return 1
  { apt-get install -y -qq "$@" || { apt-get update -qq && apt-get install -y -qq "$@"; }; } >/dev/null 2>&1
}
command -v docker-compose >/dev/null || DEBIAN_FRONTEND=noninteractive apt_install docker-compose \
  || { echo "check-deploy: docker-compose is not installable here" >&2; exit 1; }
# kubernetes-validate in a virtualenv of its own, so its dependencies never change the project's locked ones.
tools="${CONTACTSYNC_VENV:-$root/.venv}/deploy-tools"
if [ ! -x "$tools/bin/kubernetes-validate" ]; then
  python3 -m venv "$tools"
  "$tools/bin/python" -m pip install --quiet --disable-pip-version-check kubernetes-validate
fi

echo "docker-compose config"
env -u CONTACTSYNC_SECRET_KEY -u CONTACTSYNC_FLOWER_BASIC_AUTH docker-compose -f docker-compose.yml config -q

if ! command -v kubectl >/dev/null; then
  echo "check-deploy: SKIPPED the Kubernetes check: no kubectl on this machine (Debian's kubernetes-client" \
       "bundles a kustomize too old for these files)" >&2
  exit 0
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
echo "kubectl kustomize deploy/kubernetes/overlays/example | kubernetes-validate --strict"
kubectl kustomize deploy/kubernetes/overlays/example > "$out/all.yaml"
"$tools/bin/python" - "$out/all.yaml" "$out/checked.yaml" <<'PY'
import sys

import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kept = [d for d in docs if d["kind"] != "ScaledObject"]
for d in docs:
    if d["kind"] == "ScaledObject":
        print(f"  skipped by name: {d['apiVersion']} {d['kind']}/{d['metadata']['name']}")
yaml.safe_dump_all(kept, open(sys.argv[2], "w"))
print(f"  {len(kept)} resources to validate")
PY
report="$("$tools/bin/kubernetes-validate" --strict --quiet "$out/checked.yaml" 2>&1)" || { echo "$report"; exit 1; }
if [ -n "$report" ]; then echo "$report"; exit 1; fi  # a warning (an unknown kind) fails the check too
