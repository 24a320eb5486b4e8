#!/usr/bin/env bash
# Installs dosi and runs the hub on the embedded SQLite store with a sample city,
# at http://127.0.0.1:1026/ngsi-ld/v1 (API docs at http://127.0.0.1:1026/docs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/dosi demo "$@"
