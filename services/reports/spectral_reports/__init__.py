"""Spectral reports: compliance reports, executive summaries and evidence packages."""

from functools import partial

from spectral_shared.component import standalone_app

create_app = partial(standalone_app, "reports")
