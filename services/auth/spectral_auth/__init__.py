"""Spectral auth: organizations, users, sign-in and the keys that sign access tokens."""

from functools import partial

from spectral_shared.component import standalone_app

create_app = partial(standalone_app, "auth")
