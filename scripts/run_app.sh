#!/usr/bin/env bash
# Install (if needed) and open the explorer on the shipped default checkpoint at http://localhost:8501
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/streamlit run explorer/app.py "$@"
