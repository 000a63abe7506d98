#!/usr/bin/env bash
# Create .venv and install requirements.txt (idempotent: skips pip when requirements are unchanged).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.requirements.sha
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --disable-pip-version-check -q -r requirements.txt
  echo "$want" > "$stamp"
fi
