#!/usr/bin/env bash
# Creates .venv (once) and installs contactsync with its development tools at the locked versions; re-installs
# when pyproject.toml or requirements.lock changes.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${CONTACTSYNC_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
stamp="$venv/.contactsync-installed"
want="$(cat "$root/pyproject.toml" "$root/requirements.lock" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # The lock pins what is installed; pyproject.toml says what is allowed (see requirements.lock's header).
  "$venv/bin/python" -m pip install --quiet -c "$root/requirements.lock" -e "$root[dev]"
  echo "$want" > "$stamp"
fi
export PATH="$venv/bin:$PATH"
