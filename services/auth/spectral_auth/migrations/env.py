from spectral_auth.models import Base
from spectral_shared.migrations import run_alembic_env

run_alembic_env(Base.metadata)
