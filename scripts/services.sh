#!/usr/bin/env bash
# Makes sure the services the full test suite needs are installed and running on
# loopback: PostgreSQL with PostGIS, and the Mosquitto MQTT broker on 127.0.0.1:1883.
# Installs them with apt where missing (as root).
# Prints the PostgreSQL URL for the tests on its last line.
set -euo pipefail
need_root() { [ "$(id -u)" = 0 ] || { echo "run as root (or install $1 yourself)" >&2; exit 2; }; }
apt_install() {
  need_root "$*"
  if [ -z "${_APT_UPDATED:-}" ]; then apt-get update -qq; _APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
# --- PostgreSQL + PostGIS ---
if ! command -v pg_lsclusters >/dev/null; then
  apt_install postgresql
fi
PGVER=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
if [ -z "$PGVER" ]; then apt_install postgresql; PGVER=$(ls /etc/postgresql | sort -n | tail -1); fi
if [ ! -f /usr/share/postgresql/$PGVER/extension/postgis.control ]; then
  apt_install "postgresql-$PGVER-postgis-3"
fi
if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" main start
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
PSQL="psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qAt"
if ! $PSQL -d postgres -c 'select 1' >/dev/null 2>&1; then
  # fresh installs use peer auth: let the postgres role in over loopback without a password
  HBA=$(su postgres -c "psql -qAt -c 'show hba_file'")
  sed -i '1i host all postgres 127.0.0.1/32 trust' "$HBA"
  su postgres -c "psql -qAt -c 'select pg_reload_conf()'" >/dev/null
fi
if [ "$($PSQL -d postgres -c "select 1 from pg_database where datname='dosi_test'")" != 1 ]; then
  $PSQL -d postgres -c 'create database dosi_test'
fi
$PSQL -d dosi_test -c 'create extension if not exists postgis' >/dev/null
# --- Mosquitto (MQTT notifications) ---
mqtt_up() { (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; }
if ! mqtt_up; then
  command -v mosquitto >/dev/null || apt_install mosquitto
  MQCONF=/tmp/dosi-mosquitto.conf
  # persistent sessions (dosi's MQTT adapter) keep every queued message while the hub is away
  printf 'listener 1883 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n' > $MQCONF
  mosquitto -d -c $MQCONF
  for _ in $(seq 1 30); do mqtt_up && break; sleep 0.2; done
  mqtt_up || { echo "mosquitto did not start on 127.0.0.1:1883" >&2; exit 2; }
fi
echo "postgresql://postgres@127.0.0.1:5432/dosi_test"
