from spectral_billing.tables import metadata
from spectral_shared.migrations import run_alembic_env

run_alembic_env(metadata)
