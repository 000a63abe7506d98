#!/usr/bin/env bash
# Install everything the tests need (venv, Debian chromium for the browser test) and run the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "warning: could not install chromium; the browser test will fail" >&2
  else
    echo "warning: chromium not found and not root; install Debian's chromium for the browser test" >&2
  fi
fi
exec .venv/bin/python -m pytest "$@"
