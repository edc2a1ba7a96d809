#!/bin/sh
# The postgres image runs this once, on the first start with an empty data directory (it is
# mounted into /docker-entrypoint-initdb.d/ by docker-compose.yml): deploy/postgres/init.sql
# creates one role and one schema per service in POSTGRES_DB, each role's password from
# <SERVICE>_DB_PASSWORD. Passwords changed later must be changed in PostgreSQL too (ALTER ROLE).
set -eu

for name in AUTH GOVERNANCE AUDIT BILLING REPORTS; do
    eval "value=\${${name}_DB_PASSWORD:-}"
    if [ -z "$value" ]; then
        echo "init.sh: ${name}_DB_PASSWORD is not set" >&2
        exit 1
    fi
done

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -f "${SPECTRAL_INIT_SQL:-/etc/spectral/postgres/init.sql}" \
    -v auth_role=spectral_auth -v auth_password="$AUTH_DB_PASSWORD" \
    -v governance_role=spectral_governance -v governance_password="$GOVERNANCE_DB_PASSWORD" \
    -v audit_role=spectral_audit -v audit_password="$AUDIT_DB_PASSWORD" \
    -v billing_role=spectral_billing -v billing_password="$BILLING_DB_PASSWORD" \
    -v reports_role=spectral_reports -v reports_password="$REPORTS_DB_PASSWORD"
