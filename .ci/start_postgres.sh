#!/usr/bin/env bash
# Install Debian's PostgreSQL server and start it on 127.0.0.1:5432 with a test database.
set -euo pipefail
if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi
version="$(ls /usr/lib/postgresql | sort -V | tail -1)"
if ! pg_lsclusters -h | grep -q "^${version} main"; then
    pg_createcluster "${version}" main >/dev/null
fi
pg_ctlcluster "${version}" main start || true
for _ in $(seq 1 30); do
    pg_isready -h 127.0.0.1 -p 5432 -q && break
    sleep 1
done
su postgres -c "psql -q -c \"DO \\\$\\\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='automl') THEN CREATE ROLE automl LOGIN PASSWORD 'automl' CREATEDB; END IF; END \\\$\\\$;\""
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='automl_meta'\" | grep -q 1 || createdb -O automl automl_meta"
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_database WHERE datname='automl_service_test'\" | grep -q 1 || createdb -O automl automl_service_test"
