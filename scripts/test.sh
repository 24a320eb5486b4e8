#!/usr/bin/env bash
# The full test suite: installs dosi and its test tools, starts the services the
# tests need (PostgreSQL + PostGIS, Mosquitto), and runs every tier. Exits non-zero on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh test
export DOSI_TEST_PG_URL=${DOSI_TEST_PG_URL:-$(bash scripts/services.sh | tail -1)}
export DOSI_REQUIRE_PG=1
export DOSI_REQUIRE_MQTT=1
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
