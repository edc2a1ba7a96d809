"""Spectral audit: the append-only audit log every event lands in."""

from functools import partial

from spectral_shared.component import standalone_app

create_app = partial(standalone_app, "audit")
