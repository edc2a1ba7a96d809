"""Spectral governance: the AI-system inventory and the translation engine (issues #6, #7)."""

from functools import partial

from spectral_shared.component import standalone_app

create_app = partial(standalone_app, "governance")
