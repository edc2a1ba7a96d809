from spectral_audit.models import Base
from spectral_shared.migrations import run_alembic_env

run_alembic_env(Base.metadata)
