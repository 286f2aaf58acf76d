#!/usr/bin/env bash
# Runs the test suite against TEST_DATABASE_URL / TEST_REDIS_URL when set, else against embedded servers.
# Tests run in CONTACTSYNC_TEST_PROCESSES processes (pytest-xdist; default 2): most of the suite's time is spent
# waiting on workers, servers and subprocesses, and every test has its own database and Redis prefix, so they do
# not see each other. A later `-n 0` in the arguments runs them in this process (for a debugger).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"
exec python -m pytest -n "${CONTACTSYNC_TEST_PROCESSES:-2}" --dist worksteal "$@"
