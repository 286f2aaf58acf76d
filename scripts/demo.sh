#!/usr/bin/env bash
# Runs the demo: a full sync of three demo tenants against the built-in sandbox provider.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
exec contactsync demo "$@"
