#!/usr/bin/env bash
# Runs the test suite against TEST_DATABASE_URL / TEST_REDIS_URL when set, else against embedded servers.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
exec python -m pytest "$@"
