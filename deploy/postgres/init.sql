-- One role and one schema per service (ADR 0003): each service owns its schema and nothing else,
-- so a leaked service credential reads one service's tables, not the platform's.
--
-- Run once, as a superuser, on the (empty) Spectral database:
--
--   psql -v ON_ERROR_STOP=1 -d spectral_prod -f deploy/postgres/init.sql \
--     -v auth_role=spectral_auth -v auth_password=... \
--     -v governance_role=spectral_governance -v governance_password=... \
--     -v audit_role=spectral_audit -v audit_password=... \
--     -v billing_role=spectral_billing -v billing_password=... \
--     -v reports_role=spectral_reports -v reports_password=...
--
-- (docker-compose runs it through deploy/postgres/init.sh, which passes these variables from its
-- environment, on the first start of an empty data volume.) Then point
-- each service at the database as its role: AUTH_DATABASE_URL=postgresql://spectral_auth:...@host/
-- spectral_prod, and so on; `spectral db upgrade` creates the tables in each schema.

\set ON_ERROR_STOP on

-- Nobody but the owner uses the public schema or connects unless granted.
REVOKE ALL ON SCHEMA public FROM PUBLIC;
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database()) \gexec

CREATE ROLE :"auth_role" LOGIN PASSWORD :'auth_password';
CREATE ROLE :"governance_role" LOGIN PASSWORD :'governance_password';
CREATE ROLE :"audit_role" LOGIN PASSWORD :'audit_password';
CREATE ROLE :"billing_role" LOGIN PASSWORD :'billing_password';
CREATE ROLE :"reports_role" LOGIN PASSWORD :'reports_password';

CREATE SCHEMA auth AUTHORIZATION :"auth_role";
CREATE SCHEMA governance AUTHORIZATION :"governance_role";
CREATE SCHEMA audit AUTHORIZATION :"audit_role";
CREATE SCHEMA billing AUTHORIZATION :"billing_role";
CREATE SCHEMA reports AUTHORIZATION :"reports_role";

-- CONNECT to the database, and CREATE on it for `spectral db upgrade` (its CREATE SCHEMA IF NOT
-- EXISTS is checked against it even when the schema exists).
SELECT format('GRANT CONNECT, CREATE ON DATABASE %I TO %I', current_database(), role)
FROM unnest(ARRAY[:'auth_role', :'governance_role', :'audit_role', :'billing_role',
                  :'reports_role']) AS role \gexec
